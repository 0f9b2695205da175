"""Dataset tables drawn without rich: rich's default box, terminal cells, narrowing and wrap."""

from __future__ import annotations

import subprocess
import sys

from amlses.tables import cell_width, render_table


def test_the_box_of_a_table_with_a_title() -> None:
    text = render_table(
        "IDList: 2 rows",
        ["Identity", "Type"],
        [["alice@example.com", "EmailAddress"], ["example.com", "Domain"]],
    )
    assert text.splitlines() == [
        "IDList: 2 rows",
        "┏━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓",
        "┃ Identity          ┃ Type         ┃",
        "┡━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩",
        "│ alice@example.com │ EmailAddress │",
        "│ example.com       │ Domain       │",
        "└───────────────────┴──────────────┘",
    ]


def test_no_rows_and_no_columns() -> None:
    assert render_table("d: 0 rows", ["a"], []).splitlines() == [
        "d: 0 rows",
        "┏━━━┓",
        "┃ a ┃",
        "┡━━━┩",
        "└───┘",
    ]
    assert render_table("d: 0 rows", [], [["x"]]) == "d: 0 rows\n"


def test_short_and_long_rows_fit_the_columns() -> None:
    lines = render_table("t", ["a", "b"], [["1"], ["1", "2", "3"]]).splitlines()
    assert lines[4:6] == ["│ 1 │   │", "│ 1 │ 2 │"]


def test_wide_characters_take_two_cells_and_marks_none() -> None:
    assert cell_width("日本") == 4
    assert cell_width("e\u0301") == 1
    lines = render_table("t", ["名前"], [["ab"]]).splitlines()
    assert lines[2] == "┃ 名前 ┃" and lines[4] == "│ ab   │"


def test_a_cell_of_several_lines_and_tabs() -> None:
    lines = render_table("t", ["a", "b"], [["one\ntwo", "x\ty"]]).splitlines()
    assert lines[4:6] == ["│ one │ x       y │", "│ two │           │"]


def test_a_wide_table_is_narrowed_and_wrapped_without_losing_text() -> None:
    long_word, words = "x" * 150, " ".join(["word"] * 40)
    text = render_table("t", ["a", "b", "c"], [[long_word, words, "short"]], width=80)
    lines = text.splitlines()
    assert {len(line) for line in lines[1:]} == {80}
    cells = [line.split("│")[1:4] for line in lines[4:-1]]
    assert "".join(cell[0].strip() for cell in cells) == long_word
    assert " ".join(cell[1].strip() for cell in cells).split() == words.split()
    assert cells[0][2].strip() == "short"  # the narrow column keeps its width


def test_a_column_is_never_narrower_than_one_cell() -> None:
    lines = render_table("t", ["ab", "cd"], [["abc", "def"]], width=4).splitlines()
    assert lines[2:4] == ["┃ a ┃ c ┃", "┃ b ┃ d ┃"]  # the header wraps too
    assert lines[5:8] == ["│ a │ d │", "│ b │ e │", "│ c │ f │"]


def test_markup_like_text_is_shown_as_it_is() -> None:
    """rich read "[b]" as markup (and "[/x]" failed the run); a dataset is data."""
    lines = render_table("t", ["v"], [["[/x] [b]bold[/b]"]]).splitlines()
    assert lines[4] == "│ [/x] [b]bold[/b] │"


def test_drawing_a_table_imports_no_rich() -> None:
    code = (
        "import sys; from amlses.output import HumanReporter; from amlses.redact import Redactor\n"
        "from amlses.runtime.datasets import Dataset\n"
        "h = HumanReporter(sys.stdout, sys.stderr, Redactor())\n"
        "h._table(Dataset('d', ('a',), [('x',)]))\n"
        "print('rich' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "False"
    assert "│ x │" in done.stdout

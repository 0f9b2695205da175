"""Human output: step lines, dataset tables, loop progress, redaction on the way out."""

from __future__ import annotations

import io
import json
from pathlib import Path

from amlses.actions import grammar
from amlses.lang import parser as lang_parser
from amlses.lang.nodes import Task
from amlses.output import HumanReporter
from amlses.redact import Redactor
from amlses.runtime.datasets import Dataset
from clitools import invoke


def parse(text: str, name: str = "<task>") -> Task:
    """The parser with the registry's block grammar, as the loader calls it."""
    return lang_parser.parse(text, name, grammar=grammar())


TASK = parse(
    '<AMLOOP ACTIVITY="dataset" DATASET="d">\n'
    '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="%d.Identity%" SECRETKEY="s3cr3t-value" />\n'
    "</AMLOOP>",
    "t.aml",
)
LOOP, STEP = TASK.body[0], TASK.body[0].body[0]  # type: ignore[attr-defined]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reporter(**kwargs: object) -> tuple[HumanReporter, io.StringIO, io.StringIO, FakeClock]:
    out, err, clock = io.StringIO(), io.StringIO(), FakeClock()
    redactor = Redactor()
    redactor.add("s3cr3t-value")
    return HumanReporter(out, err, redactor, clock=clock, **kwargs), out, err, clock  # type: ignore[arg-type]


def test_step_line_then_its_tables_with_secrets_masked() -> None:
    human, out, _, _ = reporter()
    human.dataset(STEP, Dataset("d", ("Identity", "Note"), [("a@example.com", "s3cr3t-value")]))
    human.step(STEP, "verification started for a@example.com", 0.012)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "    2  AMAWSSES verify_identity       verification started for a@example.com  (12 ms)"
    )
    assert lines[1].startswith("d: 1 row")
    assert "s3cr3t-value" not in out.getvalue() and "****" in out.getvalue()


def test_long_tables_are_cut() -> None:
    human, out, _, _ = reporter()
    human.dataset(STEP, Dataset("d", ("n",), [(i,) for i in range(60)]))
    human.step(STEP, "ok", 0.0)
    assert "10 more rows not shown" in out.getvalue()


def test_progress_appears_only_after_a_second_and_once_a_second() -> None:
    human, _, err, clock = reporter()
    for done in range(1, 201):
        clock.now = done * 0.02  # 50 passes a second: 4 s in all
        human.progress(LOOP, done, 200)  # type: ignore[arg-type]
    lines = err.getvalue().splitlines()
    assert lines[0] == "    1  AMLOOP dataset: pass 51 of 200 (1 s)"
    assert len(lines) == 3


def test_quiet_prints_no_steps_but_still_warnings() -> None:
    human, out, err, _ = reporter(quiet=True)
    human.step(STEP, "ok", 0.0)
    human.message("careful with s3cr3t-value", "warning")
    assert out.getvalue() == ""
    assert err.getvalue() == "warning: careful with ****\n"


class TestRecordingReporter:
    def test_keeps_the_last_steps_and_counts_them_all(self) -> None:
        """``--json``'s history is bounded: a long loop must not grow the run's memory."""
        from amlses.output import RecordingReporter

        human, out, _, _ = reporter(quiet=True)
        recorder = RecordingReporter(human, limit=3)
        for number in range(10):
            recorder.step(STEP, f"pass {number}", 0.001)
        assert recorder.count == 10
        assert [s["outcome"] for s in recorder.steps] == ["pass 7", "pass 8", "pass 9"]
        assert out.getvalue() == ""

    def test_json_says_how_many_steps_ran_beyond_those_it_lists(self, tmp_path: Path) -> None:
        task = tmp_path / "loop.aml"
        task.write_text(
            '<AMLOOP FROM="1" TO="1500" RESULTVARIABLE="i"><AMVARIABLE NAME="x" /></AMLOOP>'
        )
        result = invoke("run", str(task), "--json")
        document = json.loads(result.stdout)
        assert (document["step_count"], len(document["steps"])) == (1501, 1000)
        assert document["steps"][-1]["step"] == "AMVARIABLE"


class TestTerminalSafety:
    def test_control_characters_from_a_task_never_reach_the_terminal(self, tmp_path: Path) -> None:
        """An ESC sequence built in an expression shows as text in messages and step lines."""
        task = tmp_path / "t.aml"
        task.write_text(
            '<AMVARIABLE NAME="x" VALUE="%Chr(27) &amp; &quot;[2J&quot; &amp; Chr(13)%" />\n'
            "<AMSHOWDIALOG>clear%x%me</AMSHOWDIALOG>\n"
        )
        result = invoke("run", str(task))
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\r" not in result.output
        assert "clear\\x1b[2J\\x0dme" in result.stdout
        assert "x = \\x1b[2J\\x0d" in result.stdout

"""How errors render: one paragraph, the source line masked and cut to a readable width."""

from __future__ import annotations

from amlses.errors import ECHO_WIDTH, Problem, StepError, echo_line
from amlses.source import Position


class TestEchoLine:
    def test_a_short_line_is_shown_whole_and_trimmed(self) -> None:
        assert echo_line('   <AMIF EXPRESSION="1=1">  ', 4) == '<AMIF EXPRESSION="1=1">'

    def test_a_long_line_is_cut_around_the_column_with_ellipses(self) -> None:
        line = "<AMX " + " ".join(f'A{i}="{i:04}"' for i in range(60)) + " BAD=1 />"
        column = line.index("BAD") + 1
        shown = echo_line(line, column)
        assert len(shown) == ECHO_WIDTH
        assert shown.startswith("…") and "BAD=1" in shown
        assert shown.endswith("/>")

    def test_the_start_of_a_long_line_keeps_its_beginning(self) -> None:
        line = "<AMBAD " + "X" * 300
        shown = echo_line(line, 2)
        assert shown.startswith("<AMBAD ") and shown.endswith("…")
        assert len(shown) == ECHO_WIDTH

    def test_a_secret_is_masked_before_the_line_is_cut(self) -> None:
        """A cut through SECRETKEY="…" must not leave part of the secret unmasked."""
        secret = "S3cret/Value+" + "z" * 200
        line = f'<AMAWSSES ACTIVITY="list_identities" SECRETKEY="{secret}" BAD="1" />'
        for column in range(1, len(line), 17):
            shown = echo_line(line, column)
            assert "S3cret" not in shown and "zzzz" not in shown


class TestRender:
    def test_an_error_and_a_problem_cut_their_source_line_alike(self) -> None:
        line = "<AMBAD " + "Y" * 300 + ' SECRETKEY="hidden-secret" />'
        where = Position("t.aml", 3, 10)
        error = StepError("boom", position=where, source_line=line)
        problem = Problem("boom", where, source_line=line)
        assert error.render().splitlines()[1] == problem.render().splitlines()[1]
        assert error.render().splitlines()[1] == "    " + echo_line(line, 10)
        assert "hidden-secret" not in error.render()

"""Structure: ``check`` reports every problem even past a structural error, elements with
children read as one step, other Automate actions are named, and the legacy loop and If forms.

Every test goes through ``amlses check`` or ``amlses run`` and asserts whole messages with
their ``file:line:column``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clitools import invoke, seed_identities, write_task

PROBLEM = re.compile(r"(amlses: )?\S+\.aml:\d+:\d+: ")
NOWHERE = "http://127.0.0.1:9"


def problems(result: Result, tmp_path: Path) -> list[str]:
    """The problem lines ``amlses check``/``run`` printed, with the folder shortened away."""
    lines = result.stderr.replace(f"{tmp_path}/", "").splitlines()
    return [line.removeprefix("amlses: ") for line in lines if PROBLEM.match(line)]


def check(tmp_path: Path, text: str) -> Result:
    return invoke("check", str(write_task(tmp_path, text)))


def run(tmp_path: Path, text: str, *args: str) -> Result:
    return invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", NOWHERE, *args)


UNDEFINED = (
    '"undefinedvar" is read here but no earlier step creates it: a variable in the '
    "expression does not exist or is misspelled"
)


class TestEveryProblemAtOnce:
    def test_a_stray_end_hides_nothing(self, tmp_path: Path) -> None:
        text = (
            '<AMFOO X="1" />\n'
            '<AMSHOWDIALOG MESSAGE="%undefinedvar%" />\n'
            "</AMLOOP>\n"
            '<AMWAIT SCALAR="x" />\n'
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: unknown element <AMFOO> (did you mean <AMLOOP>?)",
            f"task.aml:2:25: error: <AMSHOWDIALOG>: {UNDEFINED}",
            "task.aml:3:1: error: </AMLOOP> closes nothing; no block is open",
            'task.aml:4:17: error: <AMWAIT>: SCALAR must be a whole number, not "x"',
        ]
        assert result.stderr.endswith("task.aml: 4 error(s)\n")

    def test_run_refuses_with_all_of_them(self, tmp_path: Path) -> None:
        result = run(tmp_path, '<AMSHOWDIALOG MESSAGE="%undefinedvar%" />\n</AMIF>\n')
        assert result.exit_code == 2
        assert result.stdout == ""
        assert problems(result, tmp_path) == [
            f"task.aml:1:25: error: <AMSHOWDIALOG>: {UNDEFINED}",
            "task.aml:2:1: error: </AMIF> closes nothing; no block is open",
        ]

    def test_problems_inside_an_unclosed_block_are_reported(self, tmp_path: Path) -> None:
        text = '<AMLOOP TOTALLOOPS="2">\n<AMSHOWDIALOG MESSAGE="%undefinedvar%" />\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMLOOP>: <AMLOOP> at line 1 is never closed: expected "
            '</AMLOOP> or <AMLOOP ACTIVITY="end" /> before the end of the file',
            f"task.aml:2:25: error: <AMSHOWDIALOG>: {UNDEFINED}",
        ]

    def test_a_mismatched_end_and_a_bad_option_inside(self, tmp_path: Path) -> None:
        text = (
            '<AMLOOP TOTALLOOPS="2">\n'
            '<AMIF EXPRESSION="1=1">\n'
            '<AMLOOP ACTIVITY="list" LIST="a" RESULTVARIABLE="v" SORT="sideways">\n'
            "</AMLOOP>\n"
            "</AMLOOP>\n"
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            'task.aml:3:59: error: <AMLOOP ACTIVITY="list">: SORT="sideways" is not one of '
            '"none", "ascending", "descending"',
            "task.aml:5:1: error: </AMLOOP> found while <AMIF> at line 2 is still open: "
            'expected </AMIF> or <AMIF ACTIVITY="end" /> first',
        ]


class TestElementsWithChildren:
    def test_an_unknown_action_with_children_is_one_step(self, tmp_path: Path) -> None:
        text = (
            '<AMAWSDYNAMODB ACTIVITY="put_item" TABLENAME="t">\n'
            '  <ITEM NAME="id" VALUE="1">\n'
            '  <ITEM NAME="at" VALUE="2">\n'
            "</AMAWSDYNAMODB>\n"
            '<AMSHOWDIALOG MESSAGE="%undefinedvar%" />\n'
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMAWSDYNAMODB> is Automate's Amazon DynamoDB action, which "
            "is not part of amlses (amlses runs the SES action)",
            f"task.aml:5:25: error: <AMSHOWDIALOG>: {UNDEFINED}",
        ]

    def test_children_closed_inside_a_block(self, tmp_path: Path) -> None:
        text = '<AMLOOP TOTALLOOPS="1">\n<AMFOO>\n  <AMBAR />\n</AMFOO>\n</AMLOOP>\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:2:1: error: unknown element <AMFOO> (did you mean <AMLOOP>?)",
        ]

    def test_an_end_tag_across_an_open_block(self, tmp_path: Path) -> None:
        text = '<AMFOO>\n<AMIF EXPRESSION="1=1">\n</AMFOO>\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: unknown element <AMFOO> (did you mean <AMLOOP>?)",
            "task.aml:3:1: error: </AMFOO> found while <AMIF> at line 2 is still open: "
            'expected </AMIF> or <AMIF ACTIVITY="end" /> first',
        ]

    def test_a_known_step_that_is_no_block_may_not_hold_steps(self, tmp_path: Path) -> None:
        text = '<AMSHOWDIALOG MESSAGE="a">\n  <AMWAIT SCALAR="1" />\n</AMSHOWDIALOG>\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMSHOWDIALOG>: <AMSHOWDIALOG> holds <AMWAIT> at line 2, but "
            "it is not a block: write it as <AMSHOWDIALOG … /> and move the steps after it",
        ]

    def test_text_bodies_stay_text_bodies(self, tmp_path: Path) -> None:
        text = (
            '<AMVARIABLE NAME="x">one</AMVARIABLE>\n'
            '<AMSET VARIABLENAME="x">two\n</AMSET>\n'
            "<AMSHOWDIALOG>%x%</AMSHOWDIALOG>\n"
        )
        result = run(tmp_path, text, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "two\n"


class TestOtherAutomateActions:
    @pytest.mark.parametrize(
        ("element", "what"),
        [
            ("AMAWSS3", "Amazon S3 action"),
            ("AMAWSSQS", "Amazon SQS action"),
            ("AMAWSSNS", "Amazon SNS action"),
            ("AMAWSEC2", "Amazon EC2 action"),
            ("AMAWSDYNAMODB", "Amazon DynamoDB action"),
            ("AMAWSKINESIS", "AWS KINESIS action"),
            ("AMFTP", "FTP action"),
            ("AMFTPLOGIN", "FTP - Log on action"),
            ("AMDATABASE", "Database action"),
            ("AMSQLQUERY", "SQL Query action"),
        ],
    )
    def test_is_named_not_offered_as_a_typo(self, tmp_path: Path, element: str, what: str) -> None:
        result = check(tmp_path, f'<{element.lower()} ACTIVITY="x" />\n')
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            f"task.aml:1:1: error: <{element}> is Automate's {what}, which is not part of "
            "amlses (amlses runs the SES action)",
        ]

    @pytest.mark.parametrize("element", ["AMAWSSESS", "AMAWSSE"])
    def test_a_misspelt_ses_element_still_gets_did_you_mean(
        self, tmp_path: Path, element: str
    ) -> None:
        result = check(tmp_path, f'<{element} ACTIVITY="list_identities" />\n')
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            f"task.aml:1:1: error: unknown element <{element}> (did you mean <AMAWSSES>?)",
        ]


class TestLegacyLoops:
    COUNTER = (
        '<AMVARIABLE NAME="mycounter">1</AMVARIABLE>\n'
        '<AMLOOPEXPRESSION EXPRESSION="mycounter=5" CONDITION="until">\n'
        '<AMINCREMENTVARIABLE RESULTVARIABLE="mycounter">\n'
        "{end}\n"
        '<AMSHOWDIALOG MESSAGE="counter %mycounter%" />\n'
    )

    @pytest.mark.parametrize(
        "end", ["</AMLOOP>", "</AMLOOPEXPRESSION>", '<AMLOOP ACTIVITY="end" />']
    )
    def test_the_loop_expression_sample_of_automate_7(self, tmp_path: Path, end: str) -> None:
        result = run(tmp_path, self.COUNTER.format(end=end), "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "counter 5\n"

    def test_its_step_line_names_the_legacy_element(self, tmp_path: Path) -> None:
        result = run(tmp_path, self.COUNTER.format(end="</AMLOOP>"))
        assert result.exit_code == 0, result.output
        assert "    2  AMLOOPEXPRESSION               until mycounter=5\n" in result.stdout

    def test_break_leaves_a_legacy_loop(self, tmp_path: Path) -> None:
        text = (
            '<AMLOOPEXPRESSION EXPRESSION="1=1">\n'
            '<AMSHOWDIALOG MESSAGE="once" />\n'
            "<AMBREAK />\n"
            "</AMLOOP>\n"
        )
        result = run(tmp_path, text, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "once\n"

    def test_a_legacy_loop_left_open_names_its_end(self, tmp_path: Path) -> None:
        result = check(tmp_path, '<AMLOOPEXPRESSION EXPRESSION="1=1">\n<AMBREAK />\n')
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMLOOPEXPRESSION>: <AMLOOPEXPRESSION> at line 1 is never "
            'closed: expected </AMLOOP> or <AMLOOP ACTIVITY="end" /> before the end of the file',
        ]

    def test_legacy_loops_are_checked_like_modern_ones(self, tmp_path: Path) -> None:
        text = (
            '<AMLOOPEXPRESSION CONDITION="sometimes">\n</AMLOOP>\n'
            '<AMLOOPDATASET DATASET="nothing" SORT="up">\n</AMLOOP>\n'
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMLOOPEXPRESSION>: the required attribute EXPRESSION is missing",
            'task.aml:1:30: error: <AMLOOPEXPRESSION>: CONDITION="sometimes" is not one of '
            '"while", "until"',
            'task.aml:3:40: error: <AMLOOPDATASET>: SORT="up" is not one of "unsorted", '
            '"ascending", "descending"',
        ]

    def test_loop_dataset_walks_the_rows(
        self, tmp_path: Path, endpoint: str, ses_client: Any, aws_credentials: Any
    ) -> None:
        seed_identities(ses_client, "b@example.com", "a@example.com")
        text = (
            '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="ids" />\n'
            '<AMLOOPDATASET DATASET="ids" SORT="ascending" SORTEDCOLUMN="Identity">\n'
            '<AMSHOWDIALOG MESSAGE="%ids.CurrentRow%: %ids.Identity%" />\n'
            "</AMLOOP>\n"
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-2:] == ["2: a@example.com", "1: b@example.com"]


class TestLoopArray:
    @pytest.mark.parametrize(
        ("selector", "label"),
        [('TYPE="ARRAY"', "<AMLOOP>"), ('ACTIVITY="array"', '<AMLOOP ACTIVITY="array">')],
    )
    def test_is_refused_by_name(self, tmp_path: Path, selector: str, label: str) -> None:
        text = f'<AMLOOP {selector} ARRAY="a" RESULTVARIABLE="v">\n</AMLOOP>\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            f"task.aml:1:1: error: {label} walks an array variable (amlses has no array "
            "variables) and is not supported by amlses",
        ]


class TestLegacyIfLastStep:
    TASK = (
        '<AMTASK TASKFILE="{child}" AM_ONERROR="CONTINUE" />\n'
        '<AMIF LASTSTEP="{test}" RESULTCODE="StepError">\n'
        '<AMSHOWDIALOG MESSAGE="yes" />\n'
        "<AMELSE />\n"
        '<AMSHOWDIALOG MESSAGE="no" />\n'
        "</AMIF>\n"
    )

    @pytest.mark.parametrize(
        ("child", "test", "expected"),
        [
            ("nowhere.aml", "failed", "yes"),
            ("nowhere.aml", "failedwithcode", "yes"),
            ("nowhere.aml", "succeeded", "no"),
            ("child.aml", "succeeded", "yes"),
            ("child.aml", "failed", "no"),
        ],
    )
    def test_without_activity_it_is_if_last_step(
        self, tmp_path: Path, child: str, test: str, expected: str
    ) -> None:
        write_task(tmp_path, '<AMVARIABLE NAME="c" VALUE="1" />\n', "child.aml")
        result = run(tmp_path, self.TASK.format(child=child, test=test), "-q", "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)  # the dialog's text is in it, not before it
        assert [message["text"] for message in document["messages"]] == [expected]
        branch = [(s["line"], s["outcome"]) for s in document["steps"] if s["step"] == "AMIF"]
        assert branch == [(2, "true" if expected == "yes" else "false")]

    def test_it_is_checked_as_if_last_step(self, tmp_path: Path) -> None:
        result = check(tmp_path, '<AMIF LASTSTEP="failedwithcode" RESULTCODE="">\n</AMIF>\n')
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            'task.aml:1:17: error: <AMIF>: LASTSTEP="failedwithcode" needs RESULTCODE: the '
            'error codes to match, e.g. RESULTCODE="MessageRejected,Throttling"',
        ]

    def test_an_explicit_activity_wins(self, tmp_path: Path) -> None:
        """Only a step with no ACTIVITY at all is the legacy form: ACTIVITY="" is If -
        Condition, which takes no LASTSTEP."""
        result = check(tmp_path, '<AMIF ACTIVITY="" LASTSTEP="failed">\n</AMIF>\n')
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            'task.aml:1:1: error: <AMIF ACTIVITY="">: the required attribute EXPRESSION is missing',
            'task.aml:1:19: error: <AMIF ACTIVITY="">: unknown attribute LASTSTEP for '
            '<AMIF ACTIVITY="">',
        ]

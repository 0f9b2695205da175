"""Loops, ifs, goto, stop, subtasks, waits and messages as a user runs them.

Tasks print what they want to show with ``<AMSHOWDIALOG>``, so assertions are on exact lines.
Where the language is the point, tasks run through :func:`amlses.api.run_file` on the
in-process fake SES (``tests/fakeses.py``; ``fake.fail`` makes a step fail on cue) and the
lines are the reporter's ``info`` messages.  Where the CLI is the point (step lines, exit codes,
which stream a message goes to), tasks run through ``amlses run -q`` against moto, SES effects
checked with a plain boto3 client; the shipped examples run against the local emulator
(``--local --fixture``), and those that change the account also against the test's moto
server, seeded the same way, whose state a plain client reads afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from amlses import api
from amlses.runtime import RunOptions
from clitools import invoke, seed_identities, write_task
from fakeses import FakeSes, run_fake

EXAMPLES = Path(__file__).parent.parent / "examples"
FIXTURE = EXAMPLES / "identities.json"
OWN_EXAMPLES = [
    "cleanup-foreign-identities.aml",
    "verify-addresses.aml",
    "quota-report.aml",
    "verify-with-retries.aml",
    "domain-report.aml",
]


def run_task(tmp_path: Path, endpoint: str, text: str, *args: str) -> Result:
    """Run ``text`` as ``task.aml`` with ``amlses run -q`` against ``endpoint``."""
    return invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q", *args)


def shown(result: Result) -> list[str]:
    return result.stdout.splitlines()


def errors(result: Result, tmp_path: Path) -> list[str]:
    """stderr lines, with the temporary directory shortened away."""
    return result.stderr.replace(f"{tmp_path}/", "").splitlines()


def identities(ses_client: Any) -> list[str]:
    return sorted(ses_client.list_identities()["Identities"])


class TestCounterLoop:
    @pytest.mark.parametrize(
        ("attributes", "expected"),
        [
            ('FROM="1" TO="3"', [1, 2, 3]),
            ('FROM="1" TO="10" STEP="4"', [1, 5, 9]),
            ('FROM="3" TO="1" STEP="-1"', [3, 2, 1]),
            ('FROM="10" TO="1" STEP="-4"', [10, 6, 2]),
            ('FROM="5" TO="1"', []),
            ('FROM="%2 - 4%" TO="0"', [-2, -1, 0]),
            ('TOTALLOOPS="3"', [1, 2, 3]),
            ('TOTALLOOPS="9" FROM="2" TO="3"', [2, 3]),
            ("", [1]),
        ],
    )
    def test_indices(self, tmp_path: Path, attributes: str, expected: list[int]) -> None:
        run = run_fake(
            f'<AMLOOP {attributes} RESULTVARIABLE="i">\n<AMSHOWDIALOG MESSAGE="i=%i%" />\n'
            '</AMLOOP>\n<AMSHOWDIALOG MESSAGE="after" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == [f"i={i}" for i in expected] + ["after"]

    def test_flat_form_and_step_line(self, tmp_path: Path, endpoint: str) -> None:
        path = write_task(
            tmp_path,
            '<AMLOOP FROM="2" TO="1" STEP="-1" RESULTVARIABLE="i" />\n'
            '<AMSHOWDIALOG MESSAGE="%i%" />\n<AMLOOP ACTIVITY="end" />\n',
        )
        result = invoke("run", str(path), "--endpoint-url", endpoint)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == f"{1:>5}  {'AMLOOP':<30} 2 to 1 step -1: 2 passes"

    def test_step_zero_is_an_error(self, tmp_path: Path) -> None:
        run = run_fake('<AMLOOP FROM="1" TO="3" STEP="0"></AMLOOP>\n', tmp_path)
        assert run.failure(exit_code=1)[0] == (
            "task.aml:1: <AMLOOP>: STEP must not be 0: the index would never reach TO"
        )

    @pytest.mark.parametrize("brk", ["<AMBREAK />", '<AMLOOP ACTIVITY="break" />'])
    def test_break_leaves_only_the_innermost_loop(self, tmp_path: Path, brk: str) -> None:
        run = run_fake(
            '<AMLOOP TOTALLOOPS="2" RESULTVARIABLE="outer">\n'
            '  <AMLOOP FROM="1" TO="10" RESULTVARIABLE="i">\n'
            '    <AMSHOWDIALOG MESSAGE="%outer%.%i%" />\n'
            f'    <AMIF EXPRESSION="%i% = 2">{brk}</AMIF>\n'
            "  </AMLOOP>\n"
            "</AMLOOP>\n",
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["1.1", "1.2", "2.1", "2.2"]


class TestListLoop:
    @pytest.mark.parametrize(
        ("delimiter", "items"),
        [
            ('DELIMITER="comma"', "a,b,c"),
            ("", "a, b ,c,"),
            ('DELIMITER="semi-colon"', "a;b;;c"),
            ('DELIMITER="space"', "a b  c"),
            ('DELIMITER="tab"', "a&#9;b&#9;c"),
            ('DELIMITER="new_line"', "a&#10;b&#13;&#10;c&#10;"),
            ('DELIMITER="|"', "a|b|c"),
            ('DELIMITER="NEW_LINE"', "a&#10;b&#10;c"),
        ],
    )
    def test_delimiters(self, tmp_path: Path, delimiter: str, items: str) -> None:
        run = run_fake(
            f'<AMLOOP ACTIVITY="list" LIST="{items}" {delimiter} RESULTVARIABLE="item">\n'
            '<AMSHOWDIALOG MESSAGE="[%item%]" />\n</AMLOOP>\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["[a]", "[b]", "[c]"]

    def test_sort_and_empty_list(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="none" />\n'
            '<AMLOOP ACTIVITY="list" LIST="b,C,a" SORT="descending" RESULTVARIABLE="x">\n'
            '<AMSHOWDIALOG MESSAGE="%x%" />\n</AMLOOP>\n'
            '<AMLOOP ACTIVITY="list" LIST="%none%" RESULTVARIABLE="x">\n'
            '<AMSHOWDIALOG MESSAGE="never" />\n</AMLOOP>\n',
            tmp_path,
        )
        assert run.shown == ["C", "b", "a"]

    def test_verifies_each_address_given_with_var(
        self, tmp_path: Path, endpoint: str, ses_client: Any, aws_credentials: Any
    ) -> None:
        result = run_task(
            tmp_path,
            endpoint,
            '<AMVARIABLE NAME="addresses" ISPARAMETER="YES" />\n'
            '<AMLOOP ACTIVITY="list" LIST="%addresses%" RESULTVARIABLE="address">\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="%address%" />\n</AMLOOP>\n',
            "--var",
            "addresses=b@example.com, a@example.com",
        )
        assert result.exit_code == 0, result.output
        assert identities(ses_client) == ["a@example.com", "b@example.com"]


class TestExpressionLoop:
    @pytest.mark.parametrize(
        "loop",
        [
            '<AMLOOP ACTIVITY="expression" EXPRESSION="n &lt; 3">',
            '<AMLOOP ACTIVITY="expression" EXPRESSION="n = 3" CONDITION="until">',
            '<AMLOOP TYPE="EXPRESSION" EXPRESSION="%n% &lt;&gt; 3" CONDITION="WHILE">',
            '<AMLOOP ACTIVITY="expression" EXPRESSION="n &gt;= 3 Or n = -1" CONDITION="until">',
        ],
    )
    def test_while_and_until(self, tmp_path: Path, loop: str) -> None:
        run = run_fake(
            f'<AMVARIABLE NAME="n" VALUE="0" />\n{loop}\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="n" />\n<AMSHOWDIALOG MESSAGE="%n%" />\n'
            "</AMLOOP>\n",
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["1", "2", "3"]

    def test_until_already_true_runs_no_pass(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMLOOP ACTIVITY="expression" EXPRESSION="1 = 1" CONDITION="until">\n'
            '<AMSHOWDIALOG MESSAGE="never" />\n</AMLOOP>\n<AMSHOWDIALOG MESSAGE="after" />\n',
            tmp_path,
        )
        assert run.shown == ["after"]

    def test_unknown_variable_is_found_by_check(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMVARIABLE NAME="count" VALUE="0" />\n'
            '<AMLOOP ACTIVITY="expression" EXPRESSION="cont &lt; 3"></AMLOOP>\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert errors(result, tmp_path)[0] == (
            'task.aml:2:43: error: <AMLOOP ACTIVITY="expression">: "cont" is read here but no '
            "earlier step creates it: a variable in the expression does not exist or is "
            "misspelled"
        )


class TestGuard:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '<AMLOOP ACTIVITY="expression" EXPRESSION="1 = 1"></AMLOOP>\n',
                'task.aml:1: <AMLOOP ACTIVITY="expression">: the loop ran more than 5 times '
                "and was stopped; if that is intended, raise the limit with --max-iterations",
            ),
            (
                '<AMLOOP TOTALLOOPS="100"></AMLOOP>\n',
                "task.aml:1: <AMLOOP>: the loop ran more than 5 times and was stopped; if that "
                "is intended, raise the limit with --max-iterations",
            ),
            (
                '<AMLABEL LABELNAME="top" />\n<AMGOTO LABELNAME="top" />\n',
                "task.aml:2: more than 5 jumps to labels: the task seems to loop "
                "forever; raise --max-iterations if intended",
            ),
        ],
        ids=["expression", "counter", "goto"],
    )
    def test_runaway_is_stopped(self, tmp_path: Path, text: str, message: str) -> None:
        run = run_fake(text, tmp_path, max_iterations=5)
        assert run.failure(exit_code=1)[0] == message


class TestDatasetLoops:
    def test_nested_loops_keep_each_datasets_row(self, tmp_path: Path) -> None:
        fake = FakeSes()
        fake.seed("a.com", "b.com")
        run = run_fake(
            '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="Outer" />\n'
            '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="Inner" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="Outer">\n'
            '  <AMLOOP ACTIVITY="dataset" DATASET="Inner">\n'
            '    <AMSHOWDIALOG MESSAGE="%Outer.Identity% %Inner.Identity%" />\n'
            "  </AMLOOP>\n"
            '  <AMSHOWDIALOG MESSAGE="%Outer.CurrentRow%: %Outer.Identity%" />\n'
            "</AMLOOP>\n",
            tmp_path,
            fake=fake,
        )
        assert run.ok, run.error
        first, second = fake.identity_names()
        assert run.shown == [
            f"{first} {first}",
            f"{first} {second}",
            f"1: {first}",
            f"{second} {first}",
            f"{second} {second}",
            f"2: {second}",
        ]


class TestProgress:
    def test_every_loop_reports_each_pass(self, tmp_path: Path) -> None:
        fake = FakeSes()
        fake.seed("a@example.com", "b@example.com")
        text = (
            '<AMVARIABLE NAME="n" VALUE="0" />\n'
            '<AMLOOP FROM="1" TO="2"></AMLOOP>\n'
            '<AMLOOP ACTIVITY="list" LIST="x" RESULTVARIABLE="v"></AMLOOP>\n'
            '<AMLOOP ACTIVITY="expression" EXPRESSION="n &lt; 2">'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="n" /></AMLOOP>\n'
            '<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="AKIAFLOWTEST00000001" '
            'SECRETKEY="flow-secret-1" RESULTDATASET="ids" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ids"></AMLOOP>\n'
        )
        run = run_fake(text, tmp_path, fake=fake)
        assert run.ok, run.error
        assert run.reporter.progress_calls == [
            (2, 1, 2),
            (2, 2, 2),
            (3, 1, 1),
            (4, 1, None),
            (4, 2, None),
            (6, 1, 2),
            (6, 2, 2),
        ]


class TestIfLastStep:
    TASK = (
        '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="a@example.com" AM_ONERROR="CONTINUE" />\n'
        "{between}"
        '<AMIF ACTIVITY="last_step" {test}>\n'
        '  <AMSHOWDIALOG MESSAGE="true" />\n<AMELSE />\n  <AMSHOWDIALOG MESSAGE="false" />\n'
        "</AMIF>\n"
    )

    @pytest.mark.parametrize(
        ("fail", "test", "expected"),
        [
            (True, 'LASTSTEP="failed"', "true"),
            (True, "", "false"),
            (True, 'LASTSTEP="succeeded"', "false"),
            (False, 'LASTSTEP="succeeded"', "true"),
            (False, 'LASTSTEP="failed"', "false"),
            (True, 'LASTSTEP="failedwithcode" RESULTCODE="Throttling, messagerejected"', "true"),
            (True, 'LASTSTEP="failedwithcode" RESULTCODE="Throttling"', "false"),
            (False, 'LASTSTEP="failedwithcode" RESULTCODE="MessageRejected"', "false"),
        ],
    )
    def test_branches_on_the_previous_step(
        self, tmp_path: Path, fail: bool, test: str, expected: str
    ) -> None:
        fake = FakeSes()
        if fail:
            fake.fail("VerifyEmailIdentity", code="MessageRejected", message="no")
        run = run_fake(self.TASK.format(between="", test=test), tmp_path, fake=fake)
        assert run.ok, run.error
        assert run.shown == [expected]
        assert sorted(fake.identity_names()) == ([] if fail else ["a@example.com"])
        if fail:  # continued: no error, no warning, only the record of what failed
            assert run.error is None
            assert run.notices == []
            assert run.failed == [(1, "MessageRejected")]

    def test_a_succeeding_step_in_between_clears_the_failure(self, tmp_path: Path) -> None:
        fake = FakeSes()
        fake.fail("VerifyEmailIdentity", code="MessageRejected")
        text = self.TASK.format(
            between='<AMVARIABLE NAME="x" VALUE="1" />\n', test='LASTSTEP="failed"'
        )
        run = run_fake(text, tmp_path, fake=fake)
        assert run.shown == ["false"]

    def test_failedwithcode_needs_resultcode(self, tmp_path: Path, endpoint: str) -> None:
        result = run_task(
            tmp_path,
            endpoint,
            '<AMIF ACTIVITY="last_step" LASTSTEP="failedwithcode"></AMIF>\n',
        )
        assert result.exit_code == 2  # refused by the static check, before anything runs
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1:38: error: <AMIF ACTIVITY="last_step">: '
            'LASTSTEP="failedwithcode" needs RESULTCODE: the error codes to match, '
            'e.g. RESULTCODE="MessageRejected,Throttling"'
        )


class TestIfContainsText:
    @pytest.mark.parametrize(
        ("attributes", "expected"),
        [
            ('SUBSTRING="example.COM"', "yes [Example.com] 7"),
            ('SUBSTRING="example.COM" USECASE="YES"', "no [] 0"),
            ('SUBSTRING="Example.com" USECASE="YES"', "yes [Example.com] 7"),
            ('SUBSTRING="@example.org" ACTION="not_contain"', "yes [] 0"),
            ('SUBSTRING="@" ACTION="not_contain"', "no [@] 6"),
            ('SUBSTRING="alice" ACTION="start_with"', "yes [Alice] 1"),
            ('SUBSTRING="example" ACTION="start_with"', "no [] 0"),
            ('SUBSTRING=".COM" ACTION="end_with"', "yes [.com] 14"),
            ('SUBSTRING="com" ACTION="end_with" TEXT="com.example.com"', "yes [com] 13"),
            ('SUBSTRING="[a-z]+@" USERE="YES"', "yes [Alice@] 1"),
            ('SUBSTRING="^[a-z]+@" USERE="YES" USECASE="YES"', "no [] 0"),
            ('SUBSTRING="\\.(com|org)" USERE="YES" ACTION="end_with"', "yes [.com] 14"),
        ],
    )
    def test_actions(self, tmp_path: Path, attributes: str, expected: str) -> None:
        text_attribute = "" if "TEXT=" in attributes else 'TEXT="%who%" '
        run = run_fake(
            '<AMVARIABLE NAME="who" VALUE="Alice@Example.com" />\n'
            f'<AMIF ACTIVITY="contains_text" {text_attribute}{attributes} '
            'FOUNDTEXTVARIABLE="found" INDEXVARIABLE="at">\n'
            '  <AMSHOWDIALOG MESSAGE="yes [%found%] %at%" />\n<AMELSE />\n'
            '  <AMSHOWDIALOG MESSAGE="no [%found%] %at%" />\n</AMIF>\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == [expected]

    def test_bad_pattern_is_a_step_error(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMIF ACTIVITY="contains_text" TEXT="x" SUBSTRING="(" USERE="YES"></AMIF>\n',
            tmp_path,
        )
        assert run.failure(exit_code=1)[0].startswith(
            'task.aml:1: <AMIF ACTIVITY="contains_text">: SUBSTRING="(" is not a valid '
            "regular expression: missing ), unterminated subpattern"
        )

    def test_deletes_only_foreign_identities(self, tmp_path: Path) -> None:
        fake = FakeSes()
        fake.seed("a@example.com", "b@Example.COM", "c@example.org", "example.com")
        run = run_fake(
            '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="ids" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ids">\n'
            '<AMIF ACTIVITY="contains_text" TEXT="%ids.Identity%" SUBSTRING="@example.com" '
            'ACTION="end_with"><AMELSE />\n'
            '<AMAWSSES ACTIVITY="delete_identity" IDENTITY="%ids.Identity%" />\n'
            "</AMIF>\n</AMLOOP>\n",
            tmp_path,
            fake=fake,
        )
        assert run.ok, run.error
        assert sorted(fake.identity_names()) == ["a@example.com", "b@Example.COM"]


class TestGoto:
    def test_forward_skips_steps(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMSHOWDIALOG MESSAGE="one" />\n<AMGOTO LABELNAME="three" />\n'
            '<AMSHOWDIALOG MESSAGE="two" />\n<AMLABEL LABELNAME="Three" />\n'
            '<AMSHOWDIALOG MESSAGE="three" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["one", "three"]

    def test_backward_with_a_counter(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="n" VALUE="0" />\n'
            '<AMLABEL LABELNAME="again" />\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="n" />\n'
            '<AMSHOWDIALOG MESSAGE="pass %n%" />\n'
            '<AMIF EXPRESSION="%n% &lt; 3"><AMLABEL ACTIVITY="goto" LABEL="again" /></AMIF>\n'
            '<AMSHOWDIALOG MESSAGE="done" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["pass 1", "pass 2", "pass 3", "done"]

    def test_out_of_a_loop(self, tmp_path: Path) -> None:
        fake = FakeSes()
        run = run_fake(
            '<AMLOOP ACTIVITY="list" LIST="a@example.com,STOP,b@example.com" '
            'RESULTVARIABLE="address">\n'
            '  <AMIF EXPRESSION="%address% = STOP">\n'
            '    <AMLABEL ACTIVITY="goto" LABELNAME="finished" />\n  </AMIF>\n'
            '  <AMAWSSES ACTIVITY="verify_identity" IDENTITY="%address%" />\n'
            "</AMLOOP>\n"
            '<AMSHOWDIALOG MESSAGE="not shown" />\n'
            '<AMLABEL LABELNAME="finished" />\n<AMSHOWDIALOG MESSAGE="after %address%" />\n',
            tmp_path,
            fake=fake,
        )
        assert run.ok, run.error
        assert run.shown == ["after STOP"]
        assert sorted(fake.identity_names()) == ["a@example.com"]

    def test_missing_label_is_found_by_check(self, tmp_path: Path) -> None:
        path = write_task(tmp_path, '<AMLABEL LABELNAME="start" />\n<AMGOTO LABELNAME="stat" />\n')
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert 'goto to label "stat"' in result.stderr


class TestStop:
    @pytest.mark.parametrize(
        ("stop", "exit_code", "status", "stderr"),
        [
            ('<AMTASK ACTIVITY="stop" STATUSTYPE="SUCCESS" />', 0, "success", []),
            (
                '<AMTASK ACTIVITY="stop" STATUSTYPE="ERROR" ERRORNUMBER="42" '
                'ERRORTEXT="%n% left" />',
                1,
                "error",
                [
                    'amlses: task.aml:2: <AMTASK ACTIVITY="stop">: the task was stopped with '
                    "error 42: 1 left",
                    '    <AMTASK ACTIVITY="stop" STATUSTYPE="ERROR" ERRORNUMBER="42" '
                    'ERRORTEXT="%n% left" />',
                ],
            ),
            (
                '<AMTASK ACTIVITY="stop" STATUSTYPE="aborted" />',
                1,
                "aborted",
                ["warning: task.aml:2: the task was stopped: ABORTED"],
            ),
            (
                '<AMTASK ACTIVITY="stop" />',
                1,
                "aborted",
                ["warning: task.aml:2: the task was stopped: ABORTED"],
            ),
            ('<AMSTOPTASK STATUSTYPE="SUCCESS">', 0, "success", []),
        ],
        ids=["success", "error", "aborted", "default", "legacy"],
    )
    def test_status_and_exit_code(
        self,
        tmp_path: Path,
        endpoint: str,
        stop: str,
        exit_code: int,
        status: str,
        stderr: list[str],
    ) -> None:
        text = (
            f'<AMVARIABLE NAME="n" VALUE="1" />\n{stop}\n<AMSHOWDIALOG MESSAGE="never shown" />\n'
        )
        result = run_task(tmp_path, endpoint, text)
        assert result.exit_code == exit_code
        assert shown(result) == []
        assert errors(result, tmp_path) == stderr
        assert api.run(text, "t.aml").status == status

    def test_stop_inside_a_loop_ends_the_run(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMLOOP FROM="1" TO="5" RESULTVARIABLE="i">\n<AMSHOWDIALOG MESSAGE="%i%" />\n'
            '<AMIF EXPRESSION="%i% = 2"><AMTASK ACTIVITY="stop" STATUSTYPE="SUCCESS" /></AMIF>\n'
            '</AMLOOP>\n<AMSHOWDIALOG MESSAGE="after" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["1", "2"]

    def test_error_needs_errornumber(self, tmp_path: Path) -> None:
        run = run_fake('<AMTASK ACTIVITY="stop" STATUSTYPE="ERROR" />\n', tmp_path)
        assert run.failure(exit_code=1)[0] == (
            'task.aml:1: <AMTASK ACTIVITY="stop">: STATUSTYPE="ERROR" needs ERRORNUMBER: '
            "the error code the task ends with"
        )


class TestSubtask:
    def test_variables_are_shared_both_ways(self, tmp_path: Path) -> None:
        fake = FakeSes()
        write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="%address%" />\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="count" />\n'
            '<AMSET VARIABLENAME="fromchild">child saw %address%</AMSET>\n',
            "sub/verify.aml",
        )
        run = run_fake(
            '<AMVARIABLE NAME="count" VALUE="0" />\n<AMVARIABLE NAME="fromchild" />\n'
            '<AMLOOP ACTIVITY="list" LIST="a@example.com,b@example.com" RESULTVARIABLE="address">\n'
            '  <AMTASK TASKFILE="sub\\verify.aml" />\n'
            "</AMLOOP>\n"
            '<AMSTARTTASK TASKFILE="sub/verify.aml" />\n'
            '<AMSHOWDIALOG MESSAGE="%count%: %fromchild%" />\n',
            tmp_path,
            fake=fake,
        )
        assert run.ok, run.error
        assert run.shown == ["3: child saw b@example.com"]
        assert sorted(fake.identity_names()) == ["a@example.com", "b@example.com"]

    def test_missing_subtask_is_a_step_failure(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMTASK ACTIVITY="start" TASKFILE="nowhere.aml" AM_ONERROR="CONTINUE" />\n'
            '<AMIF ACTIVITY="last_step" LASTSTEP="failed">'
            '<AMSHOWDIALOG MESSAGE="%AMError.ErrorDesc%" /></AMIF>\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == [
            f"subtask cannot read task file {tmp_path}/nowhere.aml: No such file or directory"
        ]


class TestWait:
    def test_waits_through_the_cli(self, tmp_path: Path, endpoint: str) -> None:
        start = time.perf_counter()
        result = run_task(
            tmp_path,
            endpoint,
            '<AMWAIT SCALAR="60" MEASURE="milliseconds" />\n<AMSHOWDIALOG MESSAGE="done" />\n',
        )
        assert result.exit_code == 0, result.output
        assert time.perf_counter() - start >= 0.06
        assert shown(result) == ["done"]

    def test_every_measure_through_the_injected_sleep(self) -> None:
        slept: list[float] = []
        text = (
            '<AMWAIT SCALAR="2" />\n<AMWAIT SCALAR="250" MEASURE="milliseconds" />\n'
            '<AMWAIT SCALAR="3" MEASURE="MINUTES" />\n<AMWAIT SCALAR="%1 + 1%" MEASURE="hours" />\n'
            '<AMPAUSE ACTION="waitfor" SCALAR="5" />\n'
        )
        result = api.run(text, "t.aml", options=RunOptions(sleep=slept.append))
        assert result.ok, result.error
        assert slept == [2.0, 0.25, 180.0, 7200.0, 5.0]


class TestMessages:
    def test_levels_and_streams(self, tmp_path: Path, endpoint: str) -> None:
        result = run_task(
            tmp_path,
            endpoint,
            '<AMVARIABLE NAME="who" VALUE="ops" />\n'
            '<AMSHOWDIALOG MESSAGE="hello %who%" WINDOWTITLE="t" ICON="information" />\n'
            "<AMSHOWDIALOG>body %who%</AMSHOWDIALOG>\n"
            '<AMMESSAGEBOX MESSAGETEXT="box" />\n'
            "<AMMESSAGEBOX>box body</AMMESSAGEBOX>\n"
            '<AMEVENTLOG MESSAGE="event info" />\n'
            '<AMEVENTLOG MESSAGE="event warning" TYPE="warning" />\n'
            '<AMEVENTLOG MESSAGE="event error" TYPE="ERROR" />\n'
            '<AMWRITETOLOG TEXT="log default" />\n'
            '<AMWRITETOLOG TEXT="log verbose" LOGLEVEL="verbose" />\n'
            '<AMWRITETOLOG TEXT="log warning" LOGLEVEL="warning" />\n'
            '<AMWRITETOLOG LOGLEVEL="error">log error</AMWRITETOLOG>\n',
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == [
            "hello ops",
            "body ops",
            "box",
            "box body",
            "event info",
            "log default",
            "log verbose",
        ]
        assert errors(result, tmp_path) == [
            "warning: event warning",
            "error: event error",
            "warning: log warning",
            "error: log error",
        ]


class TestCheck:
    def test_desktop_steps_are_named_not_unknown(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMSHOWDIALOG ACTIVITY="input" MESSAGE="Days?" RESULTVARIABLE="days" />\n'
            '<AMLOOP ACTIVITY="windows" RESULTVARIABLE="title"></AMLOOP>\n'
            '<AMIF ACTIVITY="pixel_exists" XPOS="1" YPOS="1" COLOR="0"></AMIF>\n'
            '<AMTASK ACTIVITY="trigger" MANAGEDTASK="Folder\\Task" />\n'
            "<AMSCRIPT>Sub Main\nEnd Sub</AMSCRIPT>\n"
            '<AMSHOWDIALOG ACTIVITY="inptu" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        found = [line for line in errors(result, tmp_path) if line.startswith("task.aml")]
        assert found[:5] == [
            'task.aml:1:1: error: <AMSHOWDIALOG ACTIVITY="input"> needs a desktop and is not '
            "supported by amlses",
            'task.aml:2:1: error: <AMLOOP ACTIVITY="windows"> needs a desktop and is not '
            "supported by amlses",
            'task.aml:3:1: error: <AMIF ACTIVITY="pixel_exists"> needs a desktop and is not '
            "supported by amlses",
            'task.aml:4:1: error: <AMTASK ACTIVITY="trigger"> needs an Automate server and is '
            "not supported by amlses",
            "task.aml:5:1: error: <AMSCRIPT> runs Automate's BASIC script engine and is not "
            "supported by amlses",
        ]
        # a misspelt activity is still reported as unknown, not as unsupported
        assert found[5].startswith(
            'task.aml:7:1: error: unknown activity "inptu" of <AMSHOWDIALOG>'
        )

    def test_loop_and_if_variables_are_known_inside_their_body(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMLOOP FROM="1" TO="2" RESULTVARIABLE="i"><AMSHOWDIALOG MESSAGE="%i%" /></AMLOOP>\n'
            '<AMLOOP ACTIVITY="list" LIST="a" RESULTVARIABLE="v"><AMSHOWDIALOG MESSAGE="%v%" />'
            "</AMLOOP>\n"
            '<AMIF ACTIVITY="contains_text" TEXT="abc" SUBSTRING="b" FOUNDTEXTVARIABLE="f" '
            'INDEXVARIABLE="x"><AMSHOWDIALOG MESSAGE="%f% %x%" /></AMIF>\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 0, result.output


class TestExamples:
    def test_every_example_has_a_header_and_passes_check(self) -> None:
        for name in OWN_EXAMPLES:
            text = (EXAMPLES / name).read_text()
            assert text.startswith(f"<!-- {name}: "), name
            assert f"amlses run examples/{name}" in text, name
            result = invoke("check", str(EXAMPLES / name))
            assert result.exit_code == 0, result.output

    def local(self, name: str, *args: str) -> Result:
        return invoke(
            "run", str(EXAMPLES / name), "--local", "--fixture", str(FIXTURE), "-q", *args
        )

    def test_cleanup_is_a_dry_run_by_default(self) -> None:
        result = self.local("cleanup-foreign-identities.aml")
        assert result.exit_code == 0, result.output
        assert shown(result) == [
            "would delete carol@mail.example.org",
            "would delete example.com",
            "would delete mail.example.org",
            "kept 2 address(es) of example.com; nothing deleted: run with --var confirm=YES "
            "to delete",
        ]

    def seeded(self, endpoint: str, ses_client: Any, name: str, *args: str) -> Result:
        """``name`` run against the test's moto server, seeded as ``--fixture`` would: the
        effects of an example are read through that server afterwards (a ``--local`` run's
        emulator is a child process, gone when the run ends)."""
        seed_identities(ses_client, *json.loads(FIXTURE.read_text())["identities"])
        return invoke("run", str(EXAMPLES / name), "--endpoint-url", endpoint, "-q", *args)

    @pytest.mark.usefixtures("aws_credentials")
    def test_cleanup_deletes_with_confirm(self, endpoint: str, ses_client: Any) -> None:
        result = self.seeded(
            endpoint, ses_client, "cleanup-foreign-identities.aml", "--var", "confirm=yes"
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["kept 2 address(es) of example.com, deleted 3 identities"]
        assert identities(ses_client) == ["alice@example.com", "bob@example.com"]

    def test_cleanup_with_confirm_locally(self) -> None:
        result = self.local("cleanup-foreign-identities.aml", "--var", "confirm=yes")
        assert result.exit_code == 0, result.output
        assert shown(result) == ["kept 2 address(es) of example.com, deleted 3 identities"]

    @pytest.mark.usefixtures("aws_credentials")
    def test_verify_addresses(self, endpoint: str, ses_client: Any) -> None:
        addresses = "addresses=new@example.com, not an address ,x@y.org"
        for result in (
            self.local("verify-addresses.aml", "--var", addresses),
            self.seeded(endpoint, ses_client, "verify-addresses.aml", "--var", addresses),
        ):
            assert result.exit_code == 0, result.output
            assert shown(result) == ["verification started for 2 address(es), 1 skipped"]
            assert result.stderr.splitlines()[0] == (
                'warning: skipped "not an address": not an e-mail address'
            )
        assert {"new@example.com", "x@y.org"} <= set(identities(ses_client))

    def test_verify_addresses_without_any(self) -> None:
        result = self.local("verify-addresses.aml")
        assert result.exit_code == 1
        assert "the task was stopped with error 1: no addresses: run with --var" in result.stderr

    def test_quota_report(self) -> None:
        result = self.local("quota-report.aml")
        assert result.exit_code == 0, result.output
        assert shown(result)[0] == (
            "Sending quota: 0 of 200 in the last 24 hours (0 percent), at most 1 per second"
        )
        assert shown(result)[1].startswith("Last two weeks (")
        assert shown(result)[1].endswith("0 delivery attempts, 0 bounces, 0 complaints, 0 rejects")

    def test_verify_with_retries_locally(self) -> None:
        result = self.local("verify-with-retries.aml")
        assert result.exit_code == 0, result.output
        assert shown(result) == ["verification started for every address"]

    def test_verify_with_retries_reports_what_still_fails(
        self, proxy: Any, ses_client: Any, aws_credentials: Any
    ) -> None:
        front = proxy()
        # ops@ fails all three attempts; billing@ fails once and succeeds on the first retry
        front.fail(4, action="VerifyEmailIdentity", code="InvalidParameterValue", message="bad")
        result = invoke(
            "run", str(EXAMPLES / "verify-with-retries.aml"), "--endpoint-url", front.url, "-q"
        )
        assert result.exit_code == 1
        assert front.count("VerifyEmailIdentity") == 3 + 2 + 1
        assert identities(ses_client) == ["billing@example.com", "sales@example.com"]
        lines = result.stderr.replace(f"{EXAMPLES}/", "").splitlines()
        retry = 'warning: verify-with-retries.aml:15: <AMAWSSES ACTIVITY="verify_identity">: '
        assert lines[2].startswith(
            "warning: could not verify ops@example.com: AWS error InvalidParameterValue from "
            "VerifyEmailIdentity: bad (request id "
        )
        assert lines == [
            f"{retry}InvalidParameterValue; retry 1 of 2",
            f"{retry}InvalidParameterValue; retry 2 of 2",
            lines[2],
            f"{retry}InvalidParameterValue; retry 1 of 2",
            "amlses: 1 step failed and the task went on: line 15 (InvalidParameterValue)",
            'amlses: verify-with-retries.aml:26: <AMTASK ACTIVITY="stop">: the task was stopped '
            "with error 1: 1 address(es) could not be verified: ops@example.com "
            "(InvalidParameterValue)",
            '    <AMTASK ACTIVITY="stop" STATUSTYPE="ERROR" ERRORNUMBER="1" '
            'ERRORTEXT="%failures% address(es) could not be verified:%failed%" />',
        ]

    def test_domain_report(self) -> None:
        result = self.local("domain-report.aml")
        assert result.exit_code == 0, result.output
        assert shown(result) == [
            "example.com: 2 address(es)",
            "mail.example.org: 1 address(es)",
            "2 domain(s) in the account",
        ]

    def test_domain_report_of_an_empty_account(self) -> None:
        result = invoke("run", str(EXAMPLES / "domain-report.aml"), "--local", "-q")
        assert result.exit_code == 0, result.output
        assert shown(result) == ["the account has no identities", "0 domain(s) in the account"]

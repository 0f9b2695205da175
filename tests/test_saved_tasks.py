"""Task files as the Task Builder saves them: ``<AMTASK><AMTASKHEAD>…<AMFUNCTION NAME="Main">``.

Users export tasks from Automate / AWE with this wrapper around the steps; amlses runs the Main
function's steps, keeps the header (``TASKVERSION`` …) on the parsed task, and says in
``check`` that the other functions do not run.  Everything goes through ``amlses run`` and
``amlses check``, except the ``--json`` header, which is rendered by ``output.result_json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import Result

from amlses import api
from amlses.output import RecordingReporter, result_json, task_json
from amlses.redact import Redactor
from clitools import invoke, write_task

PROBLEM = re.compile(r"(amlses: )?\S+\.aml:\d+:\d+: ")
HEAD = '<AMTASK>\n<AMTASKHEAD>\n<TASKINFO TASKVERSION="8090" />\n</AMTASKHEAD>\n'


def saved(*functions: str, head: str = HEAD) -> str:
    """A saved task: ``head``, then each ``(name, steps)`` function, then ``</AMTASK>``."""
    return head + "".join(functions) + "</AMTASK>\n"


def function(name: str, steps: str, extra: str = ' RETURNTYPE="variable"') -> str:
    return f'<AMFUNCTION NAME="{name}"{extra}>\n{steps}</AMFUNCTION>\n'


def problems(result: Result, tmp_path: Path) -> list[str]:
    """The problem lines ``amlses check``/``run`` printed, with the folder shortened away."""
    lines = result.stderr.replace(f"{tmp_path}/", "").splitlines()
    return [line.removeprefix("amlses: ") for line in lines if PROBLEM.match(line)]


def check(tmp_path: Path, text: str) -> Result:
    return invoke("check", str(write_task(tmp_path, text)))


class TestRunningMain:
    def test_runs_the_main_functions_steps_against_ses(
        self, tmp_path: Path, endpoint: str, ses_client: Any, aws_credentials: Any
    ) -> None:
        text = saved(
            function(
                "Main", '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="main@example.com" />\n'
            ),
            function(
                "Helper",
                '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="help@example.com" />\n',
                ' ACCESS="private"',
            ),
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert ses_client.list_identities()["Identities"] == ["main@example.com"]

    def test_step_lines_name_the_lines_of_the_file(self, tmp_path: Path, endpoint: str) -> None:
        text = saved(
            function(
                "Main", '<AMVARIABLE NAME="x" VALUE="1" />\n<AMSHOWDIALOG MESSAGE="x=%x%" />\n'
            )
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint)
        assert result.exit_code == 0, result.output
        assert [line.split("(")[0].rstrip() for line in result.stdout.splitlines()] == [
            "    6  AMVARIABLE                     x = 1",
            "x=1",
            "    7  AMSHOWDIALOG                   printed",
        ]

    def test_a_one_line_file_with_more_taskinfo_and_a_prolog(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        text = (
            '<?xml version="1.0" encoding="utf-8"?><!-- exported -->'
            '<AMTASK><AMTASKHEAD><TASKINFO TASKVERSION="8090" CREATEDBY="amy" '
            'DESCRIPTION="nightly" /></AMTASKHEAD><AMFUNCTION NAME="Main" RETURNTYPE="variable">'
            '<AMSHOWDIALOG MESSAGE="hello" /></AMFUNCTION></AMTASK>'
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "hello\n"
        task = api.parse(text, "t.aml")
        assert dict(task.header) == {
            "TASKVERSION": "8090",
            "CREATEDBY": "amy",
            "DESCRIPTION": "nightly",
        }
        assert [f.name for f in task.functions] == ["Main"]

    def test_main_may_be_written_in_any_case_and_in_any_place(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        text = saved(
            function("Other", '<AMSHOWDIALOG MESSAGE="other" />\n'),
            function("MAIN", '<AMSHOWDIALOG MESSAGE="main" />\n'),
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "main\n"

    def test_stop_and_subtask_steps_are_not_taken_for_the_wrapper(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        write_task(tmp_path, '<AMSHOWDIALOG MESSAGE="child" />\n', "child.aml")
        text = (
            '<AMTASK TASKFILE="child.aml" />\n'
            '<AMTASK ACTIVITY="stop" STATUSTYPE="SUCCESS" />\n'
            '<AMSHOWDIALOG MESSAGE="never" />\n'
        )
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "child\n"

    def test_a_saved_subtask_runs_its_main(self, tmp_path: Path, endpoint: str) -> None:
        write_task(
            tmp_path, saved(function("Main", '<AMSHOWDIALOG MESSAGE="child" />\n')), "child.aml"
        )
        text = '<AMTASK TASKFILE="child.aml" />\n<AMSHOWDIALOG MESSAGE="parent" />\n'
        result = invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "child\nparent\n"


class TestCheck:
    def test_a_single_main_is_quietly_fine(self, tmp_path: Path) -> None:
        result = check(tmp_path, saved(function("Main", '<AMSHOWDIALOG MESSAGE="hi" />\n')))
        assert result.exit_code == 0, result.output
        assert problems(result, tmp_path) == []

    def test_notes_which_functions_exist_and_that_only_main_runs(self, tmp_path: Path) -> None:
        text = saved(
            function("Main", '<AMSHOWDIALOG MESSAGE="hi" />\n'),
            function("Cleanup", '<AMSHOWDIALOG MESSAGE="a" />\n<AMSHOWDIALOG MESSAGE="b" />\n'),
            function("Report", '<AMSHOWDIALOG MESSAGE="c" />\n'),
        )
        result = check(tmp_path, text)
        assert result.exit_code == 0, result.output
        assert problems(result, tmp_path) == [
            "task.aml:8:1: note: the saved task defines the functions Main, Cleanup, Report; "
            'amlses runs only Main, so "Cleanup" (2 steps) does not run',
            "task.aml:12:1: note: the saved task defines the functions Main, Cleanup, Report; "
            'amlses runs only Main, so "Report" (1 step) does not run',
        ]

    def test_no_main_is_an_error_naming_the_functions(self, tmp_path: Path) -> None:
        text = saved(
            function("Start", '<AMSHOWDIALOG MESSAGE="hi" />\n'),
            function("Helper", '<AMSHOWDIALOG MESSAGE="a" />\n'),
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: the saved task has no Main function (its functions are "
            'Start, Helper): Automate starts a task at <AMFUNCTION NAME="Main">, so there is '
            "nothing to run",
            "task.aml:5:1: note: the saved task defines the functions Start, Helper; amlses "
            'runs only Main, so "Start" (1 step) does not run',
            "task.aml:8:1: note: the saved task defines the functions Start, Helper; amlses "
            'runs only Main, so "Helper" (1 step) does not run',
        ]
        run = invoke("run", str(tmp_path / "task.aml"), "--endpoint-url", "http://127.0.0.1:9")
        assert run.exit_code == 2
        assert run.stdout == ""

    def test_no_function_at_all(self, tmp_path: Path) -> None:
        result = check(tmp_path, saved())
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: the saved task has no Main function (it has no "
            '<AMFUNCTION>): Automate starts a task at <AMFUNCTION NAME="Main">, so there is '
            "nothing to run",
        ]

    def test_calling_a_function_is_refused(self, tmp_path: Path) -> None:
        text = saved(
            function("Main", '<AMFUNCTION ACTIVITY="call" NAME="Helper" />\n'),
            function("Helper", '<AMSHOWDIALOG MESSAGE="a" />\n'),
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path)[0] == (
            'task.aml:6:1: error: <AMFUNCTION ACTIVITY="call"> is a task-function step (no '
            "Automate page shows how a step calls a function; amlses runs only the Main "
            "function of a saved task) and is not supported by amlses"
        )

    def test_problems_inside_main_keep_their_lines(self, tmp_path: Path) -> None:
        text = saved(function("Main", '<AMSHOWDIALOG MESSAGE="%nobody%" />\n<AMFOO />\n'))
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            'task.aml:6:25: error: <AMSHOWDIALOG>: "nobody" is read here but no earlier step '
            "creates it: a variable in the expression does not exist or is misspelled",
            "task.aml:7:1: error: unknown element <AMFOO> (did you mean <AMLOOP>?)",
        ]


class TestBrokenWrappers:
    def test_a_block_left_open_inside_a_function(self, tmp_path: Path) -> None:
        text = saved(function("Main", '<AMIF EXPRESSION="1=1">\n<AMSHOWDIALOG MESSAGE="a" />\n'))
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:6:1: error: <AMIF>: <AMIF> at line 6 is never closed: expected </AMIF> "
            'or <AMIF ACTIVITY="end" /> before </AMFUNCTION> at line 8',
        ]

    def test_a_function_and_the_wrapper_left_open(self, tmp_path: Path) -> None:
        text = HEAD + '<AMFUNCTION NAME="Main">\n<AMSHOWDIALOG MESSAGE="a" />\n'
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:1:1: error: <AMTASK> at line 1 is never closed: expected </AMTASK> at "
            "the end of the saved task",
            'task.aml:5:1: error: <AMFUNCTION NAME="Main"> at line 5 is never closed: '
            "expected </AMFUNCTION>",
        ]

    def test_steps_outside_the_functions(self, tmp_path: Path) -> None:
        text = saved(
            '<AMSHOWDIALOG MESSAGE="lost" />\n',
            function("Main", '<AMSHOWDIALOG MESSAGE="a" />\n'),
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:5:1: error: <AMSHOWDIALOG>: <AMSHOWDIALOG> stands outside every "
            "<AMFUNCTION> of the saved task: Automate runs only the steps of its functions",
        ]

    def test_steps_after_the_end_of_the_wrapper(self, tmp_path: Path) -> None:
        text = saved(function("Main", '<AMSHOWDIALOG MESSAGE="a" />\n')) + (
            '<AMSHOWDIALOG MESSAGE="late" />\n'
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:9:1: error: <AMSHOWDIALOG>: <AMSHOWDIALOG> stands after </AMTASK> "
            "(line 8): a saved task ends there",
        ]

    def test_a_head_left_open(self, tmp_path: Path) -> None:
        text = saved(
            function("Main", '<AMSHOWDIALOG MESSAGE="a" />\n'),
            head='<AMTASK>\n<AMTASKHEAD>\n<TASKINFO TASKVERSION="8090" />\n',
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path) == [
            "task.aml:4:1: error: <AMTASKHEAD> is never closed: expected </AMTASKHEAD> before "
            "the first <AMFUNCTION>",
        ]

    def test_two_functions_of_one_name(self, tmp_path: Path) -> None:
        text = saved(
            function("Main", '<AMSHOWDIALOG MESSAGE="a" />\n'),
            function("main", '<AMSHOWDIALOG MESSAGE="b" />\n'),
        )
        result = check(tmp_path, text)
        assert result.exit_code == 2
        assert problems(result, tmp_path)[0] == (
            'task.aml:8:1: error: a second function named "main"; the first is at line 5'
        )


class TestJsonHeader:
    def test_the_json_document_carries_the_header_and_the_functions(self) -> None:
        text = saved(
            function("Main", '<AMSHOWDIALOG MESSAGE="hi" />\n'),
            function("Helper", '<AMSHOWDIALOG MESSAGE="b" />\n'),
            head='<AMTASK>\n<AMTASKHEAD>\n<TASKINFO TASKVERSION="8090" TASKID="{1}" />\n'
            "</AMTASKHEAD>\n",
        )
        task = api.parse(text, "t.aml")
        result = api.run(text, "t.aml")
        document = json.loads(
            result_json(result, RecordingReporter(_human()), Redactor(), task=task)
        )
        assert document["task"] == {
            "header": {"TASKVERSION": "8090", "TASKID": "{1}"},
            "functions": ["Main", "Helper"],
            "runs": "Main",
        }

    def test_a_bare_step_list_has_no_task_header(self) -> None:
        assert task_json(api.parse('<AMSHOWDIALOG MESSAGE="hi" />', "t.aml")) is None


def _human() -> Any:
    import io

    from amlses.output import HumanReporter

    return HumanReporter(io.StringIO(), io.StringIO(), Redactor())

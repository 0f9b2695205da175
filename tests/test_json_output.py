"""``amlses run --json``: exactly one JSON document on stdout, whatever happens.

A program that runs a task with ``--json`` parses stdout and nothing else, so every case
below asserts that ``json.loads(result.stdout)`` succeeds on the whole of it (no dialog text
before the document, never an empty stdout) and the exact exit code: 0 success, 1 failed or
an internal error, 2 invalid (the task, the command line, an unreadable file), 130 interrupted.
Messages (dialogs, log lines, warnings) go into the document and, one line each, to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clitools import assert_no_leak, closed_port, invoke, write_task

EXAMPLES = Path(__file__).parent.parent / "examples"
SECRET = "Json/Secret+Key=0001"
KEY_ID = "AKIAJSONTEST00000001"

MESSAGES = (
    '<AMSHOWDIALOG MESSAGE="hello from a dialog" />\n'
    "<AMMESSAGEBOX>a legacy message box</AMMESSAGEBOX>\n"
    '<AMWRITETOLOG TEXT="a log warning" LOGLEVEL="warning" />\n'
    '<AMEVENTLOG MESSAGE="an event error" TYPE="error" />\n'
)


def run_json(*args: str) -> tuple[Result, dict[str, Any]]:
    """``amlses run ARGS --json`` and its document: the whole of stdout must parse as one."""
    result = invoke("run", *args, "--json")
    return result, json.loads(result.stdout)


class TestMessages:
    def test_messages_are_in_the_document_and_not_before_it(self, tmp_path: Path) -> None:
        result, document = run_json(str(write_task(tmp_path, MESSAGES)))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("{")
        assert document["status"] == "success"
        assert document["message_count"] == 4
        assert document["messages"] == [
            {"level": "info", "text": "hello from a dialog"},
            {"level": "info", "text": "a legacy message box"},
            {"level": "warning", "text": "a log warning"},
            {"level": "error", "text": "an event error"},
        ]

    def test_messages_also_go_to_stderr_one_line_each(self, tmp_path: Path) -> None:
        text = MESSAGES + '<AMSHOWDIALOG MESSAGE="first line&#10;second line" />\n'
        result, document = run_json(str(write_task(tmp_path, text)))
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == [
            "hello from a dialog",
            "a legacy message box",
            "warning: a log warning",
            "error: an event error",
            "first line\\nsecond line",
        ]
        assert document["messages"][-1]["text"] == "first line\nsecond line"

    def test_a_plain_run_still_prints_dialogs_on_stdout(self, tmp_path: Path) -> None:
        result = invoke("run", str(write_task(tmp_path, MESSAGES)), "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout == "hello from a dialog\na legacy message box\n"

    def test_messages_are_bounded_like_steps(self, tmp_path: Path) -> None:
        text = (
            '<AMLOOP FROM="1" TO="1500" RESULTVARIABLE="i">'
            '<AMSHOWDIALOG MESSAGE="pass %i%" /></AMLOOP>\n'
        )
        result, document = run_json(str(write_task(tmp_path, text)))
        assert result.exit_code == 0, result.output
        assert (document["message_count"], len(document["messages"])) == (1500, 1000)
        assert document["messages"][0]["text"] == "pass 501"
        assert document["messages"][-1]["text"] == "pass 1500"

    def test_a_secret_in_a_message_is_masked(self, tmp_path: Path) -> None:
        text = (
            f'<AMAWSSES ACTIVITY="create_session" SESSION="s" ACCESSKEY="{KEY_ID}" '
            f'SECRETKEY="{SECRET}" />\n'
            f'<AMSHOWDIALOG MESSAGE="the key is {SECRET}" />\n'
            f'<AMWRITETOLOG TEXT="again: {SECRET}" LOGLEVEL="warning" />\n'
            '<AMAWSSES ACTIVITY="end_session" SESSION="s" />\n'
        )
        result, document = run_json(str(write_task(tmp_path, text)))
        assert result.exit_code == 0, result.output
        assert_no_leak(result.output, [SECRET])
        texts = [message["text"] for message in document["messages"]]
        assert texts == ["the key is ****", "again: ****"]
        assert "warning: again: ****" in result.stderr.splitlines()

    def test_a_check_warning_keeps_its_severity_and_line(self, tmp_path: Path) -> None:
        text = (
            '<AMAWSSES ACTIVITY="create_session" SESSION="s" />\n'
            f'<AMAWSSES ACTIVITY="verify_identity" SESSION="s" ACCESSKEY="{KEY_ID}" '
            f'SECRETKEY="{SECRET}" IDENTITY="a@example.com" />\n'
        )
        result, document = run_json(str(write_task(tmp_path, text)), "--local")
        assert result.exit_code == 0, result.output
        [warning] = document["messages"]
        assert (warning["level"], warning["line"]) == ("warning", 2)
        assert "SESSION is ignored" in warning["text"]
        assert_no_leak(result.output, [SECRET])
        [line] = [line for line in result.stderr.splitlines() if "SESSION is ignored" in line]
        assert line.startswith(f"{tmp_path / 'task.aml'}:2:1: warning: ")


class TestInvalid:
    def test_a_syntax_error_lists_its_problems(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, '<AMSHOWDIALOG MESSAGE="hi" />\n<AMSHOWDIALOG MESSAGE="x" \n')
        result, document = run_json(str(task))
        assert result.exit_code == 2
        assert document["status"] == "invalid"
        assert document["problems"]
        for problem in document["problems"]:
            assert set(problem) == {
                "file",
                "line",
                "column",
                "severity",
                "code",
                "message",
                "step",
            }
            assert problem["file"] == str(task)
            assert problem["code"] == "SyntaxError"
        first = document["problems"][0]
        assert (first["line"], first["column"], first["severity"]) == (3, 1, "error")
        assert "never finished" in first["message"]
        assert "hi" not in result.stderr  # nothing ran: the first dialog was not shown

    def test_a_task_error_names_the_step_and_column(self, tmp_path: Path) -> None:
        text = (
            '<AMSHOWDIALOG MESSAGE="never shown" />\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="a@example.com" '
            'IDENTITYTYPE="nonsense" />\n'
        )
        result, document = run_json(str(write_task(tmp_path, text)))
        assert result.exit_code == 2
        errors = [p for p in document["problems"] if p["severity"] == "error"]
        assert len(errors) == 1
        error = errors[0]
        assert error["code"] == "TaskError"
        assert (error["line"], error["column"]) == (2, 77)  # the value's opening quote
        assert error["step"] == '<AMAWSSES ACTIVITY="verify_identity">'
        assert 'IDENTITYTYPE="nonsense"' in error["message"]
        assert "never shown" not in result.output

    def test_a_secret_in_a_problem_is_masked(self, tmp_path: Path) -> None:
        text = (
            f'<AMAWSSES ACTIVITY="verify_identity" ACCESSKEY="{KEY_ID}" SECRETKEY="{SECRET}" '
            f'IDENTITY="a@example.com" IDENTITYTYPE="{SECRET}" />\n'
        )
        result, document = run_json(str(write_task(tmp_path, text)))
        assert result.exit_code == 2
        assert_no_leak(result.output, [SECRET])
        assert 'IDENTITYTYPE="****"' in document["problems"][0]["message"]

    def test_a_missing_file_is_invalid(self, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere.aml"
        result, document = run_json(str(missing))
        assert result.exit_code == 2
        assert document["status"] == "invalid"
        [problem] = document["problems"]
        assert problem["file"] == str(missing)
        assert problem["code"] == "UsageError"
        assert problem["message"].startswith(f"cannot read task file {missing}")
        assert result.stderr.startswith("amlses: cannot read task file")

    def test_another_usage_error_is_invalid(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, MESSAGES)
        result, document = run_json(str(task), "--fixture", str(EXAMPLES / "identities.json"))
        assert result.exit_code == 2
        assert document["status"] == "invalid"
        [problem] = document["problems"]
        assert problem["file"] == str(task)
        assert "use it with --local" in problem["message"]
        assert document.get("messages") is None  # nothing ran

    def test_a_mistake_click_finds_is_invalid_too(self, tmp_path: Path) -> None:
        result, document = run_json(str(tmp_path))  # a folder, not a task file
        assert result.exit_code == 2
        assert document["status"] == "invalid"
        assert "is a directory" in document["problems"][0]["message"]
        result, document = run_json(str(write_task(tmp_path, MESSAGES)), "--max-iterations", "0")
        assert result.exit_code == 2
        assert "--max-iterations" in document["problems"][0]["message"]


class TestEndpointUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "notaurl",
            "email.eu-west-1.amazonaws.com",
            "ftp://email.eu-west-1.amazonaws.com",
            "http://",
            "https://:443",
            "http://127.0.0.1:port",
            "http://127.0.0.1:99999",
            "http://local host:4566",
        ],
    )
    def test_a_url_that_is_not_one_is_a_usage_error(self, tmp_path: Path, url: str) -> None:
        result = invoke("run", str(write_task(tmp_path, MESSAGES)), "--endpoint-url", url)
        assert result.exit_code == 2
        assert result.stdout == ""  # nothing ran: no dialog was shown
        [paragraph] = result.stderr.strip().split("\n\n")
        assert paragraph.startswith("amlses: --endpoint-url takes the URL of an SES endpoint")
        assert "https://email.eu-west-1.amazonaws.com" in paragraph
        assert "http://127.0.0.1:4566" in paragraph

    def test_with_json_it_is_an_invalid_document(self, tmp_path: Path) -> None:
        result, document = run_json(
            str(write_task(tmp_path, MESSAGES)), "--endpoint-url", "notaurl"
        )
        assert result.exit_code == 2
        assert document["status"] == "invalid"
        assert '"notaurl" is not one' in document["problems"][0]["message"]
        assert "hello from a dialog" not in result.output

    def test_a_password_in_the_url_is_not_echoed(self, tmp_path: Path) -> None:
        url = "ftp://user:Hunter2Password@host"
        result = invoke("run", str(write_task(tmp_path, MESSAGES)), "--endpoint-url", url)
        assert result.exit_code == 2
        assert "Hunter2Password" not in result.output
        assert '"ftp://…@host" is not one' in result.stderr

    def test_a_valid_url_is_accepted(self, tmp_path: Path) -> None:
        text = (
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="{SECRET}" '
            'RESULTDATASET="ids" MAXERRORRETRY="0" />\n'
        )
        url = f"http://127.0.0.1:{closed_port()}"
        result, document = run_json(str(write_task(tmp_path, text)), "--endpoint-url", url)
        assert result.exit_code == 1  # the step failed: nothing listens there
        assert document["status"] == "failed"
        assert document["error"]["line"] == 1
        assert_no_leak(result.output, [SECRET])


class TestLocalOutbox:
    def test_the_outbox_is_in_the_document(self, tmp_path: Path) -> None:
        written = tmp_path / "outbox.json"
        result, document = run_json(
            str(EXAMPLES / "send-email.aml"),
            "--local",
            "--fixture",
            str(EXAMPLES / "identities.json"),
            "--outbox",
            str(written),
        )
        assert result.exit_code == 0, result.output
        assert document["status"] == "success"
        outbox = document["outbox"]
        assert [m["Operation"] for m in outbox] == ["SendEmail", "SendRawEmail"]
        assert outbox[0]["Subject"] == "Monthly report"
        assert outbox[0]["To"] == ["bob@example.com", "carol@mail.example.org"]
        assert outbox[0]["MessageId"] == document["variables"]["MsgId"]
        assert json.loads(written.read_text()) == outbox  # --outbox still writes the file

    def test_a_local_run_that_sends_nothing_has_an_empty_outbox(self, tmp_path: Path) -> None:
        result, document = run_json(str(write_task(tmp_path, MESSAGES)), "--local")
        assert result.exit_code == 0, result.output
        assert document["outbox"] == []

    def test_a_run_against_an_endpoint_has_no_outbox(self, tmp_path: Path) -> None:
        result, document = run_json(str(write_task(tmp_path, MESSAGES)))
        assert result.exit_code == 0, result.output
        assert "outbox" not in document


class TestErrors:
    def test_an_internal_error_is_a_document_too(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError(f"something broke near {SECRET}")

        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="{SECRET}" '
            'RESULTDATASET="ids" />\n',
        )
        monkeypatch.setattr("amlses.api.run", broken)
        result, document = run_json(str(task))
        assert result.exit_code == 1
        assert document["status"] == "error"
        assert document["error"]["code"] == "InternalError"
        assert "RuntimeError: something broke near ****" in document["error"]["message"]
        assert_no_leak(result.output, [SECRET])
        assert result.stderr.startswith("amlses: internal error: RuntimeError")

    def test_an_interrupt_before_the_task_ran(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*args: object) -> str:
            raise KeyboardInterrupt

        monkeypatch.setattr("amlses.api.load", interrupted)
        result, document = run_json(str(write_task(tmp_path, MESSAGES)))
        assert result.exit_code == 130
        assert document["status"] == "interrupted"
        assert document["error"]["code"] == "Interrupted"

"""Users' real task files (issue 10), through ``amlses run`` and ``amlses check``.

Encodings as Windows tools save them (UTF-8 with or without a byte-order mark, UTF-16 LE/BE
with one, else Windows-1252 with a note), binary files refused, and every file amlses opens
read bounded and only when it is a regular file: a FIFO or ``/dev/zero`` fails at once.  The
FIFO tests run amlses in a child process with a generous timeout, so a regression shows as a
failure, never as a test run that hangs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from amlses.actions.mail import MAX_FILE_BYTES
from amlses.loader import MAX_TASK_BYTES
from clitools import invoke, write_task

KEY = "AKIAFILESTEST0000001"
SECRET = "files-secret-never-printed-0123456789ab"
CREDENTIALS = f'ACCESSKEY="{KEY}" SECRETKEY="{SECRET}"'
SENDER = "alice@example.com"
#: a line that must never reach the terminal when its file is named as a subtask
SHADOW = "root:$6$c2FsdHNhbHQ$hashhashhash:19000:0:99999:7:::"
#: Windows-1252 bytes: é, €, and two of the five bytes the code page leaves undefined
CP1252_VALUE = b"caf\xe9 \x80 \x81\x9d"
CP1252_NOTE = (
    "t.aml:1:32: note: the task file is not valid UTF-8 (byte 0xE9 at line 1, column 32) "
    "and has no byte-order mark: read as Windows-1252, as Automate on Windows writes it; "
    "0x81, 0x9D (undefined in Windows-1252) kept as U+0081, U+009D"
)


def write_bytes(folder: Path, data: bytes, name: str = "t.aml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_json(task: Path, *options: str) -> tuple[Any, dict[str, Any]]:
    """``amlses run TASK --json`` from the task's folder (so file names stay short)."""
    old = os.getcwd()
    os.chdir(task.parent)
    try:
        result = invoke("run", task.name, "--json", *options)
    finally:
        os.chdir(old)
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def rows(out: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """A dataset of ``--json`` output as one dict per row."""
    dataset = out["datasets"][name]
    return [dict(zip(dataset["columns"], row, strict=True)) for row in dataset["rows"]]


def in_folder(folder: Path, *args: str) -> Any:
    """``amlses ARGS`` run from ``folder``."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        return invoke(*args)
    finally:
        os.chdir(old)


def child(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m amlses ARGS`` in a child process: a hang becomes a TimeoutExpired failure."""
    return subprocess.run(
        [sys.executable, "-m", "amlses", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestEncodings:
    @pytest.mark.parametrize(
        ("codec", "bom"),
        [
            ("utf-8", b""),
            ("utf-8", b"\xef\xbb\xbf"),
            ("utf-16-le", b"\xff\xfe"),
            ("utf-16-be", b"\xfe\xff"),
        ],
        ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"],
    )
    def test_unicode_files_are_read_without_a_note(
        self, tmp_path: Path, codec: str, bom: bytes
    ) -> None:
        text = '<AMVARIABLE NAME="v" VALUE="café € 日本" />\r\n'
        task = write_bytes(tmp_path, bom + text.encode(codec))
        result, out = run_json(task)
        assert result.exit_code == 0, result.output
        assert out["variables"] == {"v": "café € 日本"}
        assert result.stderr == ""
        checked = in_folder(tmp_path, "check", "t.aml")
        assert (checked.exit_code, checked.stdout, checked.stderr) == (0, "t.aml: ok\n", "")

    def test_windows_1252_is_read_whole_with_one_note(self, tmp_path: Path) -> None:
        task = write_bytes(tmp_path, b'<AMVARIABLE NAME="v" VALUE="' + CP1252_VALUE + b'" />\n')
        result, out = run_json(task)
        assert result.exit_code == 0, result.output
        # the undefined bytes are kept as Windows keeps them, never replaced by U+FFFD
        assert out["variables"] == {"v": "café € \x81\x9d"}
        assert result.stderr == CP1252_NOTE + "\n"
        checked = in_folder(tmp_path, "check", "t.aml")
        assert checked.exit_code == 0
        assert checked.stderr == CP1252_NOTE + "\n"
        assert checked.stdout == "t.aml: ok\n"

    def test_the_encoding_is_decided_for_the_whole_file(self, tmp_path: Path) -> None:
        """UTF-8 text with one stray Windows-1252 byte on line 3 is Windows-1252 throughout —
        never a mix — and the note points at the stray byte."""
        text = (
            '<AMVARIABLE NAME="a" VALUE="é" />\n'.encode()
            + b'<AMVARIABLE NAME="b" VALUE="x" />\n'
            + b'<AMVARIABLE NAME="c" VALUE="\xe9" />\n'
        )
        task = write_bytes(tmp_path, text)
        result, out = run_json(task)
        assert result.exit_code == 0, result.output
        assert out["variables"] == {"a": "Ã©", "b": "x", "c": "é"}
        assert result.stderr == (
            "t.aml:3:29: note: the task file is not valid UTF-8 (byte 0xE9 at line 3, column "
            "29) and has no byte-order mark: read as Windows-1252, as Automate on Windows "
            "writes it\n"
        )

    def test_a_broken_utf_16_file_is_refused(self, tmp_path: Path) -> None:
        task = write_bytes(tmp_path, b"\xff\xfe" + "<AMVARIABLE />".encode("utf-16-le") + b"<")
        result = in_folder(tmp_path, "check", "t.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: t.aml is not an AML task file: it starts with a UTF-16 LE byte-order mark "
            "but is not valid UTF-16 (truncated data at byte 30)\n"
        )
        assert task.exists()

    def test_a_subtask_in_windows_1252_runs(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, b'<AMVARIABLE NAME="w" VALUE="' + CP1252_VALUE + b'" />\n', "c.aml")
        task = write_task(tmp_path, '<AMTASK TASKFILE="c.aml" />\n')
        result, out = run_json(task)
        assert result.exit_code == 0, result.output
        assert out["variables"] == {"w": "café € \x81\x9d"}

    def test_body_and_csv_files_in_every_encoding(
        self, tmp_path: Path, endpoint: str, ses_client: Any
    ) -> None:
        """TEXTBODYFILE in Windows-1252 (a note names it), HTMLBODYFILE in UTF-16 BE and a
        CSVFILE in UTF-16 LE, as the template and the bulk rows SES received."""
        ses_client.verify_email_identity(EmailAddress=SENDER)
        write_bytes(tmp_path, b"Ch\xe8re cliente, \x80 5", "body.txt")
        write_bytes(tmp_path, b"\xfe\xff" + "<p>Grüße</p>".encode("utf-16-be"), "body.html")
        csv = "To;Name\r\nbob@example.com;Zoë\r\n"
        write_bytes(tmp_path, b"\xff\xfe" + csv.encode("utf-16-le"), "rows.csv")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="create_template" {CREDENTIALS} TEMPLATE="T" SUBJECT="S" '
            'TEXTBODYFILE="body.txt" HTMLBODYFILE="body.html" />\n'
            f'<AMAWSSES ACTIVITY="get_template" {CREDENTIALS} TEMPLATE="T" RESULTDATASET="G" />\n'
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" '
            'CSVFILE="rows.csv" SUBJECT="Hi" TEXTBODY="Hello" RESULTDATASET="Sent" />\n',
        )
        result, out = run_json(task, "--endpoint-url", endpoint)
        assert result.exit_code == 0, result.output
        template = rows(out, "G")[0]
        assert (template["TextPart"], template["HtmlPart"]) == (
            "Chère cliente, € 5",
            "<p>Grüße</p>",
        )
        sent = rows(out, "Sent")
        assert [(row["Recipient"], row["Status"]) for row in sent] == [
            ("bob@example.com", "Success")
        ]
        assert result.stderr == (
            "note: the TEXTBODYFILE file body.txt is not valid UTF-8 (byte 0xE8 at line 1, "
            "column 3) and has no byte-order mark: read as Windows-1252, as Automate on "
            "Windows writes it\n"
        )


class TestNotText:
    def test_a_binary_task_file_is_refused_unquoted(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, b'<AMVARIABLE NAME="v" VALUE="\x1b[31mred" />')
        result = in_folder(tmp_path, "check", "t.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: t.aml is not an AML task file: it is not a text file (the control "
            "character 0x1B at line 1, column 29)\n"
        )
        assert "\x1b" not in result.output

    def test_nul_bytes_make_a_file_binary(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, b"<AMVARIABLE />\n\x00\x01\x02")
        result = in_folder(tmp_path, "run", "t.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: t.aml is not an AML task file: it is not a text file (a NUL byte at "
            "line 2, column 1)\n"
        )

    def test_tabs_form_feeds_and_crlf_are_text(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, b'<AMVARIABLE\tNAME="v"\r\n VALUE="1" />\x0c\r\n')
        result = in_folder(tmp_path, "check", "t.aml")
        assert (result.exit_code, result.stdout) == (0, "t.aml: ok\n")

    def test_a_subtask_that_is_not_aml_is_never_echoed(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, f"{SHADOW}\ndaemon:*:19000:0:99999:7:::\n".encode(), "shadow")
        task = write_task(tmp_path, '<AMTASK TASKFILE="shadow" />\n')
        result = in_folder(tmp_path, "run", task.name)
        assert result.exit_code == 1
        assert result.stderr == (
            "amlses: task.aml:1: <AMTASK>: subtask shadow is not an AML task file: it does "
            "not start with an AML step (<AMVARIABLE …>, <AMAWSSES …>) or a comment\n"
            '    <AMTASK TASKFILE="shadow" />\n'
        )
        assert "root:" not in result.output
        checked = in_folder(tmp_path, "check", "shadow")
        assert checked.exit_code == 2 and "root:" not in checked.output

    def test_a_binary_subtask_is_not_an_aml_task_file(self, tmp_path: Path) -> None:
        write_bytes(tmp_path, b"<\x7fELF\x02\x01\x01\x00", "tool.aml")
        task = write_task(tmp_path, '<AMTASK TASKFILE="tool.aml" />\n')
        result = in_folder(tmp_path, "run", task.name)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            "amlses: task.aml:1: <AMTASK>: subtask tool.aml is not an AML task file: it is not "
            "a text file (the control character 0x7F at line 1, column 2)"
        )

    def test_a_subtask_with_syntax_errors_still_shows_its_own_line(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMIF EXPRESSION="1=1">\n', "sub.aml")
        task = write_task(tmp_path, '<AMTASK TASKFILE="sub.aml" />\n')
        result = in_folder(tmp_path, "run", task.name)
        assert result.exit_code == 2
        assert '\n    <AMIF EXPRESSION="1=1">\n' in result.stderr

    def test_a_binary_body_file_fails_its_step(self, tmp_path: Path, endpoint: str) -> None:
        write_bytes(tmp_path, b"GIF89a\x01\x00\x01\x00\x00", "body.txt")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="b@example.com" '
            'SUBJECT="S" TEXTBODYFILE="body.txt" />\n',
        )
        result = in_folder(tmp_path, "run", task.name, "--endpoint-url", endpoint)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            'amlses: task.aml:1: <AMAWSSES ACTIVITY="send_email">: the TEXTBODYFILE file '
            "body.txt cannot be used: it is not a text file (the control character 0x01 at "
            "line 1, column 7)"
        )


class TestSpecialFiles:
    def test_check_dev_zero_prints_one_line(self) -> None:
        result = invoke("check", "/dev/zero")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: cannot read task file /dev/zero: not a regular file (a device, FIFO or "
            "socket)\n"
        )

    def test_a_folder_is_not_a_subtask(self, tmp_path: Path) -> None:
        (tmp_path / "dir.aml").mkdir()
        write_task(tmp_path, '<AMTASK TASKFILE="dir.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml")
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            "amlses: task.aml:1: <AMTASK>: subtask cannot read task file dir.aml: it is a "
            "folder, not a file"
        )

    def test_a_fifo_task_fails_at_once(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.aml")
        for command in ("check", "run"):
            done = child(command, "pipe.aml", cwd=tmp_path)
            assert done.returncode == 2
            assert done.stderr == (
                "amlses: cannot read task file pipe.aml: not a regular file (a device, FIFO "
                "or socket)\n"
            )

    def test_a_fifo_subtask_fails_its_step_at_once(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.aml")
        write_task(tmp_path, '<AMTASK TASKFILE="pipe.aml" />\n')
        done = child("run", "task.aml", cwd=tmp_path)
        assert done.returncode == 1
        assert done.stderr == (
            "amlses: task.aml:1: <AMTASK>: subtask cannot read task file pipe.aml: not a "
            'regular file (a device, FIFO or socket)\n    <AMTASK TASKFILE="pipe.aml" />\n'
        )

    @pytest.mark.parametrize("attribute", ["TEXTBODYFILE", "HTMLBODYFILE"])
    def test_fifo_and_device_body_files_fail_at_once(
        self, tmp_path: Path, endpoint: str, attribute: str
    ) -> None:
        os.mkfifo(tmp_path / "pipe.txt")
        for name in ("pipe.txt", "/dev/zero"):
            write_task(
                tmp_path,
                f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" '
                f'TO="b@example.com" SUBJECT="S" {attribute}="{name}" />\n',
            )
            done = child("run", "task.aml", "--endpoint-url", endpoint, cwd=tmp_path)
            assert done.returncode == 1
            assert done.stderr.splitlines()[0] == (
                f'amlses: task.aml:1: <AMAWSSES ACTIVITY="send_email">: the {attribute} file '
                f"{name} cannot be read: not a regular file (a device, FIFO or socket)"
            )

    def test_fifo_csv_message_and_attachment_files_fail_at_once(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        os.mkfifo(tmp_path / "pipe")
        steps = {
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" '
            'CSVFILE="pipe" SUBJECT="S" TEXTBODY="x" RESULTDATASET="R" />': (
                '<AMAWSSES ACTIVITY="send_bulk_email">: the CSVFILE file pipe cannot be read: '
                "not a regular file (a device, FIFO or socket)"
            ),
            f'<AMAWSSES ACTIVITY="send_raw_email" {CREDENTIALS} MESSAGEFILE="pipe" />': (
                '<AMAWSSES ACTIVITY="send_raw_email">: the MESSAGEFILE file pipe cannot be '
                "read: not a regular file (a device, FIFO or socket)"
            ),
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="b@example.com" '
            'SUBJECT="S" TEXTBODY="x" ATTACHMENTS="pipe" />': (
                '<AMAWSSES ACTIVITY="send_email">: The attachment '
                "pipe is not a regular file (a device, FIFO or socket); ATTACHMENTS "
                "takes file paths separated by | (or ;), relative paths being relative to the "
                "task file's folder."
            ),
        }
        for step, error in steps.items():
            write_task(tmp_path, step + "\n")
            done = child("run", "task.aml", "--endpoint-url", endpoint, cwd=tmp_path)
            assert done.returncode == 1
            assert done.stderr.splitlines()[0] == f"amlses: task.aml:1: {error}"

    def test_a_fixture_that_is_a_device_or_fifo(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.json")
        write_task(tmp_path, '<AMVARIABLE NAME="v" VALUE="1" />\n')
        for name in ("/dev/zero", "pipe.json"):
            done = child("run", "task.aml", "--local", "--fixture", name, cwd=tmp_path)
            assert done.returncode == 2
            assert done.stderr.splitlines()[-1] == (
                f"amlses: The fixture {name} cannot be read: not a regular file (a device, FIFO "
                "or socket)"
            )

    def test_a_key_file_that_is_a_fifo(self, tmp_path: Path) -> None:
        key = tmp_path / "key"
        os.mkfifo(key, 0o600)
        done = subprocess.run(
            [sys.executable, "-m", "amlses", "encrypt"],
            input="secret\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "AMLSES_KEY_FILE": str(key)},
        )
        assert done.returncode == 1
        assert done.stderr == (
            f"amlses: The key file {key} cannot be read: not a regular file (a device, FIFO or "
            "socket)\n"
        )


class TestSizes:
    def test_a_task_file_over_the_limit(self, tmp_path: Path) -> None:
        with (tmp_path / "big.aml").open("wb") as file:
            file.truncate(MAX_TASK_BYTES + 1)  # sparse: nothing is written
        result = in_folder(tmp_path, "check", "big.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: big.aml: the task file is 10,000,001 bytes; amlses reads at most 10,000,000\n"
        )

    def test_a_body_file_over_the_limit(self, tmp_path: Path, endpoint: str) -> None:
        with (tmp_path / "big.txt").open("wb") as file:
            file.truncate(MAX_FILE_BYTES + 1)
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="b@example.com" '
            'SUBJECT="S" TEXTBODYFILE="big.txt" />\n',
        )
        result = in_folder(tmp_path, "run", task.name, "--endpoint-url", endpoint)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            'amlses: task.aml:1: <AMAWSSES ACTIVITY="send_email">: the TEXTBODYFILE file '
            "big.txt cannot be read: the file is 52,428,801 bytes; amlses reads at most "
            "52,428,800"
        )

    def test_a_file_name_with_control_characters_is_escaped(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            '<AMVARIABLE NAME="p" VALUE="%&quot;a&quot; &amp; Chr(27) &amp; &quot;[2Jb&quot;%" />\n'
            '<AMTASK TASKFILE="%p%" />\n',
        )
        result = in_folder(tmp_path, "run", task.name, "--quiet")
        assert result.exit_code == 1
        assert "\x1b" not in result.output
        assert result.stderr.splitlines()[0] == (
            "amlses: task.aml:2: <AMTASK>: subtask cannot read task file a\\x1b[2Jb: No such "
            "file or directory"
        )

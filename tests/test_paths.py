"""Windows paths in users' tasks (issue 10): ``amlses run --map-path`` and ``AMLSES_PATH_MAP``.

Tasks written on Windows name ``C:\\Tasks\\…`` and ``\\\\server\\share\\…``.  A mapping says where
such a drive or share is here; the longest prefix wins and prefixes match case-insensitively, as
on Windows.  An unmapped Windows path is a clear error naming the option — never a file called
``C:\\Tasks\\x.aml`` (or a folder ``C:``) next to the task.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from clitools import invoke, write_task

KEY = "AKIAPATHSTEST0000001"
SECRET = "paths-secret-never-printed-0123456789a"
CREDENTIALS = f'ACCESSKEY="{KEY}" SECRETKEY="{SECRET}"'
SENDER = "alice@example.com"


@pytest.fixture(autouse=True)
def no_path_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """No mapping from the machine running the tests."""
    monkeypatch.delenv("AMLSES_PATH_MAP", raising=False)


def in_folder(folder: Path, *args: str) -> Any:
    """``amlses ARGS`` run from ``folder``, so messages name short relative paths."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        return invoke(*args)
    finally:
        os.chdir(old)


def subtask(folder: Path, relative: str, value: str) -> None:
    """A subtask under ``folder`` that sets ``where`` to ``value``."""
    write_task(folder, f'<AMVARIABLE NAME="where" VALUE="{value}" />\n', relative)


def where(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["variables"]["where"])


class TestMapPath:
    def test_a_drive_maps_to_a_folder(self, tmp_path: Path) -> None:
        subtask(tmp_path, "c/Tasks/child.aml", "c")
        write_task(tmp_path, '<AMTASK TASKFILE="C:\\Tasks\\child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml", "--json", "--map-path", "C:\\=c/")
        assert where(result) == "c"

    def test_forward_slashes_and_relative_parts(self, tmp_path: Path) -> None:
        """``C:/…`` is a drive path too; ``..`` never climbs above the mapped drive."""
        subtask(tmp_path, "c/Tasks/child.aml", "c")
        write_task(tmp_path, '<AMTASK TASKFILE="C:/Temp/../../../Tasks/./child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml", "--json", "--map-path", "C:\\=c")
        assert where(result) == "c"

    def test_the_longest_prefix_wins(self, tmp_path: Path) -> None:
        subtask(tmp_path, "c/Tasks/child.aml", "drive")
        subtask(tmp_path, "shared/child.aml", "shared")
        write_task(
            tmp_path,
            '<AMVARIABLE NAME="where" VALUE="" />\n'
            '<AMTASK TASKFILE="C:\\Tasks\\child.aml" />\n'
            '<AMVARIABLE NAME="first" VALUE="%where%" />\n'
            '<AMTASK TASKFILE="C:\\Tasks\\Shared\\child.aml" />\n',
        )
        for order in (
            ("C:\\=c", "C:\\Tasks\\Shared=shared"),
            ("C:\\Tasks\\Shared=shared", "C:\\=c"),
        ):
            maps = [arg for spec in order for arg in ("--map-path", spec)]
            result = in_folder(tmp_path, "run", "task.aml", "--json", *maps)
            assert where(result) == "shared"
            assert json.loads(result.stdout)["variables"]["first"] == "drive"

    def test_prefixes_match_case_insensitively(self, tmp_path: Path) -> None:
        subtask(tmp_path, "c/Tasks/child.aml", "c")
        write_task(tmp_path, '<AMTASK TASKFILE="c:\\tasks\\child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml", "--json", "--map-path", "C:\\TASKS=c/Tasks")
        assert where(result) == "c"

    def test_a_unc_share(self, tmp_path: Path) -> None:
        subtask(tmp_path, "mnt/share/jobs/child.aml", "share")
        write_task(tmp_path, '<AMTASK TASKFILE="\\\\fs01\\Share\\jobs\\child.aml" />\n')
        result = in_folder(
            tmp_path, "run", "task.aml", "--json", "--map-path", "\\\\FS01\\share=mnt/share"
        )
        assert where(result) == "share"

    def test_an_error_handler_task_through_a_mapped_path(self, tmp_path: Path) -> None:
        subtask(tmp_path, "c/Tasks/onerror.aml", "handled")
        write_task(
            tmp_path,
            '<AMVARIABLE NAME="where" VALUE="" />\n'
            '<AMTASK TASKFILE="missing.aml" AM_ONERROR="CONTINUE" '
            'AM_RUNTASK="C:\\Tasks\\onerror.aml" />\n',
        )
        result = in_folder(tmp_path, "run", "task.aml", "--json", "--map-path", "C:\\=c")
        assert json.loads(result.stdout)["variables"]["where"] == "handled"

    def test_the_task_argument_itself(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMVARIABLE NAME="where" VALUE="root" />\n', "c/Tasks/task.aml")
        ran = in_folder(tmp_path, "run", "C:\\Tasks\\task.aml", "--json", "--map-path", "C:\\=c")
        assert where(ran) == "root"
        checked = in_folder(tmp_path, "check", "C:\\Tasks\\task.aml", "--map-path", "C:\\=c")
        assert (checked.exit_code, checked.stdout) == (0, f"{tmp_path}/c/Tasks/task.aml: ok\n")


class TestEnvironment:
    def test_entries_separated_by_semicolons(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        subtask(tmp_path, "c/child.aml", "c")
        subtask(tmp_path, "d;1/child.aml", "d")
        monkeypatch.setenv("AMLSES_PATH_MAP", f"C:\\={tmp_path}/c;D:\\={tmp_path}/d;;1;")
        write_task(
            tmp_path,
            '<AMVARIABLE NAME="where" VALUE="" />\n'
            '<AMTASK TASKFILE="C:\\child.aml" />\n'
            '<AMVARIABLE NAME="first" VALUE="%where%" />\n'
            '<AMTASK TASKFILE="D:\\child.aml" />\n',
        )
        result = in_folder(tmp_path, "run", "task.aml", "--json")
        assert where(result) == "d"
        assert json.loads(result.stdout)["variables"]["first"] == "c"

    def test_map_path_wins_over_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        subtask(tmp_path, "env/child.aml", "env")
        subtask(tmp_path, "cli/child.aml", "cli")
        monkeypatch.setenv("AMLSES_PATH_MAP", f"c:={tmp_path}/env")
        write_task(tmp_path, '<AMTASK TASKFILE="C:\\child.aml" />\n')
        assert where(in_folder(tmp_path, "run", "task.aml", "--json")) == "env"
        result = in_folder(tmp_path, "run", "task.aml", "--json", "--map-path", "C:\\=cli")
        assert where(result) == "cli"

    def test_a_bad_entry_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AMLSES_PATH_MAP", "/srv/c")
        write_task(tmp_path, '<AMVARIABLE NAME="v" VALUE="1" />\n')
        result = in_folder(tmp_path, "run", "task.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: AMLSES_PATH_MAP takes WINDOWS=LOCAL, a drive or share and a folder here, "
            "e.g. 'C:\\=/srv/c/' or '\\\\server\\share=/mnt/share', not '/srv/c'\n"
        )


class TestUnmapped:
    def test_an_unmapped_drive_fails_the_step_naming_the_option(self, tmp_path: Path) -> None:
        # where the old reading would have looked: a folder "C:" beside the task
        subtask(tmp_path, "C:/Tasks/child.aml", "decoy")
        write_task(tmp_path, '<AMTASK TASKFILE="C:\\Tasks\\child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml")
        assert result.exit_code == 1
        assert result.stderr == (
            "amlses: task.aml:1: <AMTASK>: C:\\Tasks\\child.aml is a Windows path and no "
            "--map-path maps its drive to a folder here: run with --map-path 'C:\\=/srv/c/' "
            "(or set AMLSES_PATH_MAP)\n"
            '    <AMTASK TASKFILE="C:\\Tasks\\child.aml" />\n'
        )
        assert "decoy" not in result.output

    def test_an_unmapped_share(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMTASK TASKFILE="\\\\fs01\\share\\child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml", "--map-path", "C:\\=c")
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            "amlses: task.aml:1: <AMTASK>: \\\\fs01\\share\\child.aml is a Windows path and no "
            "--map-path maps its share to a folder here: run with --map-path "
            "'\\\\fs01\\share=/mnt/share/' (or set AMLSES_PATH_MAP)"
        )

    def test_another_drive_than_the_mapped_one(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMTASK TASKFILE="d:/child.aml" />\n')
        result = in_folder(tmp_path, "run", "task.aml", "--map-path", "C:\\=c")
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            "amlses: task.aml:1: <AMTASK>: d:\\child.aml is a Windows path and no --map-path "
            "maps its drive to a folder here: run with --map-path 'D:\\=/srv/d/' (or set "
            "AMLSES_PATH_MAP)"
        )

    def test_an_unmapped_path_is_a_step_failure_on_error_handling_applies(
        self, tmp_path: Path
    ) -> None:
        write_task(
            tmp_path,
            '<AMTASK TASKFILE="C:\\x.aml" AM_ONERROR="CONTINUE" />\n'
            '<AMVARIABLE NAME="where" VALUE="%AMError.ErrorNumber%" />\n',
        )
        result = in_folder(tmp_path, "run", "task.aml", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["variables"]["where"] == "StepError"

    def test_an_unmapped_task_argument(self, tmp_path: Path) -> None:
        result = in_folder(tmp_path, "check", "C:\\Tasks\\task.aml")
        assert result.exit_code == 2
        assert result.stderr == (
            "amlses: C:\\Tasks\\task.aml is a Windows path and no --map-path maps its drive to "
            "a folder here: run with --map-path 'C:\\=/srv/c/' (or set AMLSES_PATH_MAP)\n"
        )

    @pytest.mark.parametrize("spec", ["C:\\", "/srv=/x", "C:\\=", "server\\share=/x"])
    def test_a_bad_map_path(self, tmp_path: Path, spec: str) -> None:
        write_task(tmp_path, '<AMVARIABLE NAME="v" VALUE="1" />\n')
        for command in ("run", "check"):
            result = in_folder(tmp_path, command, "task.aml", "--map-path", spec)
            assert result.exit_code == 2
            assert result.stderr == (
                "amlses: --map-path takes WINDOWS=LOCAL, a drive or share and a folder here, "
                "e.g. 'C:\\=/srv/c/' or '\\\\server\\share=/mnt/share', not "
                f"'{spec}'\n"
            )

    def test_relative_and_posix_paths_are_not_windows_paths(self, tmp_path: Path) -> None:
        subtask(tmp_path, "sub/child.aml", "relative")
        write_task(tmp_path, '<AMTASK TASKFILE="sub\\child.aml" />\n')
        assert where(in_folder(tmp_path, "run", "task.aml", "--json")) == "relative"
        write_task(tmp_path, f'<AMTASK TASKFILE="{tmp_path}/sub/child.aml" />\n')
        assert where(in_folder(tmp_path, "run", "task.aml", "--json")) == "relative"


class TestMailFiles:
    def test_body_csv_and_attachment_files_through_a_mapped_drive(
        self, tmp_path: Path, endpoint: str, ses_client: Any
    ) -> None:
        ses_client.verify_email_identity(EmailAddress=SENDER)
        mail = tmp_path / "c" / "Mail"
        mail.mkdir(parents=True)
        (mail / "body.txt").write_text("Body from C:")
        (mail / "body.html").write_text("<p>HTML from C:</p>")
        (mail / "rows.csv").write_text("To,Name\nbob@example.com,Bob\n")
        (mail / "report.pdf").write_bytes(b"%PDF-1.4 report")
        write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="create_template" {CREDENTIALS} TEMPLATE="P" SUBJECT="S" '
            'TEXTBODYFILE="C:\\Mail\\body.txt" HTMLBODYFILE="c:/mail/../Mail/body.html" />\n'
            f'<AMAWSSES ACTIVITY="get_template" {CREDENTIALS} TEMPLATE="P" RESULTDATASET="G" />\n'
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" '
            'CSVFILE="C:\\Mail\\rows.csv" SUBJECT="Hi" TEXTBODY="x" RESULTDATASET="Sent" />\n'
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="b@example.com" '
            'SUBJECT="S" TEXTBODY="x" ATTACHMENTS="C:\\Mail\\report.pdf" />\n',
        )
        result = in_folder(
            tmp_path, "run", "task.aml", "--json", "--endpoint-url", endpoint, "--map-path",
            "C:\\=c",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        template = dict(
            zip(out["datasets"]["G"]["columns"], out["datasets"]["G"]["rows"][0], strict=True)
        )
        assert (template["TextPart"], template["HtmlPart"]) == (
            "Body from C:",
            "<p>HTML from C:</p>",
        )
        assert [row[1] for row in out["datasets"]["Sent"]["rows"]] == ["bob@example.com"]
        assert out["steps"][-1]["outcome"].startswith("sent to 1 recipient(s) with 1 attachment(s)")

    @pytest.mark.parametrize(
        ("attribute", "extra"),
        [
            ("TEXTBODYFILE", ""),
            ("ATTACHMENTS", 'TEXTBODY="x" '),
        ],
    )
    def test_an_unmapped_mail_file_fails_its_step(
        self, tmp_path: Path, endpoint: str, attribute: str, extra: str
    ) -> None:
        write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="b@example.com" '
            f'SUBJECT="S" {extra}{attribute}="C:\\Mail\\file.txt" />\n',
        )
        result = in_folder(tmp_path, "run", "task.aml", "--endpoint-url", endpoint)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            'amlses: task.aml:1: <AMAWSSES ACTIVITY="send_email">: C:\\Mail\\file.txt is a '
            "Windows path and no --map-path maps its drive to a folder here: run with "
            "--map-path 'C:\\=/srv/c/' (or set AMLSES_PATH_MAP)"
        )

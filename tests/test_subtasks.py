"""Subtasks are loaded like root tasks, find their files from their own folder, are masked from
the first line of the run, and cannot recurse forever — all through ``amlses run``.

These are the bugs the one-loader layout fixed: a subtask skipped the root task's secret
preparation, resolved its paths from the root task's folder, and recursed into a
``RecursionError``; secrets reaching a step through ``%var%`` or written into ``PROXYHOST``
were echoed in clear.  Secrets are searched for plain, URL-encoded and base64-encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from amlses.emulator import read_outbox
from clitools import assert_no_leak, invoke, write_task

CHILD_SECRET = "Child/Secret+Value=9001"
VARIABLE_SECRET = "Var/Secret+Value=9002"
PROXY_SECRET = "Proxy/Pass+Word=9003"
KEY_ID = "AKIASUBTASKTEST00001"


def run(task: Path, endpoint: str, *args: str) -> Result:
    return invoke("run", str(task), "--endpoint-url", endpoint, *args)


def everything(result: Result) -> str:
    return result.stdout + result.stderr


class TestSecretsInSubtasks:
    CHILD = f"""<AMVARIABLE NAME="pw" VALUE="{CHILD_SECRET}" />
<AMSHOWDIALOG>the child holds %pw%</AMSHOWDIALOG>
<AMAWSSES ACTIVITY="create_session" SESSION="s" ACCESSKEY="{KEY_ID}" SECRETKEY="%pw%" />
<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="s" RESULTDATASET="ids" />
"""

    def test_a_child_secret_held_in_a_variable_is_masked_as_in_a_direct_run(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        write_task(tmp_path, self.CHILD, "child.aml")
        parent = write_task(tmp_path, '<AMTASK TASKFILE="child.aml" />', "parent.aml")
        for task in (tmp_path / "child.aml", parent):
            result = run(task, endpoint)
            assert result.exit_code == 0, result.output
            assert "the child holds ****" in result.stdout
            assert "pw = ****" in result.stdout
            assert_no_leak(everything(result), [CHILD_SECRET])

    @pytest.mark.parametrize(
        ("child", "written", "options"),
        [
            ("sub/child.aml", "sub\\child.aml", ("--json",)),
            ("drive/jobs/child.aml", "C:\\jobs\\child.aml", ("--map-path", "C:\\={drive}/")),
        ],
        ids=["relative", "windows-path-mapped"],
    )
    def test_a_child_secret_is_masked_from_the_first_line_of_the_parent(
        self,
        tmp_path: Path,
        endpoint: str,
        child: str,
        written: str,
        options: tuple[str, ...],
    ) -> None:
        """The parent prints the value before the subtask is even loaded; the early look at
        subtasks for their secrets follows --map-path too."""
        write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" '
            f'SECRETKEY="{CHILD_SECRET}" RESULTDATASET="ids" />',
            child,
        )
        parent = write_task(
            tmp_path,
            f"""<AMSHOWDIALOG>early: {CHILD_SECRET}</AMSHOWDIALOG>
<AMTASK TASKFILE="{written}" />
""",
            "parent.aml",
        )
        args = [option.format(drive=tmp_path / "drive") for option in options]
        result = run(parent, endpoint, *args)
        assert result.exit_code == 0, result.output
        assert "early: ****" in result.stdout
        assert_no_leak(everything(result), [CHILD_SECRET])

    def test_a_plain_variable_that_becomes_a_secret_key_is_masked_in_its_own_step_line(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            f"""<AMVARIABLE NAME="Key" VALUE="{VARIABLE_SECRET}" />
<AMVARIABLE NAME="Copy" VALUE="%Key%" />
<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="%key%"
  RESULTDATASET="ids" />
""",
        )
        for extra in ((), ("--json",)):
            result = run(task, endpoint, *extra)
            assert result.exit_code == 0, result.output
            assert "Key = ****" in result.stdout
            assert "Copy = ****" in result.stdout
            assert_no_leak(everything(result), [VARIABLE_SECRET])

    def test_a_variable_set_at_run_time_and_used_as_a_secret_is_masked(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        """A value computed while the task runs (no literal to find first) is masked as set."""
        task = write_task(
            tmp_path,
            f"""<AMVARIABLE NAME="part" VALUE="Var/Secret+Value=" />
<AMVARIABLE NAME="key" VALUE="%part & &quot;9002&quot;%" />
<AMSHOWDIALOG>%key%</AMSHOWDIALOG>
<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="%key%"
  RESULTDATASET="ids" />
""",
        )
        result = run(task, endpoint)
        assert result.exit_code == 0, result.output
        assert "****" in result.stdout
        assert_no_leak(everything(result), [VARIABLE_SECRET])

    def test_a_password_written_into_proxyhost_is_masked_in_the_source_line(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="x1234567" '
            f'PROXYHOST="ann:{PROXY_SECRET}@proxy.invalid:8080" RESULTDATASET="ids" BOGUS="1" />',
        )
        for command in ("check", "run"):
            result = invoke(command, str(task))
            assert result.exit_code == 2, result.output
            assert 'PROXYHOST="ann:****@proxy.invalid:8080"' in result.stderr
            assert_no_leak(everything(result), [PROXY_SECRET])


class TestPathsInSubtasks:
    def test_a_subtask_finds_its_files_and_its_own_subtasks_from_its_own_folder(
        self, tmp_path: Path, endpoint: str, ses_client: Any, aws_credentials: dict[str, str]
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="alice@example.com")
        # decoys beside the root task, which the old resolution would have picked
        write_task(tmp_path, "Email\nwrong@example.com\n", "list.csv")
        write_task(tmp_path, "<AMSHOWDIALOG>wrong grandchild</AMSHOWDIALOG>", "grandchild.aml")
        write_task(tmp_path, "Dear reader", "sub/body.txt")
        write_task(tmp_path, "Email\nbob@example.com\ncarol@example.com\n", "sub/list.csv")
        write_task(tmp_path, "<AMSHOWDIALOG>right grandchild</AMSHOWDIALOG>", "sub/grandchild.aml")
        write_task(
            tmp_path,
            """<AMAWSSES ACTIVITY="send_email" FROM="alice@example.com" TO="dan@example.com"
  SUBJECT="From a file" TEXTBODYFILE="body.txt" />
<AMAWSSES ACTIVITY="send_bulk_email" FROM="alice@example.com" CSVFILE="list.csv"
  TOFIELD="Email" SUBJECT="Bulk" TEXTBODY="Hi" MAXSENDRATE="50" RESULTDATASET="sent" />
<AMTASK TASKFILE="grandchild.aml" />
""",
            "sub/child.aml",
        )
        parent = write_task(tmp_path, '<AMTASK TASKFILE="sub/child.aml" />', "parent.aml")
        result = run(parent, endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["right grandchild"]
        recipients = sorted(r for message in read_outbox(endpoint) for r in message.recipients)
        assert recipients == ["bob@example.com", "carol@example.com", "dan@example.com"]


class TestRecursion:
    def test_a_task_that_runs_itself_is_stopped_naming_the_chain(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(tmp_path, '<AMTASK TASKFILE="a.aml" />', "a.aml")
        result = run(task, endpoint, "-q")
        assert result.exit_code == 1
        assert "RecursionError" not in result.output
        assert "the subtask would run itself again" in result.stderr
        assert f"{task} -> {task}" in result.stderr

    def test_a_cycle_through_another_task_is_stopped_before_it_starts_again(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        first = write_task(tmp_path, '<AMTASK TASKFILE="b.aml" />', "a.aml")
        second = write_task(
            tmp_path, '<AMSHOWDIALOG>in b</AMSHOWDIALOG><AMTASK TASKFILE="a.aml" />', "b.aml"
        )
        result = run(first, endpoint, "-q")
        assert result.exit_code == 1
        assert result.stdout.splitlines() == ["in b"]
        assert f"{first} -> {second} -> {tmp_path / 'a.aml'}" in result.stderr

    def test_subtasks_nest_at_most_32_deep(self, tmp_path: Path, endpoint: str) -> None:
        for depth in range(40):
            write_task(tmp_path, f'<AMTASK TASKFILE="t{depth + 1}.aml" />', f"t{depth}.aml")
        result = run(tmp_path / "t0.aml", endpoint, "-q")
        assert result.exit_code == 1
        assert "subtasks are nested more than 32 deep" in result.stderr
        assert "t32.aml -> " in result.stderr and "t34.aml" not in result.stderr

    def test_a_recursion_can_be_handled_like_any_step_failure(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            """<AMTASK TASKFILE="loop.aml" AM_ONERROR="CONTINUE" />
<AMSHOWDIALOG>went on</AMSHOWDIALOG>
""",
            "loop.aml",
        )
        result = run(task, endpoint, "-q")
        assert "went on" in result.stdout
        assert "RecursionError" not in result.output


class TestReviewFindings:
    def test_a_proxy_written_into_a_variable_is_masked_in_its_own_step_line(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            f"""<AMVARIABLE NAME="px" VALUE="ann:{PROXY_SECRET}@127.0.0.1:9" />
<AMSHOWDIALOG>proxy %px%</AMSHOWDIALOG>
<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="x1234567"
  PROXYHOST="%px%" RESULTDATASET="ids" AM_ONERROR="CONTINUE" MAXERRORRETRY="0" />
""",
        )
        result = run(task, endpoint)
        assert "px = ****" in result.stdout and "proxy ****" in result.stdout
        assert_no_leak(everything(result), [PROXY_SECRET])

    def test_a_failing_am_runtask_does_not_override_continue(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            '<AMTASK TASKFILE="gone.aml" AM_RUNTASK="also-gone.aml" AM_ONERROR="CONTINUE" />\n'
            "<AMSHOWDIALOG>went on</AMSHOWDIALOG>\n",
        )
        result = run(task, endpoint, "-q")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["went on"]
        assert "AM_RUNTASK also-gone.aml failed: subtask cannot read task file" in result.stderr

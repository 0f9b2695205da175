"""LazyEmulator: moto in a child process, its URL known at once, seeded before it serves, and
never outliving the run that started it (stopped, interrupted or killed)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest

from amlses import localstart
from amlses.errors import AmlError, UsageError
from amlses.localstart import LazyEmulator
from clitools import write_task

FIXTURE = Path(__file__).resolve().parents[1] / "examples" / "identities.json"


def _client(url: str) -> Any:
    return botocore.session.Session().create_client(
        "ses",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _refuses(url: str) -> bool:
    """Whether nothing listens at ``url`` any more (the child that held the socket is gone)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            return False
    except OSError:
        return True


def _wait_for(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)


class TestLazyEmulator:
    def test_the_url_is_known_at_once_and_requests_wait_for_the_seeded_account(self) -> None:
        emulator = LazyEmulator(FIXTURE)
        with emulator:
            url = emulator.endpoint_url  # before moto is imported anywhere: the parent's socket
            assert url.startswith("http://127.0.0.1:")
            client = _client(url)  # sent before the child serves: it waits in the backlog
            assert sorted(client.list_identities()["Identities"]) == sorted(emulator.identities)
            client.send_email(
                Source="alice@example.com",
                Destination={"ToAddresses": ["x@example.net"]},
                Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "b"}}},
            )
            assert [m.subject for m in emulator.outbox()] == ["hi"]
            client.close()
        assert not emulator.running
        assert _refuses(url)

    def test_each_emulator_has_its_own_account(self) -> None:
        with LazyEmulator({"identities": ["a@example.com"]}) as one, LazyEmulator() as two:
            first, second = _client(one.endpoint_url), _client(two.endpoint_url)
            assert first.list_identities()["Identities"] == ["a@example.com"]
            assert second.list_identities()["Identities"] == []
            first.close()
            second.close()

    def test_a_bad_fixture_fails_before_any_process_starts(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text('{"identities": "nope"}')
        with pytest.raises(UsageError, match="must be a list"):
            LazyEmulator(bad)

    def test_without_moto_start_says_what_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import importlib.util

        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
        with pytest.raises(UsageError, match=r"amlses\[local\]"):
            LazyEmulator().start()

    def test_a_child_that_fails_is_reported_by_wait(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(localstart, "_BOOTSTRAP", "import sys; sys.exit('boom')")
        emulator = LazyEmulator().start()
        try:
            with pytest.raises(AmlError, match="could not start: boom"):
                emulator.wait()
            with pytest.raises(AmlError, match="could not start: boom"):
                emulator.outbox()  # the same answer, every time
        finally:
            emulator.stop()
        emulator.stop()  # twice is fine

    def test_the_url_needs_a_start(self) -> None:
        with pytest.raises(UsageError, match="not been started"):
            _ = LazyEmulator().endpoint_url


# A run that has talked to the emulator and then waits: it can be stopped while it waits.
WAITING = """<AMAWSSES ACTIVITY="create_session" SESSION="S" />
<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="S" RESULTDATASET="ids" />
<AMWAIT SCALAR="10" MEASURE="minutes" />
"""


def _start_waiting_run(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """``amlses run --local`` in a session of its own (as a terminal's foreground job is),
    once its first SES step is done; returns the process and the emulator's URL."""
    task = write_task(tmp_path, WAITING)
    process = subprocess.Popen(
        [sys.executable, "-m", "amlses", "run", str(task), "--local", "--fixture", str(FIXTURE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("local SES emulator at http://127.0.0.1:"), first
    for line in process.stdout:  # the step lines, up to the list's
        if "list_identities" in line:
            break
    return process, first.split(" at ", 1)[1].strip()


class TestTheChildNeverOutlivesTheRun:
    def test_ctrl_c_in_the_terminal_stops_the_run_cleanly_and_the_emulator(
        self, tmp_path: Path
    ) -> None:
        process, url = _start_waiting_run(tmp_path)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130
        assert "Traceback" not in err
        # at the wait (line 3), or at the list if the signal beat the runner to the next step
        assert re.match(rf"amlses: interrupted at {re.escape(str(tmp_path))}/task.aml:[23]\n", err)
        assert _refuses(url)

    def test_a_killed_run_takes_the_emulator_with_it(self, tmp_path: Path) -> None:
        process, url = _start_waiting_run(tmp_path)
        assert not _refuses(url)
        process.kill()  # no finally runs: the child sees its standard input close
        process.communicate(timeout=60)
        _wait_for(lambda: _refuses(url))

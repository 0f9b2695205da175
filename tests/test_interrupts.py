"""Ctrl-C and SIGTERM are normal ways to stop: a clean stop, where the run was, exit 130/143.

Each test runs the installed ``amlses`` in a subprocess and sends it a real signal; the
emulator's outbox (moto, in this process) says independently what was sent before and after.
Timeouts are generous and nothing asserts a duration: a test only fails if the process does
not stop at all, or stops the wrong way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from amlses.emulator import read_outbox
from clitools import write_task

LOOP = """<AMVARIABLE NAME="n" VALUE="0" />
<AMLOOP FROM="1" TO="100000000" RESULTVARIABLE="i">
  <AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="n" />
</AMLOOP>
"""
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def start(task: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "amlses", "run", str(task), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)


def stop(process: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    return out, err


class TestAnyRun:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_a_long_loop_says_where_it_was_and_exits_128_plus_the_signal(
        self, tmp_path: Path, signum: int
    ) -> None:
        task = write_task(tmp_path, LOOP)
        process = start(task, "-q", "--max-iterations", "1000000000")
        time.sleep(2)  # well inside the loop (a pass takes microseconds)
        out, err = stop(process, signum)
        assert process.returncode == CODES[signum]
        assert err.startswith(f"amlses: interrupted at {task}:3 (pass "), err
        assert err.rstrip().endswith(" of 100,000,000)")

    def test_json_is_still_one_document_with_status_interrupted(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, LOOP)
        process = start(task, "--json", "--max-iterations", "1000000000")
        time.sleep(2)
        out, _ = stop(process, signal.SIGTERM)
        assert process.returncode == 143
        document = json.loads(out)
        assert document["status"] == "interrupted"
        assert (document["error"]["code"], document["error"]["line"]) == ("Interrupted", 3)
        assert document["variables"]["n"] > 0

    def test_a_wait_is_interrupted_too(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, '<AMWAIT SCALAR="10" MEASURE="minutes" />\n')
        process = start(task, "-q")
        time.sleep(2)
        _, err = stop(process, signal.SIGINT)
        assert process.returncode == 130
        assert err == f"amlses: interrupted at {task}:1\n"


class TestBulkSend:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_an_interrupted_bulk_send_stops_at_once_and_reports_every_row(
        self, tmp_path: Path, endpoint: str, ses_client: Any, signum: int
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="alice@example.com")
        rows = [f"user{i}@example.com" for i in range(200)]
        (tmp_path / "r.csv").write_text("To\n" + "\n".join(rows) + "\n")
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="send_bulk_email" ACCESSKEY="AKIAINTERRUPTTEST001" '
            'SECRETKEY="interrupt-test-secret-0001" FROM="alice@example.com" CSVFILE="r.csv" '
            'SUBJECT="s" TEXTBODY="x" MAXSENDRATE="20" RESULTDATASET="Sent" />\n',
        )
        process = start(task, "--endpoint-url", endpoint, "--json")
        wait_for(lambda: len(read_outbox(endpoint)) >= 10)
        out, err = stop(process, signum)
        assert process.returncode == CODES[signum]
        at_exit = Counter(r for m in read_outbox(endpoint) for r in m.recipients)
        time.sleep(1)
        after = Counter(r for m in read_outbox(endpoint) for r in m.recipients)
        assert after == at_exit, "messages were sent after the process ended"
        assert max(at_exit.values()) == 1
        statuses = {row[1]: row[2] for row in json.loads(out)["datasets"]["Sent"]["rows"]}
        assert len(statuses) == 200
        accepted = {r for r, s in statuses.items() if s == "Success"}
        in_doubt = {r for r, s in statuses.items() if s == "Unknown"}
        assert accepted <= set(at_exit) <= accepted | in_doubt
        assert set(statuses.values()) <= {"Success", "Unknown", "NotSent"}
        assert "NotSent" in statuses.values()
        assert f"the bulk send was interrupted: {len(accepted)} sent" in err
        assert json.loads(out)["error"]["message"] == f"interrupted at {task}:1"

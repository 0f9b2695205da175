"""Sends whose answer is lost are ``Unknown`` and never resent — not by ``AM_RETRY`` either.

A proxy in front of moto forwards a send (so moto accepts it) and then loses the answer or
answers 500: SES took the message, but amlses cannot know.  The emulator's outbox counts what
was really accepted, independently of what amlses says.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from amlses.emulator import read_outbox
from clitools import invoke, write_task
from proxy import SesProxy

SENDER = "alice@example.com"
CREDENTIALS = 'ACCESSKEY="AKIAUNKNOWNTEST00001" SECRETKEY="unknown-outcome-secret-0123"'


@pytest.fixture
def front(proxy: Any, ses_client: Any) -> SesProxy:
    ses_client.verify_email_identity(EmailAddress=SENDER)
    started: SesProxy = proxy()
    return started


def run(tmp_path: Path, front: SesProxy, text: str, *args: str) -> Result:
    task = write_task(tmp_path, text)
    return invoke("run", str(task), "--endpoint-url", front.url, *args)


def delivered(endpoint: str) -> Counter[str]:
    """How many messages moto accepted per recipient."""
    return Counter(r for message in read_outbox(endpoint) for r in message.recipients)


LOSSES = {
    "answer-lost": lambda p: p.lose_answer(action="SendEmail"),
    "500-after-accepting": lambda p: p.fail_after_forwarding(action="SendEmail"),
}


class TestSingleSends:
    @pytest.mark.parametrize("loss", LOSSES.values(), ids=LOSSES.keys())
    def test_am_retry_never_repeats_a_send_whose_outcome_is_unknown(
        self, tmp_path: Path, front: SesProxy, endpoint: str, loss: Any
    ) -> None:
        loss(front)
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} MAXERRORRETRY="5" FROM="{SENDER}" '
            'TO="bob@example.com" SUBJECT="once" TEXTBODY="x" AM_RETRY="2" />\n',
        )
        assert result.exit_code == 1
        assert front.count("SendEmail") == 1
        assert delivered(endpoint) == Counter({"bob@example.com": 1})
        assert "Unknown; not retried: SES may already have accepted the message" in result.stderr
        assert "SES may or may not have accepted the message (" in result.stderr

    def test_am_retry_still_repeats_a_send_ses_refused(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        """A throttling answer beyond MAXERRORRETRY proves nothing was sent: the retry is safe."""
        front.fail(1, action="SendEmail")
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} MAXERRORRETRY="0" FROM="{SENDER}" '
            'TO="bob@example.com" SUBJECT="again" TEXTBODY="x" AM_RETRY="1" />\n',
        )
        assert result.exit_code == 0, result.output
        assert "Throttling; retry 1 of 1" in result.stderr
        assert front.count("SendEmail") == 2
        assert delivered(endpoint) == Counter({"bob@example.com": 1})

    def test_an_unknown_outcome_can_be_caught_by_its_code(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        front.lose_answer(action="SendEmail")
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="bob@example.com" '
            'TEXTBODY="x" AM_ONERROR="CONTINUE" />\n'
            '<AMIF ACTIVITY="last_step" LASTSTEP="failedwithcode" RESULTCODE="Unknown">\n'
            "  <AMSHOWDIALOG>in doubt: not resending</AMSHOWDIALOG>\n"
            "</AMIF>\n",
            "-q",
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["in doubt: not resending"]
        assert delivered(endpoint) == Counter({"bob@example.com": 1})


class TestBulkSends:
    ROWS = ["ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"]

    def bulk(self, tmp_path: Path, policy: str) -> str:
        (tmp_path / "r.csv").write_text("To\n" + "\n".join(self.ROWS) + "\n")
        return (
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} MAXERRORRETRY="0" '
            f'FROM="{SENDER}" CSVFILE="r.csv" TEXTBODY="x" MAXSENDRATE="100" '
            f'RESULTDATASET="Sent" {policy} />\n'
        )

    def statuses(self, result: Result) -> dict[str, str]:
        rows = json.loads(result.stdout)["datasets"]["Sent"]["rows"]
        return {row[1]: row[2] for row in rows}

    @pytest.mark.parametrize("loss", LOSSES.values(), ids=LOSSES.keys())
    def test_rows_in_doubt_are_unknown_and_the_step_fails(
        self, tmp_path: Path, front: SesProxy, endpoint: str, loss: Any
    ) -> None:
        loss(front)
        result = run(tmp_path, front, self.bulk(tmp_path, 'AM_ONERROR="CONTINUE"'), "--json")
        statuses = self.statuses(result)
        assert sorted(statuses.values()) == ["Success", "Success", "Success", "Unknown"]
        assert "3 of 4 sent at 100/s" in result.stdout
        assert "1 in doubt (Unknown: SES may have accepted them; not resent)" in result.stdout
        assert json.loads(result.stdout)["failed_steps"][0]["code"] == "Unknown"
        assert front.count("SendEmail") == 4
        assert delivered(endpoint) == Counter(dict.fromkeys(self.ROWS, 1))

    def test_am_retry_on_a_bulk_step_resends_only_the_rows_ses_refused(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        """One answer lost (Unknown), one send throttled (refused): the retry sends only the
        throttled row, and with only the row in doubt left the step is not retried again;
        every recipient gets exactly one message."""
        front.lose_answer(action="SendEmail")
        front.fail(1, action="SendEmail")
        result = run(tmp_path, front, self.bulk(tmp_path, 'AM_RETRY="2"'), "--json")
        assert result.exit_code == 1, result.output
        statuses = self.statuses(result)
        assert sorted(statuses.values()) == ["AlreadySent", "AlreadySent", "Success", "Unknown"]
        assert front.count("SendEmail") == 5  # 4 rows + the throttled one once more
        assert delivered(endpoint) == Counter(dict.fromkeys(self.ROWS, 1))
        assert "StepError; retry 1 of 2" in result.stderr
        assert "retry 2 of 2" not in result.stderr
        assert "Unknown; not retried" in result.stderr

    def test_a_loop_running_a_bulk_step_again_sends_again(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        """Only a retry of the same step skips what was sent: a second pass is a new send."""
        text = (
            '<AMLOOP FROM="1" TO="2" RESULTVARIABLE="i">\n'
            + self.bulk(tmp_path, "")
            + "</AMLOOP>\n"
        )
        result = run(tmp_path, front, text, "-q")
        assert result.exit_code == 0, result.output
        assert delivered(endpoint) == Counter(dict.fromkeys(self.ROWS, 2))


class TestRetriesNeverSendTwice:
    @pytest.mark.parametrize(("allow", "messages"), [("NO", 1), ("YES", 2)])
    def test_the_same_address_twice_is_a_duplicate_unless_allowed(
        self, tmp_path: Path, front: SesProxy, endpoint: str, allow: str, messages: int
    ) -> None:
        """The same address twice (in other case) is one message and a Duplicate row; with
        ALLOWDUPLICATES="YES" each row is sent, and a retry still skips rows, not addresses."""
        (tmp_path / "r.csv").write_text("To\nann@example.com\nANN@example.com\n")
        front.fail(1, action="SendEmail")
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} MAXERRORRETRY="0" '
            f'FROM="{SENDER}" CSVFILE="r.csv" TEXTBODY="x" MAXSENDRATE="100" '
            f'RESULTDATASET="Sent" AM_RETRY="1" ALLOWDUPLICATES="{allow}" />\n',
            "--json",
        )
        assert result.exit_code == 0, result.output
        assert sum(delivered(endpoint).values()) == messages
        statuses = [row[2] for row in json.loads(result.stdout)["datasets"]["Sent"]["rows"]]
        # with duplicates allowed, the row not refused was sent by the first attempt
        if allow == "NO":
            assert statuses == ["Success", "Duplicate"]
        else:
            assert sorted(statuses) == ["AlreadySent", "Success"]
        assert sorted(statuses) == (
            ["Duplicate", "Success"] if allow == "NO" else ["AlreadySent", "Success"]
        )
        assert front.count("SendEmail") == messages + 1  # the refused send was resent once

    def test_a_send_abandoned_by_am_timeout_is_unknown_and_not_retried(
        self, tmp_path: Path, front: SesProxy
    ) -> None:
        # 2 s: time for the request to leave even on a busy machine, far less than the stall
        front.stall(6.0, action="SendEmail")
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="bob@example.com" '
            'TEXTBODY="x" AM_TIMEOUT="2" AM_RETRY="2" />\n',
            "-q",
        )
        assert result.exit_code == 1
        assert "ran longer than AM_TIMEOUT (2 s) and was abandoned; it may still be" in (
            result.stderr
        )
        assert "Unknown; not retried" in result.stderr
        assert front.count("SendEmail") == 1

    def test_a_single_send_abandoned_by_am_timeout_is_not_resent_behind_the_tasks_back(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        """Throttled after the step was abandoned: a resend would deliver the message while
        the task believes it Unknown; the cancelled send makes no further attempt."""
        front.fail(1, action="SendEmail", delay=3.0)  # throttled, after the timeout fired
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="late@example.com" '
            'TEXTBODY="x" AM_TIMEOUT="1" MAXERRORRETRY="3" />\n',
            "-q",
        )
        assert result.exit_code == 1
        time.sleep(4.0)  # the throttling answer, then the backoff a resend would wait
        assert front.count("SendEmail") == 1
        # (only this recipient: an earlier test's abandoned send may land in moto meanwhile)
        assert delivered(endpoint)["late@example.com"] == 0

    def test_a_bulk_send_abandoned_by_am_timeout_stops_sending(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        """AM_TIMEOUT cancels a bulk send for real: no request starts after it fired."""
        (tmp_path / "r.csv").write_text(
            "To\n" + "\n".join(f"u{i}@example.com" for i in range(200)) + "\n"
        )
        result = run(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" CSVFILE="r.csv" '
            'TEXTBODY="x" MAXSENDRATE="20" RESULTDATASET="Sent" AM_TIMEOUT="2" />\n',
            "-q",
        )
        assert result.exit_code == 1
        assert "ran longer than AM_TIMEOUT (2 s) and was abandoned" in result.stderr
        time.sleep(1.5)  # the requests in flight when it fired may still be answered
        sent = front.count("SendEmail")
        time.sleep(1.5)  # at 20/s an abandoned send would go on with ~30 more
        assert front.count("SendEmail") == sent
        assert 0 < sent < 100
        rows = {f"u{i}@example.com" for i in range(200)}  # an earlier test's may land too
        assert sum(n for r, n in delivered(endpoint).items() if r in rows) == sent


class TestTlsFailures:
    @pytest.mark.parametrize(
        ("detail", "unknown"),
        [
            ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", False),
            ("[SSL: WRONG_VERSION_NUMBER] wrong version number", False),
            ("sslv3 alert handshake failure", False),
            ("EOF occurred in violation of protocol (_ssl.c:2427)", True),
            ("[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac", True),
        ],
    )
    def test_only_a_failed_handshake_proves_the_request_never_left(
        self, detail: str, unknown: bool
    ) -> None:
        """urllib3 reports a TLS error while reading the answer as SSLError as well."""
        from botocore.exceptions import SSLError

        from amlses.errors import AwsError
        from amlses.mail.send import outcome_unknown

        error = AwsError("SSLError", detail)
        error.__cause__ = SSLError(endpoint_url="https://email.example", error=detail)
        assert outcome_unknown(error) is unknown

"""The corners of "nothing is sent twice" a review found: retries with resend-unknown, answers
without statuses, two processes, another destination, duplicates without a journal, a cancel
before the start, a broken progress display, folders that are not ours.

As in test_journal.py, moto's outbox (over HTTP) is the independent count of what was sent.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from amlses import mail
from amlses.errors import AmlError
from amlses.mail import journal as jr
from amlses.ses import SesSession
from clitools import invoke, write_task
from proxy import ProxyResponse, SesProxy, SesRequest, ses_result
from test_journal import ROWS, SENDER, bulk_step, delivered, run, statuses, write_rows


@pytest.fixture
def front(proxy: Any, ses_client: Any) -> SesProxy:
    ses_client.verify_email_identity(EmailAddress=SENDER)
    started: SesProxy = proxy()
    return started


def session(front: SesProxy) -> SesSession:
    return SesSession(
        endpoint_url=front.url, access_key="testing", secret_key="testing", max_error_retry=0
    )


class TestRetries:
    def test_resend_unknown_with_am_retry_never_resends_what_this_run_left_in_doubt(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        write_rows(tmp_path, ROWS[:2])
        front.fail_after_forwarding(action="SendEmail")  # accepted, answered 500: in doubt
        front.fail(1, action="SendEmail")  # the other row throttled: refused, retried
        task = write_task(tmp_path, bulk_step('AM_RETRY="1" RESENDUNKNOWN="YES"'))
        result = run(task, front)
        assert result.exit_code == 1
        # the throttled row is sent by the retry; the row in doubt stays in doubt
        assert sorted(statuses(result).values()) == ["Success", "Unknown"]
        assert delivered(endpoint) == Counter(dict.fromkeys(ROWS[:2], 1))

    def test_without_a_journal_a_retry_does_not_send_a_duplicate(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        write_rows(tmp_path, ["ann@example.com", "bob@example.com", "ANN@example.com"])
        front.fail(1, action="SendEmail")
        task = write_task(tmp_path, bulk_step('AM_RETRY="1"'))
        result = run(task, front, "--no-journal")
        assert result.exit_code == 0, result.output
        assert sum(n for r, n in delivered(endpoint).items() if r.lower() == "ann@example.com") == 1


class TestAnswers:
    def test_a_destination_without_a_status_is_unknown_and_never_resent(
        self, tmp_path: Path, front: SesProxy, endpoint: str, ses_client: Any
    ) -> None:
        ses_client.create_template(
            Template={"TemplateName": "Hi", "SubjectPart": "Hi", "TextPart": "Hello {{n}}"}
        )

        def no_statuses(request: SesRequest) -> ProxyResponse:
            front.forward(request)  # SES takes the call ...
            body = ses_result("SendBulkTemplatedEmail", "<Status></Status>")
            return ProxyResponse(200, body)  # ... and its answer names no destination

        front.on("SendBulkTemplatedEmail", no_statuses)
        with session(front) as ses:
            report = ses.send_bulk_email(
                ROWS, sender=SENDER, template="Hi", max_send_rate=100, journal=tmp_path / "j.sqlite"
            )
            assert [d.Status for d in report.deliveries] == ["Unknown"] * 4
            again = ses.send_bulk_email(
                ROWS, sender=SENDER, template="Hi", max_send_rate=100, journal=tmp_path / "j.sqlite"
            )
        assert [d.Status for d in again.deliveries] == ["Unknown"] * 4
        assert front.count("SendBulkTemplatedEmail") == 1
        assert sum(delivered(endpoint).values()) == 4


class TestProcessesAndDestinations:
    def test_a_send_another_process_runs_is_refused_and_sends_nothing(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        write_rows(tmp_path, ROWS)
        task = write_task(tmp_path, bulk_step())
        front.fail(1, action="SendEmail", code="MessageRejected", status=400)
        run(task, front)  # an open send: its key is in the journal
        folder = Path(os.environ["AMLSES_JOURNAL_DIR"])
        (send,) = jr.list_sends(folder)
        before = front.count("SendEmail")
        with jr.send_lock(folder, send.meta["key"]):  # "another process" runs it now
            second = run(task, front)
        assert second.exit_code == 1
        assert "Another amlses process is running this send now" in second.stdout  # --json
        assert front.count("SendEmail") == before

    def test_the_same_send_to_another_destination_is_another_send(
        self, tmp_path: Path, front: SesProxy, proxy: Any, endpoint: str
    ) -> None:
        """A rehearsal that stopped open must not mark the real recipients as sent."""
        write_rows(tmp_path, ROWS)
        task = write_task(tmp_path, bulk_step())
        front.fail(1, action="SendEmail", code="MessageRejected", status=400)
        run(task, front)
        other: SesProxy = proxy()  # the same SES behind another endpoint
        second = run(task, other)
        assert second.exit_code == 0, second.output
        assert "resuming" not in second.stderr
        assert other.count("SendEmail") == 4


class TestStops:
    def test_a_send_cancelled_before_it_starts_sends_nothing(self, front: SesProxy) -> None:
        cancel = threading.Event()
        cancel.set()
        with session(front) as ses, pytest.raises(mail.BulkInterrupted) as stopped:
            mail.send_bulk_email(
                ses, ROWS, sender=SENDER, text="x", max_send_rate=100, cancel=cancel
            )
        assert [d.Status for d in stopped.value.report.deliveries] == ["NotSent"] * 4
        assert front.count("SendEmail") == 0

    def test_a_broken_progress_display_does_not_stop_the_send(
        self, front: SesProxy, endpoint: str
    ) -> None:
        def broken(progress: mail.BulkProgress) -> None:
            raise BrokenPipeError("the terminal went away")

        with session(front) as ses:
            report = mail.send_bulk_email(
                ses, ROWS, sender=SENDER, text="x", max_send_rate=20, on_progress=broken
            )
        assert report.sent == 4 and report.finished
        assert delivered(endpoint) == Counter(dict.fromkeys(ROWS, 1))


class TestFiles:
    def test_an_existing_folder_keeps_its_mode(self, tmp_path: Path) -> None:
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o755)
        with jr.Journal(shared / "send.sqlite"):
            pass
        assert stat.S_IMODE(shared.stat().st_mode) == 0o755
        assert stat.S_IMODE((shared / "send.sqlite").stat().st_mode) == 0o600

    def test_a_failing_close_releases_the_lock(self, tmp_path: Path) -> None:
        path = tmp_path / "send.sqlite"
        book = jr.Journal(path)
        book.record("nobody", "Success")  # an outcome for a row the file does not have
        book._db.execute("DROP TABLE rows")  # noqa: SLF001 (a write that will fail)
        book.close()
        with jr.Journal(path):  # not "another process": the lock was released
            pass

    def test_journal_show_csv_replaces_a_file_with_a_private_one(
        self, tmp_path: Path, front: SesProxy
    ) -> None:
        write_rows(tmp_path, ROWS)
        run(write_task(tmp_path, bulk_step()), front)
        (send,) = jr.list_sends(Path(os.environ["AMLSES_JOURNAL_DIR"]))
        target = tmp_path / "rows.csv"
        target.write_text("old")
        target.chmod(0o644)
        assert invoke("journal", "show", send.id, "--csv", str(target)).exit_code == 0
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert json.loads(invoke("journal", "list", "--json").stdout)[0]["state"] == "finished"


def test_a_negative_concurrency_is_refused(front: SesProxy) -> None:
    with session(front) as ses, pytest.raises((ValueError, AmlError), match="concurrency"):
        mail.send_bulk_email(ses, ROWS, sender=SENDER, text="x", max_send_rate=9, concurrency=-1)

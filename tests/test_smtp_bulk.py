"""Bulk sends over SES's SMTP interface: paced, one connection per worker, nobody twice.

Against :class:`~amlses.smtp.local.LocalSmtpServer` over real TLS on 127.0.0.1; what arrived is
read back from the server (``received()``), independently of what amlses reports.  The server
answers some messages as SES does when throttled (``454 Throttling failure: Maximum sending
rate exceeded.``) or drops the connection after the message content (the client cannot know:
``Unknown``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from amlses import mail
from amlses.errors import AmlError
from amlses.ses import SesSession
from amlses.smtp.local import LocalSmtpServer
from clitools import invoke, write_task

ACCESS_KEY = "AKIASMTPBULKTEST0001"
SECRET_KEY = "smtpBulkSecretKey/0123456789abcdefXYZ"
SENDER = "alice@example.com"
ROWS = [f"user{i:02d}@example.com" for i in range(30)]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as local:
        monkeypatch.setenv("SSL_CERT_FILE", local.ca_file)
        yield local


def session(server: LocalSmtpServer, *, retries: int | None = None) -> SesSession:
    return SesSession(
        endpoint_url=f"smtps://{server.host}:{server.implicit_port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        max_error_retry=retries,
    )


def received(server: LocalSmtpServer) -> Counter[str]:
    return Counter(r for message in server.received() for r in message.recipients)


class TestBulkOverSmtp:
    def test_every_row_once_over_few_connections_with_the_same_message(
        self, server: LocalSmtpServer
    ) -> None:
        with session(server) as ses:
            report = mail.send_bulk_email(
                ses,
                ROWS,
                sender=f"Alice <{SENDER}>",
                subject="Spring",
                text="Hello",
                html="<p>Hello</p>",
                configuration_set="Newsletters",
                max_send_rate=200,
                concurrency=3,
            )
        assert report.sent == 30 and report.failed == 0 and report.unknown == 0
        assert received(server) == Counter(dict.fromkeys(ROWS, 1))
        assert server.connections == 3  # one per worker, reused with RSET between messages
        ids = {m.message_id for m in server.received()}
        assert {d.MessageId for d in report.deliveries} == ids
        first = BytesParser(policy=policy.default).parsebytes(server.received()[0].raw)
        assert first["Subject"] == "Spring" and first["X-SES-CONFIGURATION-SET"] == "Newsletters"
        assert first["To"] in ROWS and first.get_body(("html",)) is not None

    def test_throttled_rows_are_resent_and_a_drop_after_data_is_unknown(
        self, server: LocalSmtpServer
    ) -> None:
        server.throttle(3)
        server.drop_after_data(1)
        with session(server, retries=3) as ses:  # a row may draw all three throttles
            report = mail.send_bulk_email(
                ses,
                ROWS[:10],
                sender=SENDER,
                subject="s",
                text="x",
                max_send_rate=100,
                concurrency=2,
                sleep=lambda seconds: None,
            )
        statuses = Counter(d.Status for d in report.deliveries)
        assert statuses == Counter({"Success": 9, "Unknown": 1})
        got = received(server)
        assert max(got.values()) == 1 and set(got) == set(ROWS[:10])  # the dropped one arrived
        unknown = next(d for d in report.deliveries if d.Status == "Unknown")
        assert "may or may not have accepted" in unknown.Error

    def test_a_throttled_row_past_its_resends_is_refused_not_unknown(
        self, server: LocalSmtpServer
    ) -> None:
        server.throttle(5)
        with session(server, retries=1) as ses:
            report = mail.send_bulk_email(
                ses,
                ROWS[:2],
                sender=SENDER,
                text="x",
                max_send_rate=100,
                concurrency=1,
                sleep=lambda seconds: None,
            )
        assert [d.Status for d in report.deliveries] == ["Throttling", "Throttling"]
        assert received(server) == Counter()

    def test_a_template_needs_the_api(self, server: LocalSmtpServer) -> None:
        with session(server) as ses, pytest.raises(AmlError, match="SMTP interface does not"):
            mail.send_bulk_email(ses, ROWS[:1], sender=SENDER, template="Welcome")
        assert server.connections == 0

    def test_a_task_resumes_over_smtp_too(self, server: LocalSmtpServer, tmp_path: Path) -> None:
        (tmp_path / "r.csv").write_text("To\n" + "\n".join(ROWS[:6]) + "\n")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_bulk_email" SERVICEURL="smtps://{server.host}:'
            f'{server.implicit_port}" ACCESSKEY="{ACCESS_KEY}" SECRETKEY="{SECRET_KEY}" '
            f'MAXERRORRETRY="0" FROM="{SENDER}" CSVFILE="r.csv" SUBJECT="s" TEXTBODY="x" '
            'RESULTDATASET="Sent" />\n',
        )
        server.reject(1)
        first = invoke("run", str(task), "--json")
        assert first.exit_code == 1
        assert "paced at 14 messages a second" in first.stderr  # no GetSendQuota over SMTP
        second = invoke("run", str(task), "--json")
        assert second.exit_code == 0, second.output
        assert "resuming: 5 already sent, 0 in doubt, 1 to go" in second.stderr
        rows = json.loads(second.stdout)["datasets"]["Sent"]["rows"]
        assert sorted(row[2] for row in rows) == ["AlreadySent"] * 5 + ["Success"]
        assert received(server) == Counter(dict.fromkeys(ROWS[:6], 1))
        assert SECRET_KEY not in first.output + second.output
        assert server.password not in first.output + second.output

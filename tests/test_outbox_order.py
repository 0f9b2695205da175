"""The outbox of amlses's own emulators is in send order, across SES operations and SMTP;
a plain moto server's outbox is still read, grouped by operation as moto keeps it."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from amlses.emulator import SEND_ORDER_PATH, LocalEmulator, read_outbox, read_send_order
from amlses.sendorder import SendOrder, sent_message_ids
from clitools import invoke, write_task

SENDER = "alice@example.com"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[LocalEmulator]:
    with LocalEmulator() as running:
        yield running


@pytest.fixture
def emulator(shared_emulator: LocalEmulator) -> LocalEmulator:
    shared_emulator.reset()
    shared_emulator.seed({"identities": [SENDER]})
    return shared_emulator


def send_plain(client: Any, subject: str) -> str:
    response = client.send_email(
        Source=SENDER,
        Destination={"ToAddresses": [f"{subject}@example.com"]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": subject}}},
    )
    return str(response["MessageId"])


def send_bulk(client: Any, *names: str) -> list[str]:
    """A SendBulkTemplatedEmail to ``names``@example.com (template ``T`` created if missing)."""
    if not client.list_templates()["TemplatesMetadata"]:
        client.create_template(
            Template={"TemplateName": "T", "SubjectPart": "Hi {{n}}", "TextPart": "x"}
        )
    response = client.send_bulk_templated_email(
        Source=SENDER,
        Template="T",
        DefaultTemplateData='{"n": "you"}',
        Destinations=[
            {
                "Destination": {"ToAddresses": [f"{name}@example.com"]},
                "ReplacementTemplateData": json.dumps({"n": name}),
            }
            for name in names
        ],
    )
    return [str(status["MessageId"]) for status in response["Status"]]


def send_raw(client: Any, subject: str) -> str:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, "raw@example.com", subject
    message.set_content(subject)
    message.add_attachment(b"x,y\n", maintype="text", subtype="csv", filename="a.csv")
    response = client.send_raw_email(RawMessage={"Data": message.as_bytes()})
    return str(response["MessageId"])


def send_smtp(emulator: LocalEmulator, subject: str) -> None:
    context = ssl.create_default_context(cafile=emulator.ca_file)
    with smtplib.SMTP_SSL(emulator.smtp_host, emulator.smtps_port, context=context) as smtp:
        smtp.login(emulator.smtp_user, emulator.smtp_password)
        smtp.sendmail(SENDER, ["smtp@example.com"], f"Subject: {subject}\r\n\r\nbody\r\n")


class TestNotingSends:
    def test_a_bulk_answer_gives_its_ids_in_destination_order(self) -> None:
        answer = (
            b' <SendBulkTemplatedEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
            b"<SendBulkTemplatedEmailResult><Status><member><MessageId>one</MessageId></member>"
            b"<member><MessageId>two</MessageId></member></Status>"
            b"</SendBulkTemplatedEmailResult></SendBulkTemplatedEmailResponse>"
        )
        assert sent_message_ids(answer) == ["one", "two"]

    @pytest.mark.parametrize(
        "answer",
        [
            b"<ListIdentitiesResponse><MessageId>no</MessageId></ListIdentitiesResponse>",
            b"<ErrorResponse><Error><Code>MessageRejected</Code></Error></ErrorResponse>",
            b"<SendEmailResponseX><MessageId>no</MessageId></SendEmailResponseX>",
            b"",
        ],
    )
    def test_other_answers_give_none(self, answer: bytes) -> None:
        assert sent_message_ids(answer) == []

    def test_a_failed_send_is_not_noted(self, emulator: LocalEmulator) -> None:
        client = emulator.client()
        first = send_plain(client, "first")
        with pytest.raises(client.exceptions.MessageRejected):
            client.send_email(
                Source="nobody@unverified.example",
                Destination={"ToAddresses": ["b@example.com"]},
                Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}},
            )
        order = read_send_order(emulator.endpoint_url)
        assert order is not None and order[-1] == first

    def test_without_an_smtp_server_only_recorded_sends_count(self) -> None:
        order = SendOrder()
        order.record(["a", "b"])
        order.record(["c"])
        assert order.snapshot() == ["a", "b", "c"]


class TestLocalEmulator:
    def test_every_operation_and_smtp_in_send_order(self, emulator: LocalEmulator) -> None:
        client = emulator.client()
        first = send_plain(client, "first")
        bulk = send_bulk(client, "ann", "bob")
        send_smtp(emulator, "smtp")
        raw = send_raw(client, "raw")
        last = send_plain(client, "last")
        outbox = emulator.outbox()[-6:]  # an earlier test's SMTP messages come first
        assert [m.kind for m in outbox] == [
            "SendEmail",
            "SendBulkTemplatedEmail",
            "SendBulkTemplatedEmail",
            "SMTP",
            "SendRawEmail",
            "SendEmail",
        ]
        ids = [m.message_id for m in outbox]
        assert [ids[0], *ids[1:3], *ids[4:]] == [first, *bulk, raw, last]
        assert [m.recipients for m in outbox[1:3]] == [("ann@example.com",), ("bob@example.com",)]
        assert (outbox[3].subject, outbox[4].attachments) == ("smtp", ("a.csv",))

    def test_an_smtp_message_first_and_last(self, emulator: LocalEmulator) -> None:
        send_smtp(emulator, "one")
        middle = send_plain(emulator.client(), "two")
        send_smtp(emulator, "three")
        outbox = emulator.outbox()[-3:]  # reset() empties moto, not the SMTP endpoint's list
        assert [m.kind for m in outbox] == ["SMTP", "SendEmail", "SMTP"]
        assert [outbox[0].subject, outbox[1].message_id, outbox[2].subject] == [
            "one",
            middle,
            "three",
        ]


class TestPlainMoto:
    def test_a_plain_moto_server_has_no_send_order(self, endpoint: str) -> None:
        with pytest.raises(urllib.error.HTTPError) as caught:
            _OPENER.open(f"{endpoint}{SEND_ORDER_PATH}", timeout=10)
        caught.value.close()
        assert caught.value.code == 404
        assert read_send_order(endpoint) is None

    def test_its_outbox_is_read_grouped_by_operation(self, endpoint: str, ses_client: Any) -> None:
        ses_client.verify_email_identity(EmailAddress=SENDER)
        first = send_plain(ses_client, "first")
        bulk = send_bulk(ses_client, "ann", "bob")
        raw = send_raw(ses_client, "raw")
        last = send_plain(ses_client, "last")
        outbox = read_outbox(endpoint)
        assert [m.message_id for m in outbox] == [first, last, raw, *bulk]
        assert outbox[2].attachments == ("a.csv",)


class TestRunLocal:
    def test_the_outbox_file_lists_a_tasks_messages_in_send_order(self, tmp_path: Path) -> None:
        (tmp_path / "ids.json").write_text(json.dumps({"identities": [SENDER]}))
        (tmp_path / "people.csv").write_text("Mail;Name\nann@example.com;Ann\nbob@x.com;Bob\n")
        (tmp_path / "a.csv").write_text("x,y\n")
        send = f'<AMAWSSES ACTIVITY="send_email" FROM="{SENDER}" TO="to@example.com" '
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_template" TEMPLATE="Hi" SUBJECT="Hi {{Name}}" '
            'TEXTBODY="Dear {{Name}}" />\n'
            f'{send}SUBJECT="first" TEXTBODY="1" />\n'
            f'<AMAWSSES ACTIVITY="send_bulk_email" FROM="{SENDER}" CSVFILE="people.csv" '
            'TOFIELD="Mail" DATAFIELDS="Name" TEMPLATE="Hi" MAXSENDRATE="50" '
            'RESULTDATASET="Sent" />\n'
            '<AMAWSSES ACTIVITY="create_session" SESSION="Mail" '
            'SERVICEURL="smtps://email-smtp.us-east-1.amazonaws.com" '
            'ACCESSKEY="AKIAORDERTEST0000000" SECRETKEY="order-secret" />\n'
            '<AMAWSSES ACTIVITY="send_email" PROVIDER="session_based" SESSION="Mail" '
            f'FROM="{SENDER}" TO="smtp@example.com" SUBJECT="smtp" TEXTBODY="2" />\n'
            f'{send}SUBJECT="raw" TEXTBODY="3" ATTACHMENTS="a.csv" />\n'
            f'{send}SUBJECT="last" TEXTBODY="4" />\n',
        )
        outbox = tmp_path / "out.json"
        result = invoke(
            "run",
            str(task),
            "--local",
            "--no-journal",
            "--fixture",
            str(tmp_path / "ids.json"),
            "--outbox",
            str(outbox),
        )
        assert result.exit_code == 0, result.output
        messages = json.loads(outbox.read_text())
        assert [(m["Operation"], m["Subject"] or m["To"][0]) for m in messages] == [
            ("SendEmail", "first"),
            ("SendBulkTemplatedEmail", "ann@example.com"),
            ("SendBulkTemplatedEmail", "bob@x.com"),
            ("SMTP", "smtp"),
            ("SendRawEmail", "raw"),
            ("SendEmail", "last"),
        ]
        assert messages[4]["Attachments"] == ["a.csv"]
        assert json.loads(messages[2]["TemplateData"]) == {"Name": "Bob"}

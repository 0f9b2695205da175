"""amlses.mail against moto over HTTP: sends, templates, bulk pacing and exactly-once delivery.

What the emulator accepted is read back with :func:`amlses.emulator.read_outbox`, and what was
asked of it from the proxy's request log — never through amlses's own view.  The proxy fakes
what moto lacks: a higher quota, throttling, dropped connections, per-destination statuses.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from amlses import mail
from amlses.emulator import OutboxMessage, read_outbox
from amlses.errors import AwsError, StepError, UnknownOutcome
from amlses.mail import BulkRecipient, Delivery, MailError, TokenBucket
from amlses.ses import ClientCache, SesSession
from clitools import closed_port
from proxy import ProxyResponse, SesProxy, SesRequest, ses_error, ses_result, xml_fields

KEY_ID = "AKIAEXAMPLEKEY000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SENDER = "alice@example.com"

ProxyFactory = Callable[..., SesProxy]


def connect(url: str, cache: ClientCache, **fields: Any) -> SesSession:
    fields.setdefault("access_key", KEY_ID)
    fields.setdefault("secret_key", SECRET)
    return SesSession(endpoint_url=url, cache=cache, **fields)


def no_sleep(seconds: float) -> None:
    """Backoff and pacing without waiting."""


class Sleeps(list[float]):
    """A sleep that records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeTime:
    """A clock that only moves when slept on (thread-safe, for the token bucket)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def fake_quota(front: SesProxy, rate: float = 100_000, daily: float = 1e9, sent: float = 0) -> None:
    """moto's quota is fixed at 1 message a second; the proxy answers GetSendQuota instead."""
    quota = xml_fields(Max24HourSend=daily, MaxSendRate=rate, SentLast24Hours=sent)
    front.respond("GetSendQuota", quota)


def recipients_of(messages: list[OutboxMessage]) -> Counter[str]:
    return Counter(address for m in messages for address in m.recipients)


def raw_message(request: SesRequest) -> Any:
    data = base64.b64decode(request.params["RawMessage.Data"])
    return BytesParser(policy=policy.default).parsebytes(data)


@pytest.fixture
def verified(ses_client: Any) -> str:
    """The sender, verified in moto (which verifies addresses at once)."""
    ses_client.verify_email_identity(EmailAddress=SENDER)
    return SENDER


@pytest.fixture
def front(proxy: ProxyFactory) -> SesProxy:
    return proxy()


@pytest.fixture
def ses(front: SesProxy, client_cache: ClientCache) -> SesSession:
    return connect(front.url, client_cache)


# --------------------------------------------------------------------------------------------
# Parsing


class TestAddresses:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ann@example.com", ["ann@example.com"]),
            ("ann@example.com; bob@example.com", ["ann@example.com", "bob@example.com"]),
            ("ann@example.com, bob@example.com;", ["ann@example.com", "bob@example.com"]),
            ('"Doe, John" <j@x.com>; Ann <a@x.com>', ['"Doe, John" <j@x.com>', "Ann <a@x.com>"]),
            ("Zoë <z@bücher.de>", ["=?utf-8?q?Zo=C3=AB?= <z@xn--bcher-kva.de>"]),
            ("  ", []),
            ("", []),
        ],
    )
    def test_lists_split_on_commas_and_semicolons(self, text: str, expected: list[str]) -> None:
        assert mail.parse_addresses(text) == expected

    def test_a_sequence_of_lists(self) -> None:
        assert mail.parse_addresses(["a@x.com; b@x.com", "c@x.com"]) == [
            "a@x.com",
            "b@x.com",
            "c@x.com",
        ]

    @pytest.mark.parametrize("bad", ["ann", "ann@", "@example.com", "ann smith@example.com"])
    def test_a_non_address_names_itself_and_the_list(self, bad: str) -> None:
        with pytest.raises(MailError) as caught:
            mail.parse_addresses(f"ok@example.com; {bad}", "TO")
        assert caught.value.code == "InvalidAddress"
        assert f'"{bad}" in TO is not an e-mail address' in caught.value.message

    def test_non_ascii_before_the_at_is_refused(self) -> None:
        with pytest.raises(MailError, match="non-ASCII characters before the @"):
            mail.parse_addresses("zoë@example.com")


class TestTagsAndData:
    def test_tags(self) -> None:
        assert mail.parse_tags("campaign=spring; team = sales") == [
            {"Name": "campaign", "Value": "spring"},
            {"Name": "team", "Value": "sales"},
        ]
        assert mail.parse_tags({"a": "1"}) == [{"Name": "a", "Value": "1"}]
        assert mail.parse_tags("") == []

    def test_a_tag_without_value_is_refused(self) -> None:
        with pytest.raises(MailError, match='The tag "campaign" is not name=value'):
            mail.parse_tags("campaign")

    @pytest.mark.parametrize(
        ("data", "expected"),
        [(None, "{}"), ("", "{}"), ('{"a": 1}', '{"a": 1}'), ({"a": "é"}, '{"a": "é"}')],
    )
    def test_template_data(self, data: Any, expected: str) -> None:
        assert mail.parse_template_data(data) == expected

    def test_template_data_that_is_not_json_says_where(self) -> None:
        with pytest.raises(MailError) as caught:
            mail.parse_template_data('{"name": "Ann"', "TEMPLATEDATA")
        assert caught.value.code == "InvalidTemplateData"
        assert caught.value.message.startswith(
            "TEMPLATEDATA is not JSON: Expecting ',' delimiter at line 1 column 15 of "
            '\'{"name": "Ann"\'. Write a JSON object such as {"name": "Ann"}'
        )

    def test_template_data_must_be_an_object(self) -> None:
        with pytest.raises(MailError, match="must be a JSON object .* not a JSON list"):
            mail.parse_template_data("[1, 2]", "TEMPLATEDATA")

    def test_paths(self) -> None:
        assert mail.split_paths("a.pdf|b c.csv; d.txt") == [
            Path("a.pdf"),
            Path("b c.csv"),
            Path("d.txt"),
        ]


# --------------------------------------------------------------------------------------------
# MIME


class TestBuildMessage:
    def test_text_html_and_attachments_with_the_email_package(self, tmp_path: Path) -> None:
        report = tmp_path / "report.csv"
        report.write_text("a,b\n1,2\n")
        logo = tmp_path / "logo.png"
        logo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        message = mail.build_message(
            sender="Alice <alice@example.com>",
            to="bob@example.com",
            cc="carol@example.com",
            reply_to="help@example.com",
            subject="Réport",
            text="See attached.",
            html="<p>See attached.</p>",
            attachments=[report, logo],
        )
        parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
        assert parsed["From"] == "Alice <alice@example.com>"
        assert parsed["To"] == "bob@example.com" and parsed["Cc"] == "carol@example.com"
        assert parsed["Reply-To"] == "help@example.com" and parsed["Subject"] == "Réport"
        assert parsed.get_content_type() == "multipart/mixed"
        body = parsed.get_body(("plain",))
        assert body is not None and body.get_content().strip() == "See attached."
        html = parsed.get_body(("html",))
        assert html is not None and "<p>See attached.</p>" in html.get_content()
        files = {part.get_filename(): part for part in parsed.iter_attachments()}
        assert files["report.csv"].get_content_type() == "text/csv"
        assert files["report.csv"].get_payload(decode=True) == b"a,b\n1,2\n"
        assert files["logo.png"].get_payload(decode=True) == logo.read_bytes()

    def test_a_missing_attachment(self, tmp_path: Path) -> None:
        with pytest.raises(MailError) as caught:
            mail.build_message(sender=SENDER, to="b@x.com", attachments=[tmp_path / "no.pdf"])
        assert caught.value.code == "AttachmentNotFound"
        assert f"The attachment {tmp_path / 'no.pdf'} does not exist" in caught.value.message

    def test_a_folder_is_not_an_attachment(self, tmp_path: Path) -> None:
        with pytest.raises(MailError, match="is a folder, not a file"):
            mail.build_message(sender=SENDER, to="b@x.com", attachments=[tmp_path])

    def test_attachments_over_10_mb_once_encoded_are_refused_unread(self, tmp_path: Path) -> None:
        big = tmp_path / "video.mp4"
        with big.open("wb") as handle:  # sparse: 8 MB on paper, nothing on disk
            handle.truncate(8 * 1024 * 1024)
        with pytest.raises(MailError) as caught:
            mail.build_message(sender=SENDER, to="b@x.com", attachments=[big])
        assert caught.value.code == "MessageTooLarge"
        assert caught.value.message.startswith(
            "The attachments video.mp4 (8.0 MB) add up to 8.0 MB, about 10.9 MB once "
            "base64-encoded, and SES accepts at most 10.0 MB per message"
        )

    def test_a_charset_that_cannot_hold_the_text(self) -> None:
        with pytest.raises(MailError, match="cannot be written in charset us-ascii"):
            mail.build_message(sender=SENDER, to="b@x.com", text="Grüße", charset="us-ascii")


# --------------------------------------------------------------------------------------------
# Which failures may be resent


def _translated(exc: Exception) -> Any:
    from amlses.aws.transport import translate_errors

    try:
        with translate_errors("SendEmail"):
            raise exc
    except AwsError as error:
        return error
    raise AssertionError("not translated")


def _client_error(code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "SendEmail")


class TestNotAccepted:
    """Only failures that prove SES did not take the message may be resent (the issue's rule)."""

    URL = "http://127.0.0.1:9"

    @pytest.mark.parametrize(
        ("make", "resend"),
        [
            (lambda: _client_error("Throttling", "Rate exceeded"), True),
            (lambda: _client_error("Throttling", "Maximum sending rate exceeded."), True),
            (lambda: _client_error("Throttling", "Daily message quota exceeded."), False),
            (lambda: _client_error("MessageRejected", "Email address is not verified."), False),
            (lambda: _client_error("ServiceUnavailable", "Service unavailable"), False),
            (lambda: _client_error("InternalFailure", "oops"), False),
        ],
        ids=["rate", "max-send-rate", "daily-quota", "rejected", "503", "500"],
    )
    def test_answers(self, make: Callable[[], Exception], resend: bool) -> None:
        assert mail.not_accepted(_translated(make())) is resend

    @pytest.mark.parametrize(
        ("name", "resend"),
        [
            ("EndpointConnectionError", True),
            ("ConnectTimeoutError", True),
            ("ReadTimeoutError", False),
            ("ConnectionClosedError", False),
        ],
    )
    def test_network_failures(self, name: str, resend: bool) -> None:
        from botocore import exceptions as bx

        exc = getattr(bx, name)(endpoint_url=self.URL, error="x")
        assert mail.not_accepted(_translated(exc)) is resend


# --------------------------------------------------------------------------------------------
# One message


class TestSendEmail:
    def test_sends_what_was_given(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        message_id = mail.send_email(
            ses,
            sender="Alice <alice@example.com>",
            to="bob@example.com; carol@example.com",
            cc="dave@example.com",
            bcc="erin@example.com",
            subject="Hello",
            text="Hi all",
            html="<p>Hi all</p>",
            reply_to="help@example.com",
            return_path="bounces@example.com",
            configuration_set="Marketing",
            tags="campaign=spring",
        )
        params = front.requests[-1].params
        assert params["Action"] == "SendEmail"
        assert params["ReplyToAddresses.member.1"] == "help@example.com"
        assert params["ReturnPath"] == "bounces@example.com"
        assert params["ConfigurationSetName"] == "Marketing"
        assert (params["Tags.member.1.Name"], params["Tags.member.1.Value"]) == (
            "campaign",
            "spring",
        )
        assert params["Message.Body.Html.Charset"] == "UTF-8"
        [sent] = read_outbox(endpoint)
        assert sent.message_id == message_id and sent.kind == "SendEmail"
        assert sent.subject == "Hello" and sent.sender == "Alice <alice@example.com>"
        assert sent.recipients == (
            "bob@example.com",
            "carol@example.com",
            "dave@example.com",
            "erin@example.com",
        )

    def test_attachments_switch_to_a_mime_message(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str, tmp_path: Path
    ) -> None:
        report = tmp_path / "report.txt"
        report.write_text("numbers")
        message_id = mail.send_email(
            ses,
            sender=SENDER,
            to="bob@example.com",
            bcc="archive@example.com",
            subject="Report",
            text="Attached.",
            attachments=[report],
        )
        request = front.requests[-1]
        assert request.action == "SendRawEmail"
        assert request.params["Source"] == SENDER
        assert request.params["Destinations.member.2"] == "archive@example.com"
        parsed = raw_message(request)
        assert parsed["Bcc"] is None  # blind copies travel only in the envelope
        [attachment] = parsed.iter_attachments()
        assert attachment.get_filename() == "report.txt"
        [sent] = read_outbox(endpoint)
        assert (sent.message_id, sent.kind, sent.subject) == (message_id, "SendRawEmail", "Report")
        assert sent.to == ("bob@example.com",) and sent.bcc == ("archive@example.com",)

    def test_a_return_path_with_attachments_is_a_header(
        self, ses: SesSession, front: SesProxy, verified: str, tmp_path: Path
    ) -> None:
        (tmp_path / "a.txt").write_text("a")
        mail.send_email(
            ses,
            sender=SENDER,
            to="bob@example.com",
            text="x",
            return_path="bounces@example.com",
            attachments=[tmp_path / "a.txt"],
        )
        request = front.requests[-1]
        assert "Source" not in request.params  # it would override the header (SES)
        assert raw_message(request)["Return-Path"] == "bounces@example.com"

    def test_an_unverified_sender_is_explained(self, ses: SesSession, front: SesProxy) -> None:
        with pytest.raises(AwsError) as caught:
            mail.send_email(ses, sender="mallory@example.com", to="b@x.com", text="hi")
        error = caught.value
        assert error.code == "MessageRejected" and error.operation == "SendEmail"
        assert error.message.startswith(
            "AWS error MessageRejected from SendEmail: Email address not verified "
            "mallory@example.com. SES sends only from verified identities: verify "
            'mallory@example.com (or its domain) with ACTIVITY="verify_identity"'
        )
        assert "--fixture" in error.message and error.request_id
        assert front.count("SendEmail") == 1  # a rejection is final: not resent

    def test_more_than_50_recipients_fail_before_any_request(
        self, ses: SesSession, front: SesProxy
    ) -> None:
        to = [f"user{i}@example.com" for i in range(40)]
        cc = [f"copy{i}@example.com" for i in range(11)]
        with pytest.raises(MailError) as caught:
            mail.send_email(ses, sender=SENDER, to=to, cc=cc, text="hi")
        assert caught.value.code == "TooManyRecipients"
        assert caught.value.message.startswith(
            "The message has 51 recipients (To 40, Cc 11, Bcc 0) and SES accepts at most 50 "
            "per message"
        )
        assert front.count() == 0

    def test_no_recipients(self, ses: SesSession, front: SesProxy) -> None:
        with pytest.raises(MailError, match="The message has no recipients: give at least one"):
            mail.send_email(ses, sender=SENDER, to=" ; ", text="hi")
        assert front.count() == 0

    def test_no_body(self, ses: SesSession) -> None:
        with pytest.raises(MailError, match="The message has no body"):
            mail.send_email(ses, sender=SENDER, to="b@x.com", subject="Hi")

    @pytest.mark.parametrize("message", ["Rate exceeded.", "Maximum sending rate exceeded."])
    def test_throttling_is_resent_up_to_maxerrorretry(
        self,
        front: SesProxy,
        client_cache: ClientCache,
        endpoint: str,
        verified: str,
        message: str,
    ) -> None:
        ses = connect(front.url, client_cache, max_error_retry=3)
        front.fail(3, action="SendEmail", message=message)
        sleeps = Sleeps()
        message_id = mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=sleeps)
        assert front.count("SendEmail") == 4 and len(sleeps) == 3
        assert [m.message_id for m in read_outbox(endpoint)] == [message_id]

    def test_throttling_beyond_maxerrorretry_is_explained(
        self, front: SesProxy, client_cache: ClientCache, verified: str
    ) -> None:
        ses = connect(front.url, client_cache, max_error_retry=1)
        front.fail(5, action="SendEmail", message="Maximum sending rate exceeded.")
        with pytest.raises(AwsError) as caught:
            mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=no_sleep)
        assert caught.value.code == "Throttling" and front.count("SendEmail") == 2
        assert "Raise MAXERRORRETRY" in caught.value.message

    def test_a_daily_quota_answer_is_final_and_explained(
        self, front: SesProxy, client_cache: ClientCache, verified: str
    ) -> None:
        ses = connect(front.url, client_cache, max_error_retry=5)
        front.fail(action="SendEmail", message="Daily message quota exceeded.")
        with pytest.raises(AwsError) as caught:
            mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=no_sleep)
        assert front.count("SendEmail") == 1
        assert caught.value.message.startswith(
            "AWS error Throttling from SendEmail: Daily message quota exceeded. The account's "
            "daily sending quota (Max24HourSend) is used up"
        )

    @pytest.mark.parametrize(
        "fault",
        [
            lambda p: p.fail(
                action="SendEmail", status=503, code="ServiceUnavailable", error_type="Receiver"
            ),
            lambda p: p.drop(action="SendEmail"),
        ],
        ids=["5xx", "connection-dropped-mid-request"],
    )
    def test_failures_after_sending_are_never_resent(
        self,
        front: SesProxy,
        client_cache: ClientCache,
        endpoint: str,
        verified: str,
        fault: Callable[[SesProxy], None],
    ) -> None:
        """SES may have accepted the message: botocore would resend it, amlses does not, and
        says the outcome is unknown rather than calling it a failure."""
        ses = connect(front.url, client_cache, max_error_retry=5)
        fault(front)
        with pytest.raises(UnknownOutcome) as caught:
            mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=no_sleep)
        assert caught.value.code == "Unknown"
        assert caught.value.message.startswith("SES may or may not have accepted the message (")
        cause = caught.value.__cause__
        assert isinstance(cause, AwsError)
        assert cause.code in ("ServiceUnavailable", "ConnectionError")
        assert front.count("SendEmail") == 1
        assert read_outbox(endpoint) == []

    def test_a_refused_connection_is_resent(self, client_cache: ClientCache) -> None:
        """Nothing reached SES, so resending is safe: MAXERRORRETRY resends, then the error."""
        ses = connect(f"http://127.0.0.1:{closed_port()}", client_cache, max_error_retry=2)
        sleeps = Sleeps()
        with pytest.raises(AwsError) as caught:
            mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=sleeps)
        assert caught.value.code == "ConnectionError" and len(sleeps) == 2

    def test_the_connection_default_is_three_attempts(
        self, ses: SesSession, front: SesProxy, verified: str
    ) -> None:
        front.fail(5, action="SendEmail")
        with pytest.raises(AwsError):
            mail.send_email(ses, sender=SENDER, to="b@x.com", text="hi", sleep=no_sleep)
        assert front.count("SendEmail") == 3

    def test_through_the_session(self, ses: SesSession, endpoint: str, verified: str) -> None:
        message_id = ses.send_email(sender=SENDER, to="b@x.com", subject="S", text="t")
        assert [m.message_id for m in read_outbox(endpoint)] == [message_id]


class TestSendRawEmail:
    MESSAGE = (
        b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nCc: carol@example.com\r\n"
        b"Subject: Prepared\r\n\r\nBody\r\n"
    )

    def test_sender_and_recipients_from_the_headers(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        message_id = mail.send_raw_email(ses, self.MESSAGE)
        params = front.requests[-1].params
        assert "Source" not in params and "Destinations.member.1" not in params
        [sent] = read_outbox(endpoint)
        assert sent.message_id == message_id and sent.subject == "Prepared"
        assert sent.recipients == ("bob@example.com", "carol@example.com")

    def test_an_email_message_and_explicit_destinations(
        self, ses: SesSession, front: SesProxy, verified: str
    ) -> None:
        built = mail.build_message(sender=SENDER, to="bob@example.com", text="hi")
        ses.send_raw_email(built, sender=SENDER, destinations="x@example.com; y@example.com")
        params = front.requests[-1].params
        assert params["Source"] == SENDER
        assert params["Destinations.member.2"] == "y@example.com"

    def test_without_a_sender(self, ses: SesSession, front: SesProxy) -> None:
        with pytest.raises(MailError, match="The message has no From header and no FROM"):
            mail.send_raw_email(ses, "To: bob@example.com\r\n\r\nhi")
        assert front.count() == 0

    def test_without_recipients(self, ses: SesSession) -> None:
        with pytest.raises(MailError, match="no recipients"):
            mail.send_raw_email(ses, "From: alice@example.com\r\n\r\nhi")

    def test_over_10_mb(self, ses: SesSession, front: SesProxy) -> None:
        big = self.MESSAGE + b"x" * (10 * 1024 * 1024)
        with pytest.raises(MailError, match=r"The message is 10\.0 MB and SES accepts at most"):
            mail.send_raw_email(ses, big)
        assert front.count() == 0

    def test_an_unverified_from_header_is_explained(self, ses: SesSession) -> None:
        with pytest.raises(AwsError) as caught:
            mail.send_raw_email(ses, self.MESSAGE)
        assert caught.value.code == "MessageRejected"
        assert "SES sends only from verified identities: verify alice@example.com" in str(
            caught.value
        )


# --------------------------------------------------------------------------------------------
# Templates


class TestTemplates:
    def test_the_whole_life_of_a_template(self, ses: SesSession) -> None:
        mail.create_template(ses, "Welcome", subject="Hi {{name}}", text="Dear {{name}}")
        assert mail.get_template(ses, "Welcome") == mail.Template(
            "Welcome", "Hi {{name}}", "Dear {{name}}", ""
        )
        mail.update_template(ses, "Welcome", subject="Hello {{name}}", html="<b>{{name}}</b>")
        assert mail.get_template(ses, "Welcome").html == "<b>{{name}}</b>"
        assert [t.Name for t in mail.list_templates(ses)] == ["Welcome"]
        rendered = mail.test_render_template(ses, "Welcome", {"name": "Ann"})
        assert "Subject: Hello Ann" in rendered
        assert mail.delete_template(ses, "Welcome") is True
        assert mail.delete_template(ses, "Welcome") is False  # absent: succeeds, as in SES
        assert mail.list_templates(ses) == []

    def test_through_the_session(self, ses: SesSession) -> None:
        ses.create_template("T", subject="S {{x}}", text="B")
        ses.update_template("T", subject="S2 {{x}}", text="B")
        assert ses.get_template("T").subject == "S2 {{x}}"
        assert [t.Name for t in ses.list_templates()] == ["T"]
        assert "Subject: S2 1" in ses.test_render_template("T", '{"x": "1"}')
        assert ses.delete_template("T") is True

    def test_a_missing_template_is_explained(self, ses: SesSession) -> None:
        with pytest.raises(AwsError) as caught:
            mail.get_template(ses, "Nope")
        assert caught.value.code == "TemplateDoesNotExist"
        assert 'There is no template named "Nope" in this account and region' in str(caught.value)

    def test_a_duplicate_points_to_update(self, ses: SesSession) -> None:
        mail.create_template(ses, "T", subject="S", text="B")
        with pytest.raises(AwsError, match='use ACTIVITY="update_template"'):
            mail.create_template(ses, "T", subject="S", text="B")

    def test_rendering_without_a_value(self, ses: SesSession) -> None:
        mail.create_template(ses, "T", subject="Hi {{name}}", text="B")
        with pytest.raises(AwsError, match="with a value for every"):
            mail.test_render_template(ses, "T", "{}")

    def test_a_template_needs_subject_and_body(self, ses: SesSession, front: SesProxy) -> None:
        with pytest.raises(StepError, match="needs a subject"):
            mail.create_template(ses, "T", subject=" ", text="B")
        with pytest.raises(MailError, match="needs a body"):
            mail.create_template(ses, "T", subject="S")
        assert front.count() == 0

    def test_every_page_is_listed(self, ses: SesSession, front: SesProxy) -> None:
        def pages(request: SesRequest) -> ProxyResponse:
            token = request.params.get("NextToken")
            name, following = ("B", "") if token else ("A", "<NextToken>p2</NextToken>")
            body = (
                "<TemplatesMetadata><member><Name>"
                + name
                + "</Name><CreatedTimestamp>2026-01-02T03:04:05Z</CreatedTimestamp></member>"
                + "</TemplatesMetadata>"
                + following
            )
            return ProxyResponse(200, ses_result("ListTemplates", body))

        front.on("ListTemplates", pages)
        assert [t.Name for t in mail.list_templates(ses)] == ["A", "B"]
        assert front.requests[0].params["MaxItems"] == "100"

    def test_send_templated_email(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        mail.create_template(ses, "Welcome", subject="Hi {{name}}", text="Dear {{name}}")
        message_id = mail.send_templated_email(
            ses,
            sender=SENDER,
            to="bob@example.com",
            template="Welcome",
            template_data='{"name": "Bob"}',
        )
        [sent] = read_outbox(endpoint)
        assert sent.message_id == message_id and sent.kind == "SendTemplatedEmail"
        assert (sent.template, sent.template_data) == ("Welcome", '{"name": "Bob"}')

    def test_send_templated_email_with_a_missing_template(
        self, ses: SesSession, verified: str
    ) -> None:
        with pytest.raises(AwsError) as caught:
            ses.send_templated_email(sender=SENDER, to="b@x.com", template="Nope")
        assert caught.value.code == "TemplateDoesNotExist"
        assert caught.value.operation == "SendTemplatedEmail"
        assert 'There is no template named "Nope"' in str(caught.value)

    def test_send_templated_email_with_data_that_is_not_json(
        self, ses: SesSession, front: SesProxy
    ) -> None:
        with pytest.raises(MailError, match="TEMPLATEDATA is not JSON"):
            mail.send_templated_email(
                ses, sender=SENDER, to="b@x.com", template="T", template_data="{name: Bob}"
            )
        assert front.count() == 0


# --------------------------------------------------------------------------------------------
# Pacing


class TestTokenBucket:
    def test_keeps_the_rate(self) -> None:
        time_ = FakeTime()
        bucket = TokenBucket(10, clock=time_.clock, sleep=time_.sleep)
        start = time_.now
        for _ in range(21):
            bucket.acquire()
        assert time_.now - start == pytest.approx(2.0)  # the first token is there at once

    def test_an_idle_bucket_fills_only_to_its_burst(self) -> None:
        time_ = FakeTime()
        bucket = TokenBucket(100, clock=time_.clock, sleep=time_.sleep)
        time_.sleep(60)
        waited = [bucket.acquire() for _ in range(11)]
        assert bucket.burst == 10
        assert waited[:10] == [0.0] * 10 and waited[10] == pytest.approx(0.01)

    def test_more_than_the_burst_runs_into_debt(self) -> None:
        time_ = FakeTime()
        bucket = TokenBucket(14, clock=time_.clock, sleep=time_.sleep)
        assert bucket.acquire(50) == pytest.approx((50 - 1.4) / 14)  # it starts with its burst
        assert bucket.acquire(14) == pytest.approx(1.0)

    def test_an_infinite_rate_never_waits(self) -> None:
        bucket = TokenBucket(float("inf"), sleep=lambda s: pytest.fail("slept"))
        assert [bucket.acquire(50) for _ in range(3)] == [0.0] * 3

    def test_a_rate_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            TokenBucket(0)

    def test_threads_share_the_rate(self) -> None:
        bucket = TokenBucket(400)
        start = time.monotonic()
        threads = [
            threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - start >= (100 - 40) / 400 * 0.95  # less the opening burst


# --------------------------------------------------------------------------------------------
# Bulk


def rows(count: int, **data: str) -> list[BulkRecipient]:
    return [
        BulkRecipient(i, f"user{i}@example.com", {"name": f"User {i}", **data})
        for i in range(1, count + 1)
    ]


class RandomThrottle:
    """Answers a share of one action's requests with a throttling error, the rest go to moto."""

    def __init__(self, share: float, message: str = "Maximum sending rate exceeded.") -> None:
        self.share = share
        self.message = message
        self.throttled = 0
        self._random = random.Random(20261123)
        self._lock = threading.Lock()

    def __call__(self, request: SesRequest) -> ProxyResponse | None:
        with self._lock:
            if self._random.random() >= self.share:
                return None
            self.throttled += 1
        return ProxyResponse(400, ses_error("Throttling", self.message))


class TestBulkSend:
    def test_one_send_email_per_row(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        report = mail.send_bulk_email(
            ses,
            ["a@example.com", "b@example.com", "c@example.com"],
            sender=SENDER,
            subject="News",
            text="Hello",
            max_send_rate=1000,
        )
        assert [(d.Row, d.Recipient, d.Status) for d in report.deliveries] == [
            (1, "a@example.com", "Success"),
            (2, "b@example.com", "Success"),
            (3, "c@example.com", "Success"),
        ]
        sent = read_outbox(endpoint)
        assert {m.message_id for m in sent} == {d.MessageId for d in report.deliveries}
        assert {m.subject for m in sent} == {"News"}
        assert front.count("SendEmail") == report.requests == 3
        assert front.count("GetSendQuota") == 0  # a given rate needs no quota

    def test_a_template_goes_out_50_destinations_a_call(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        mail.create_template(ses, "Welcome", subject="Hi {{name}}", text="Dear {{name}}")
        report = mail.send_bulk_email(
            ses,
            rows(120),
            sender=SENDER,
            template="Welcome",
            default_template_data={"name": "friend"},
            tags="campaign=welcome",
            max_send_rate=10_000,
        )
        calls = [r for r in front.requests if r.action == "SendBulkTemplatedEmail"]
        sizes = sorted(
            sum(1 for k in r.params if k.endswith(".Destination.ToAddresses.member.1"))
            for r in calls
        )
        assert sizes == [20, 50, 50]
        assert calls[0].params["DefaultTemplateData"] == '{"name": "friend"}'
        assert calls[0].params["DefaultTags.member.1.Name"] == "campaign"
        assert report.sent == 120
        by_id = {m.message_id: m for m in read_outbox(endpoint)}
        for delivery in report.deliveries:
            message = by_id[delivery.MessageId]
            assert message.recipients == (delivery.Recipient,)
            assert json.loads(message.template_data)["name"] == f"User {delivery.Row}"

    def test_the_rate_comes_from_getsendquota(
        self, ses: SesSession, front: SesProxy, verified: str
    ) -> None:
        fake_quota(front, rate=250)
        report = mail.send_bulk_email(ses, ["a@example.com"], sender=SENDER, text="x")
        assert report.rate == 250 and front.count("GetSendQuota") == 1

    def test_the_pace_is_maxsendrate(self, ses: SesSession, front: SesProxy, verified: str) -> None:
        fake_quota(front, rate=10)
        clock = FakeTime()
        report = mail.send_bulk_email(
            ses,
            [f"user{i}@example.com" for i in range(21)],
            sender=SENDER,
            text="x",
            concurrency=1,
            clock=clock.clock,
            sleep=clock.sleep,
        )
        assert report.sent == 21
        assert report.seconds == pytest.approx(2.0)  # 20 intervals of 1/10 s

    def test_a_used_up_daily_quota_stops_before_sending(
        self, ses: SesSession, front: SesProxy
    ) -> None:
        fake_quota(front, rate=10, daily=200, sent=200)
        with pytest.raises(MailError) as caught:
            mail.send_bulk_email(ses, ["a@example.com"], sender=SENDER, text="x")
        assert caught.value.code == "AccountDailyQuotaExceeded"
        assert caught.value.message.startswith(
            "The account's daily sending quota is used up: SES reports 200 of 200 messages "
            "sent in the last 24 hours (Max24HourSend)"
        )
        assert front.count("SendEmail") == 0

    def test_a_short_daily_quota_is_a_warning(
        self, ses: SesSession, front: SesProxy, verified: str
    ) -> None:
        fake_quota(front, rate=1000, daily=200, sent=198)
        report = mail.send_bulk_email(
            ses, ["a@x.com", "b@x.com", "c@x.com"], sender=SENDER, text="x"
        )
        assert report.warnings == [
            "The daily sending quota leaves room for 2 more messages but 3 are to be sent; "
            "SES will refuse the rest."
        ]

    def test_the_quota_running_out_midway_stops_the_rest(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        answered = Counter[str]()

        def quota_after_three(request: SesRequest) -> ProxyResponse | None:
            answered["SendEmail"] += 1
            if answered["SendEmail"] <= 3:
                return None
            return ProxyResponse(400, ses_error("Throttling", "Daily message quota exceeded."))

        front.on("SendEmail", quota_after_three)
        report = mail.send_bulk_email(
            ses,
            [f"user{i}@example.com" for i in range(1, 8)],
            sender=SENDER,
            text="x",
            max_send_rate=1000,
            concurrency=1,
            sleep=no_sleep,
        )
        assert [d.Status for d in report.deliveries] == ["Success"] * 3 + [
            "AccountDailyQuotaExceeded"
        ] + ["NotSent"] * 3
        assert "daily sending quota (Max24HourSend) is used up" in report.deliveries[3].Error
        assert front.count("SendEmail") == 4 and len(read_outbox(endpoint)) == 3
        assert "NotSent" in report.warnings[-1]

    def test_one_bad_row_does_not_stop_the_others(
        self, ses: SesSession, endpoint: str, verified: str
    ) -> None:
        many = "; ".join(f"u{i}@example.com" for i in range(51))
        report = mail.send_bulk_email(
            ses,
            ["a@example.com", "not an address", "", many, "b@example.com"],
            sender=SENDER,
            text="x",
            max_send_rate=1000,
        )
        assert [d.Status for d in report.deliveries] == [
            "Success",
            "InvalidAddress",
            "NoRecipients",
            "TooManyRecipients",
            "Success",
        ]
        assert report.deliveries[1] == Delivery(
            2,
            "not an address",
            "InvalidAddress",
            "",
            '"not an address" in row 2 is not an e-mail address; write addresses like '
            '"ann@example.com" or "Ann Lee <ann@example.com>", separated by commas or '
            "semicolons.",
        )
        assert report.failed == 3 and report.sent == 2 and report.unknown == 0
        assert recipients_of(read_outbox(endpoint)) == {"a@example.com": 1, "b@example.com": 1}

    def test_an_unverified_sender_fails_each_row_clearly(
        self, ses: SesSession, front: SesProxy
    ) -> None:
        report = mail.send_bulk_email(
            ses,
            ["a@example.com", "b@example.com"],
            sender="mallory@example.com",
            text="x",
            max_send_rate=1000,
            sleep=no_sleep,
        )
        assert {d.Status for d in report.deliveries} == {"MessageRejected"}
        assert "SES sends only from verified identities" in report.deliveries[0].Error
        assert front.count("SendEmail") == 2

    def test_an_empty_list(self, ses: SesSession) -> None:
        with pytest.raises(MailError, match="The recipient list is empty"):
            mail.send_bulk_email(ses, [], sender=SENDER, text="x")

    def test_a_missing_template_fails_before_any_send(
        self, ses: SesSession, front: SesProxy, verified: str
    ) -> None:
        with pytest.raises(AwsError, match='There is no template named "Nope"'):
            mail.send_bulk_email(ses, rows(3), sender=SENDER, template="Nope", max_send_rate=9)
        assert front.count("SendBulkTemplatedEmail") == 0

    def test_default_data_that_is_not_json(self, ses: SesSession) -> None:
        with pytest.raises(MailError, match="DEFAULTTEMPLATEDATA is not JSON"):
            mail.send_bulk_email(
                ses, rows(1), sender=SENDER, template="T", default_template_data="{"
            )

    def test_throttled_destinations_of_a_bulk_call_are_resent_alone(
        self, ses: SesSession, front: SesProxy, endpoint: str, verified: str
    ) -> None:
        mail.create_template(ses, "T", subject="Hi {{name}}", text="x")
        first = True

        def partial(request: SesRequest) -> ProxyResponse | None:
            nonlocal first
            if not first:
                return None
            first = False
            statuses = (
                "<member><Status>Success</Status><MessageId>accepted-1</MessageId></member>"
                "<member><Status>AccountThrottled</Status><Error>slow down</Error></member>"
                "<member><Status>MessageRejected</Status><Error>bad address</Error></member>"
            )
            return ProxyResponse(
                200, ses_result("SendBulkTemplatedEmail", f"<Status>{statuses}</Status>")
            )

        front.on("SendBulkTemplatedEmail", partial)
        report = mail.send_bulk_email(
            ses, rows(3), sender=SENDER, template="T", max_send_rate=1000, sleep=no_sleep
        )
        assert [(d.Status, d.Error) for d in report.deliveries] == [
            ("Success", ""),
            ("Success", ""),
            ("MessageRejected", "bad address"),
        ]
        assert report.deliveries[0].MessageId == "accepted-1"
        second = [r for r in front.requests if r.action == "SendBulkTemplatedEmail"][1]
        assert second.params["Destinations.member.1.Destination.ToAddresses.member.1"] == (
            "user2@example.com"
        )
        assert "Destinations.member.2.Destination.ToAddresses.member.1" not in second.params
        assert recipients_of(read_outbox(endpoint)) == {"user2@example.com": 1}

    @pytest.mark.parametrize(
        "fault",
        [
            lambda p: p.drop(action="SendEmail"),
            lambda p: p.fail(
                action="SendEmail", status=500, code="InternalFailure", error_type="Receiver"
            ),
        ],
        ids=["connection-dropped", "5xx"],
    )
    def test_rows_that_may_have_been_accepted_are_not_resent(
        self,
        ses: SesSession,
        front: SesProxy,
        verified: str,
        fault: Callable[[SesProxy], None],
    ) -> None:
        fault(front)
        report = mail.send_bulk_email(
            ses,
            ["a@x.com", "b@x.com", "c@x.com"],
            sender=SENDER,
            text="x",
            max_send_rate=1000,
            concurrency=1,
            sleep=no_sleep,
        )
        assert [d.Status for d in report.deliveries] == ["Unknown", "Success", "Success"]
        assert report.deliveries[0].Error.startswith("SES may or may not have accepted")
        assert ("ConnectionError" in report.deliveries[0].Error) or (
            "InternalFailure" in report.deliveries[0].Error
        )
        assert (report.unknown, report.sent) == (1, 2)
        assert front.count("SendEmail") == 3

    def test_throttling_beyond_maxerrorretry_is_reported_per_row(
        self, front: SesProxy, client_cache: ClientCache, verified: str
    ) -> None:
        ses = connect(front.url, client_cache, max_error_retry=2)
        front.fail(3, action="SendEmail", message="Maximum sending rate exceeded.")
        report = mail.send_bulk_email(
            ses,
            ["a@x.com", "b@x.com"],
            sender=SENDER,
            text="x",
            max_send_rate=1000,
            concurrency=1,
            sleep=no_sleep,
        )
        assert report.deliveries[0][2:] == (
            "Throttling",
            "",
            "Maximum sending rate exceeded. SES throttled every attempt: raise MAXERRORRETRY, "
            "or lower MAXSENDRATE.",
        )
        assert report.deliveries[1].Status == "Success" and report.requests == 4

    def test_refused_connections_are_retried_then_reported(self, client_cache: ClientCache) -> None:
        ses = connect(f"http://127.0.0.1:{closed_port()}", client_cache, max_error_retry=1)
        sleeps = Sleeps()
        report = mail.send_bulk_email(
            ses,
            ["a@x.com", "b@x.com"],
            sender=SENDER,
            text="x",
            max_send_rate=1000,
            concurrency=1,
            sleep=sleeps,
        )
        assert [d.Status for d in report.deliveries] == ["ConnectionError"] * 2
        assert "Could not connect to" in report.deliveries[0].Error
        assert report.requests == 4 and len(sleeps) == 2

    @pytest.mark.parametrize("templated", [False, True], ids=["SendEmail", "bulk-templated"])
    def test_30_percent_throttled_500_rows_each_delivered_exactly_once(
        self,
        front: SesProxy,
        client_cache: ClientCache,
        endpoint: str,
        verified: str,
        templated: bool,
    ) -> None:
        """The issue's proof: throttling is retried, and no recipient gets a message twice."""
        ses = connect(front.url, client_cache, max_error_retry=20)
        fake_quota(front, rate=100_000)
        throttle = RandomThrottle(0.3)
        action = "SendBulkTemplatedEmail" if templated else "SendEmail"
        front.on(action, throttle)
        options: dict[str, Any] = {"text": "Hello"}
        if templated:
            mail.create_template(ses, "T", subject="Hi {{name}}", text="Dear {{name}}")
            options = {"template": "T"}
        # 8 threads: the test proxy's listen queue is short (5), and a connection it drops
        # mid-request is rightly never resent, which is not what this test is about.
        report = mail.send_bulk_email(
            ses, rows(500), sender=SENDER, sleep=no_sleep, concurrency=8, **options
        )
        assert report.sent == 500 and report.failed == 0, report.deliveries[:3]
        delivered = recipients_of(read_outbox(endpoint))
        assert delivered == {f"user{i}@example.com": 1 for i in range(1, 501)}
        assert throttle.throttled > 0
        assert front.count(action) == report.requests
        expected_calls = 500 if not templated else 10
        assert report.requests == expected_calls + throttle.throttled

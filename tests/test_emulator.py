"""amlses.emulator: moto on loopback only, seeded from fixtures, quiet; a clear error without
moto; the outbox read back with bodies and attachments, and written with mode 0600."""

from __future__ import annotations

import json
import logging
import socket
import stat
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from amlses.emulator import (
    LocalEmulator,
    OutboxMessage,
    _looks_like_html,
    is_loopback,
    load_fixture,
    quiet_werkzeug,
    write_outbox,
)
from amlses.errors import UsageError
from amlses.redact import Redactor
from amlses.ses import ClientCache, Identity, SesSession

EXAMPLE = Path(__file__).parent.parent / "examples" / "identities.json"


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[LocalEmulator]:
    """One emulator for the module: stopping one costs werkzeug's 0.5 s poll interval."""
    with LocalEmulator() as running:
        yield running


@pytest.fixture
def emulator(shared_emulator: LocalEmulator) -> LocalEmulator:
    """The module's emulator, emptied for this test."""
    shared_emulator.reset()
    return shared_emulator


class TestLifecycle:
    def test_listens_on_loopback_with_a_random_port(self, emulator: LocalEmulator) -> None:
        parts = urlsplit(emulator.endpoint_url)
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1"
        assert parts.port and parts.port > 0
        assert emulator.running

    def test_starts_empty_and_reset_empties(self, emulator: LocalEmulator) -> None:
        emulator.seed({"identities": ["a@example.com"]})
        with LocalEmulator() as other:
            assert other.endpoint_url != emulator.endpoint_url
            # moto's state is per process, so starting `other` emptied `emulator` as well.
            assert emulator.client().list_identities()["Identities"] == []
            other.seed({"identities": ["b@example.com"]})
            assert emulator.client().list_identities()["Identities"] == ["b@example.com"]
        emulator.reset()
        assert emulator.client().list_identities()["Identities"] == []

    def test_stop_is_idempotent_and_forgets_the_endpoint(self) -> None:
        emulator = LocalEmulator().start()
        emulator.stop()
        emulator.stop()
        assert not emulator.running
        with pytest.raises(UsageError, match="not been started"):
            _ = emulator.endpoint_url

    def test_missing_moto_explains_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "moto.moto_server.werkzeug_app", None)  # import fails
        with pytest.raises(UsageError) as info:
            LocalEmulator().start()
        assert "pip install 'amlses[local]'" in info.value.message
        assert isinstance(info.value.__cause__, ImportError)


class TestSeed:
    def test_seed_from_mapping(self, emulator: LocalEmulator) -> None:
        seeded = emulator.seed({"identities": ["a@example.com", "example.com"]})
        assert seeded == ["a@example.com", "example.com"]
        client = emulator.client()
        assert client.list_identities(IdentityType="EmailAddress")["Identities"] == [
            "a@example.com"
        ]
        assert client.list_identities(IdentityType="Domain")["Identities"] == ["example.com"]

    def test_seed_from_the_shipped_example(self, emulator: LocalEmulator) -> None:
        expected = json.loads(EXAMPLE.read_text())["identities"]
        assert {"alice@example.com", "bob@example.com", "example.com"} <= set(expected)
        emulator.seed(EXAMPLE)
        assert emulator.client().list_identities()["Identities"] == expected

    def test_amlses_session_sees_seeded_identities(
        self, emulator: LocalEmulator, client_cache: ClientCache, aws_credentials: object
    ) -> None:
        emulator.seed({"identities": ["alice@example.com", "mail.example.org"]})
        session = SesSession(endpoint_url=emulator.endpoint_url, cache=client_cache)
        assert session.list_identities() == [
            Identity("alice@example.com", "EmailAddress"),
            Identity("mail.example.org", "Domain"),
        ]

    @pytest.mark.parametrize(
        ("content", "fragment"),
        [
            ("{not json", "cannot be read as JSON"),
            ("[1, 2]", "must be a JSON object"),
            ('{"identities": "a@example.com"}', "must be a list"),
            ('{"identities": [""]}', "must be a list"),
        ],
    )
    def test_bad_fixture_files(self, tmp_path: Path, content: str, fragment: str) -> None:
        path = tmp_path / "fixture.json"
        path.write_text(content)
        with pytest.raises(UsageError) as info:
            load_fixture(path)
        assert fragment in info.value.message and str(path) in info.value.message

    def test_missing_fixture_file(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="cannot be read"):
            load_fixture(tmp_path / "absent.json")

    def test_empty_mapping_seeds_nothing(self, emulator: LocalEmulator) -> None:
        assert emulator.seed({}) == []


class TestQuiet:
    def test_request_lines_are_not_logged(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        logger = logging.getLogger("werkzeug")
        monkeypatch.setattr(logger, "level", logging.NOTSET)
        with LocalEmulator() as emulator:
            emulator.seed({"identities": ["a@example.com"]})
        captured = capfd.readouterr()
        assert "POST /" not in captured.err + captured.out
        assert "MotoServer" not in captured.out
        assert logger.level == logging.WARNING

    def test_a_configured_level_is_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        logger = logging.getLogger("werkzeug")
        monkeypatch.setattr(logger, "level", logging.DEBUG)
        quiet_werkzeug()
        assert logger.level == logging.DEBUG


class TestHostAndPort:
    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.0.1", "not a host"])
    def test_anything_but_loopback_is_refused(self, host: str) -> None:
        with pytest.raises(UsageError, match="loopback addresses only"):
            LocalEmulator(host)

    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("127.8.9.10", True),
            ("::1", True),
            ("[::1]", True),
            ("localhost", True),
            ("0.0.0.0", False),
            ("8.8.8.8", False),
            ("", False),
        ],
    )
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        assert is_loopback(host) is loopback

    def test_a_port_out_of_range_is_refused(self) -> None:
        with pytest.raises(UsageError, match="between 0"):
            LocalEmulator(port=70000)

    def test_a_port_in_use_is_one_clear_error(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(UsageError) as info:
                LocalEmulator(port=port).start()
        assert info.value.message == (
            f"The SES emulator cannot listen on 127.0.0.1 port {port}: the port is in use. "
            "Choose another with --port, or leave it out for a free one."
        )

    def test_a_chosen_port_is_used_and_freed_on_stop(self) -> None:
        with socket.socket() as probe:  # a port that was free a moment ago
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        emulator = LocalEmulator(port=port).start()
        try:
            assert emulator.endpoint_url == f"http://127.0.0.1:{port}"
            assert emulator.client().list_identities()["Identities"] == []
        finally:
            emulator.stop()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the listening socket was closed, not only the serving thread stopped


def send_raw(emulator: LocalEmulator, message: EmailMessage, *destinations: str) -> str:
    response = emulator.client().send_raw_email(
        RawMessage={"Data": message.as_bytes()}, Destinations=list(destinations)
    )
    return str(response["MessageId"])


class TestOutbox:
    """read_outbox fills bodies and attachment names; to_dict and write_outbox carry them."""

    @pytest.fixture
    def sender(self, emulator: LocalEmulator) -> LocalEmulator:
        emulator.seed({"identities": ["alice@example.com"]})
        return emulator

    def test_send_email_text_body(self, sender: LocalEmulator) -> None:
        sender.client().send_email(
            Source="alice@example.com",
            Destination={"ToAddresses": ["bob@example.com"], "CcAddresses": ["c@example.com"]},
            Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello\nBob"}}},
        )
        [message] = sender.outbox()
        assert (message.kind, message.subject, message.cc) == (
            "SendEmail",
            "Hi",
            ("c@example.com",),
        )
        assert (message.text, message.html, message.attachments) == ("Hello\nBob", "", ())

    def test_send_email_keeps_only_the_html_part(self, sender: LocalEmulator) -> None:
        """moto keeps the HTML part of a message that has both, and drops the text part."""
        sender.client().send_email(
            Source="alice@example.com",
            Destination={"ToAddresses": ["bob@example.com"]},
            Message={
                "Subject": {"Data": "Hi"},
                "Body": {"Text": {"Data": "Hello"}, "Html": {"Data": "<p>Hello</p>"}},
            },
        )
        [message] = sender.outbox()
        assert (message.text, message.html) == ("", "<p>Hello</p>")

    @pytest.mark.parametrize(
        ("body", "html"),
        [
            ("<p>x</p>", True),
            ("<!DOCTYPE html><html></html>", True),
            ("a<br/>b", True),
            ("<!-- note -->", True),
            ("1 < 2 and 3 > 2", False),
            ("a <-> b", False),
            ("", False),
        ],
    )
    def test_which_send_email_bodies_count_as_html(self, body: str, html: bool) -> None:
        assert _looks_like_html(body) is html

    def test_raw_email_bodies_and_attachments(self, sender: LocalEmulator) -> None:
        message = EmailMessage()
        message["From"] = "Alice <alice@example.com>"
        message["To"] = "bob@example.com"
        message["Subject"] = "Report é"
        message.set_content("See the report.\n")
        message.add_alternative("<p>See the report.</p>\n", subtype="html")
        message.add_attachment(
            b"%PDF-1.4", maintype="application", subtype="pdf", filename="report.pdf"
        )
        message.add_attachment("a,b\n", subtype="csv", filename="figures.csv")
        message_id = send_raw(sender, message, "bob@example.com", "hidden@example.com")
        [sent] = sender.outbox()
        assert sent.message_id == message_id and sent.kind == "SendRawEmail"
        assert (sent.to, sent.bcc, sent.subject) == (
            ("bob@example.com",),
            ("hidden@example.com",),
            "Report é",
        )
        assert sent.text == "See the report.\n"
        assert sent.html == "<p>See the report.</p>\n"
        assert sent.attachments == ("report.pdf", "figures.csv")

    def test_a_plain_raw_message_has_a_text_body_only(self, sender: LocalEmulator) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "alice@example.com", "b@x.com", "S"
        message.set_content("only text\n", charset="iso-8859-1")
        send_raw(sender, message, "b@x.com")
        [sent] = sender.outbox()
        assert (sent.text, sent.html, sent.attachments) == ("only text\n", "", ())

    def test_templated_messages_keep_template_and_data(self, sender: LocalEmulator) -> None:
        client = sender.client()
        client.create_template(
            Template={"TemplateName": "Welcome", "SubjectPart": "Hi {{n}}", "TextPart": "x"}
        )
        client.send_templated_email(
            Source="alice@example.com",
            Destination={"ToAddresses": ["b@example.com"]},
            Template="Welcome",
            TemplateData='{"n": "Bob"}',
        )
        [sent] = sender.outbox()
        assert (sent.template, sent.template_data) == ("Welcome", '{"n": "Bob"}')
        assert (sent.subject, sent.text, sent.html, sent.attachments) == ("", "", "", ())

    def test_in_send_order_across_operations(self, sender: LocalEmulator) -> None:
        """An amlses emulator notes the send order (a plain moto server groups by operation:
        tests/test_outbox_order.py)."""
        client = sender.client()
        for subject in ("one", "two"):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = (
                "alice@example.com",
                "b@x.com",
                subject,
            )
            message.set_content(subject)
            send_raw(sender, message, "b@x.com")
            client.send_email(
                Source="alice@example.com",
                Destination={"ToAddresses": ["b@x.com"]},
                Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": subject}}},
            )
        assert [(m.kind, m.subject) for m in sender.outbox()] == [
            ("SendRawEmail", "one"),
            ("SendEmail", "one"),
            ("SendRawEmail", "two"),
            ("SendEmail", "two"),
        ]

    def test_to_dict_has_the_bodies_and_attachments(self) -> None:
        message = OutboxMessage(
            "id-1",
            "SendRawEmail",
            "a@x.com",
            ("b@x.com",),
            subject="S",
            text="t",
            html="<p>h</p>",
            attachments=("r.pdf",),
        )
        assert message.to_dict() == {
            "MessageId": "id-1",
            "Operation": "SendRawEmail",
            "From": "a@x.com",
            "To": ["b@x.com"],
            "Cc": [],
            "Bcc": [],
            "Subject": "S",
            "Template": "",
            "TemplateData": "",
            "Text": "t",
            "Html": "<p>h</p>",
            "Attachments": ["r.pdf"],
        }


class TestWriteOutbox:
    MESSAGES = [
        OutboxMessage(
            "id-1", "SendEmail", "a@x.com", ("b@x.com",), subject="S", text="key s3cr3tv4lue"
        )
    ]

    def redactor(self) -> Redactor:
        redactor = Redactor()
        redactor.add("s3cr3tv4lue")
        return redactor

    def test_writes_the_json_list_masked_with_mode_0600(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.json"
        write_outbox(path, self.MESSAGES, self.redactor())
        written = json.loads(path.read_text(encoding="utf-8"))
        assert written == [{**self.MESSAGES[0].to_dict(), "Text": "key ****"}]
        assert "s3cr3tv4lue" not in path.read_text(encoding="utf-8")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_an_existing_file_is_truncated_and_brought_to_0600(self, tmp_path: Path) -> None:
        path = tmp_path / "outbox.json"
        path.write_text("x" * 10_000)
        path.chmod(0o644)
        write_outbox(str(path), [], Redactor())
        assert path.read_text(encoding="utf-8") == "[]\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_an_unwritable_path_is_a_usage_error(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="cannot be written"):
            write_outbox(tmp_path / "absent" / "outbox.json", self.MESSAGES, Redactor())

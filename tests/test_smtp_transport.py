"""The SMTP transport against a real SMTP server over real TLS on 127.0.0.1.

:class:`~amlses.smtp.local.LocalSmtpServer` plays SES's SMTP interface (TLS from the first byte,
STARTTLS, a port without TLS, SES's replies); a tiny scripted server below covers what it does
not (a server that closes idle connections, one that never answers the content).  The point of
every outcome test is the at-most-once rule: an ``Unknown`` must be true (the server did store
the message), a refusal must be proven (the server stored nothing).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from amlses.errors import SessionError, StepError
from amlses.smtp.local import LocalSmtpServer
from amlses.smtp.transport import (
    SmtpEndpoint,
    SmtpError,
    SmtpLogin,
    SmtpSender,
    smtp_endpoint,
    wire_data,
)

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SENDER = "sender@example.com"


def message(subject: str = "Hello", to: str = "ann@example.com", body: str = "Hi.") -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture
def server() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as local:
        yield local


def endpoint_of(
    server: LocalSmtpServer, security: str = "implicit", **options: object
) -> SmtpEndpoint:
    port = {
        "implicit": server.implicit_port,
        "starttls": server.starttls_port,
        "none": server.plain_port,
    }[security]
    settings: dict[str, object] = {"ca_file": server.ca_file, "timeout": 10.0, **options}
    return SmtpEndpoint(server.host, port, security, **settings)  # type: ignore[arg-type]


def login_of(server: LocalSmtpServer, password: str | None = None) -> SmtpLogin:
    return SmtpLogin(server.access_key, server.password if password is None else password)


def send_one(sender: SmtpSender, subject: str = "Hello") -> str:
    return sender.send(message(subject), SENDER, ["ann@example.com"])


class TestSecureSends:
    @pytest.mark.parametrize("security", ["implicit", "starttls"])
    def test_a_message_arrives_with_the_message_id_the_server_gave(
        self, server: LocalSmtpServer, security: str
    ) -> None:
        with SmtpSender(endpoint_of(server, security), login_of(server)) as sender:
            message_id = sender.send(message(), SENDER, ["ann@example.com", "bcc@example.com"])
        [stored] = server.received()
        assert message_id and message_id == stored.message_id
        assert stored.sender == SENDER
        assert stored.recipients == ("ann@example.com", "bcc@example.com")
        assert b"Subject: Hello" in stored.raw
        assert stored.listener == security

    def test_twenty_messages_share_one_connection(self, server: LocalSmtpServer) -> None:
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            ids = [send_one(sender, f"Message {n}") for n in range(20)]
        stored = server.received()
        assert server.connections == 1
        assert [m.message_id for m in stored] == ids
        assert len(set(ids)) == 20
        assert [m.raw.count(b"Subject: Message ") for m in stored] == [1] * 20

    def test_a_refusal_leaves_the_connection_usable(self, server: LocalSmtpServer) -> None:
        server.reject(1)
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError):
                send_one(sender, "Refused")
            send_one(sender, "Accepted")
        assert [b"Subject: Accepted" in m.raw for m in server.received()] == [True]
        assert server.connections == 1

    def test_leading_dots_and_bare_line_feeds_arrive_intact(self, server: LocalSmtpServer) -> None:
        raw = message(body=".hidden\n..two\nlast").replace(b"\r\n", b"\n")
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            sender.send(raw, SENDER, ["ann@example.com"])
        [stored] = server.received()
        assert b"\r\n.hidden\r\n..two\r\nlast" in stored.raw

    def test_an_eight_bit_message_arrives_intact(self, server: LocalSmtpServer) -> None:
        raw = message(body="Grüße aus Köln").replace(
            b"charset=utf-8", b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
        )
        with SmtpSender(endpoint_of(server, "starttls"), login_of(server)) as sender:
            sender.send(raw, SENDER, ["ann@example.com"])
        assert "Grüße aus Köln".encode() in server.received()[0].raw


class TestCredentialsStayEncrypted:
    def test_a_login_without_tls_is_refused_before_connecting(
        self, server: LocalSmtpServer
    ) -> None:
        with pytest.raises(SessionError) as caught:
            SmtpSender(endpoint_of(server, "none"), login_of(server))
        assert "unencrypted" in caught.value.message
        assert server.connections == 0 and server.received() == []

    def test_a_starttls_endpoint_whose_server_offers_no_starttls_is_left_before_auth(
        self, server: LocalSmtpServer
    ) -> None:
        endpoint = SmtpEndpoint(server.host, server.plain_port, "starttls", timeout=10.0)
        with SmtpSender(endpoint, login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert "does not offer STARTTLS" in error.message
        assert (error.unknown, error.retryable) == (False, False)
        assert server.received() == []

    def test_a_refusal_at_mail_from_is_proven_and_final(self, server: LocalSmtpServer) -> None:
        """The port without TLS takes no login, so it refuses MAIL FROM: nothing was sent."""
        with SmtpSender(endpoint_of(server, "none"), None) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert error.reply_code == 530 and "MAIL FROM" in error.message
        assert (error.code, error.unknown, error.retryable) == ("SmtpError", False, False)
        assert server.received() == []

    def test_a_wrong_password_is_authentication_failed_and_never_shown(
        self, server: LocalSmtpServer
    ) -> None:
        wrong = "BBwrongPasswordWrongPasswordWrongPassw0rd12"
        with SmtpSender(endpoint_of(server), login_of(server, wrong)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert (error.code, error.reply_code, error.retryable, error.unknown) == (
            "AuthenticationFailed",
            535,
            False,
            False,
        )
        assert ACCESS_KEY in error.message  # the user helps; the password never shows
        shown = f"{error.render()} {error!r} {SmtpLogin(ACCESS_KEY, wrong)!r} {sender!r}"
        assert wrong not in shown and server.password not in shown
        assert server.received() == []


class TestCertificates:
    def test_an_untrusted_certificate_is_a_certificate_error_naming_the_cures(
        self, server: LocalSmtpServer
    ) -> None:
        with SmtpSender(endpoint_of(server, ca_file=None), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert error.code == "CertificateError"
        assert "IGNOREINVALIDCERTIFICATE" in error.message and "SSL_CERT_FILE" in error.message
        assert (error.unknown, error.retryable) == (False, False)
        assert server.received() == []

    @pytest.mark.parametrize("security", ["implicit", "starttls"])
    def test_ssl_cert_file_makes_the_certificate_trusted(
        self, server: LocalSmtpServer, security: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
        with SmtpSender(endpoint_of(server, security, ca_file=None), login_of(server)) as sender:
            send_one(sender)
        assert len(server.received()) == 1

    def test_verify_false_skips_the_check(self, server: LocalSmtpServer) -> None:
        endpoint = endpoint_of(server, ca_file=None, verify=False)
        with SmtpSender(endpoint, login_of(server)) as sender:
            send_one(sender)
        assert len(server.received()) == 1

    def test_a_ca_file_that_cannot_be_read_is_a_session_error(
        self, server: LocalSmtpServer
    ) -> None:
        with SmtpSender(endpoint_of(server, ca_file="/nonexistent/ca.pem"), None) as sender:
            with pytest.raises(SessionError, match="CA file"):
                send_one(sender)
        assert server.connections == 0


class TestOutcomes:
    def test_throttling_is_retryable_and_nothing_was_stored(self, server: LocalSmtpServer) -> None:
        server.throttle(1)
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
            error = caught.value
            assert (error.code, error.reply_code) == ("Throttling", 454)
            assert (error.retryable, error.unknown) == (True, False)
            assert "Maximum sending rate exceeded" in error.message
            assert server.received() == []
            send_one(sender)  # the resend a caller may make goes through
        assert len(server.received()) == 1

    def test_a_rejected_message_is_message_rejected_and_not_retryable(
        self, server: LocalSmtpServer
    ) -> None:
        server.reject(1)
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert isinstance(error, StepError)
        assert (error.code, error.reply_code) == ("MessageRejected", 554)
        assert (error.retryable, error.unknown) == (False, False)
        assert "Email address is not verified" in error.message
        assert server.received() == []

    def test_the_daily_quota_is_throttling_but_not_retryable(self, server: LocalSmtpServer) -> None:
        server.reject(1, reply="454 Throttling failure: Daily message quota exceeded.")
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert (error.code, error.reply_code, error.retryable) == ("Throttling", 454, False)

    def test_another_temporary_reply_is_retryable(self, server: LocalSmtpServer) -> None:
        server.reject(1, reply="451 Temporary service failure.")
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert (error.code, error.reply_code, error.retryable) == ("SmtpError", 451, True)

    def test_a_connection_lost_after_the_content_is_unknown_and_the_server_has_it(
        self, server: LocalSmtpServer
    ) -> None:
        server.drop_after_data(1)
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender, "Maybe")
            error = caught.value
            assert (error.code, error.unknown, error.retryable) == ("Unknown", True, False)
            assert "may or may not have accepted" in error.message
            # "Unknown" is the truth: the server did store it
            assert [b"Subject: Maybe" in m.raw for m in server.received()] == [True]
            send_one(sender, "Next")  # a new message opens a new connection
        assert server.connections == 2
        assert len(server.received()) == 2

    def test_a_server_that_cannot_be_reached_is_a_retryable_connection_error(self) -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        endpoint = SmtpEndpoint("127.0.0.1", port, "implicit", timeout=5.0)
        with SmtpSender(endpoint, SmtpLogin(ACCESS_KEY, "secret")) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        error = caught.value
        assert (error.code, error.retryable, error.unknown) == ("ConnectionError", True, False)

    def test_tls_against_a_starttls_port_names_the_scheme_to_use(
        self, server: LocalSmtpServer
    ) -> None:
        endpoint = SmtpEndpoint(
            server.host, server.starttls_port, "implicit", ca_file=server.ca_file, timeout=10.0
        )
        with SmtpSender(endpoint, login_of(server)) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        assert caught.value.code == "ConnectionError"
        assert "smtp:// (STARTTLS)" in caught.value.message
        assert server.received() == []

    def test_no_recipient_is_refused_before_connecting(self, server: LocalSmtpServer) -> None:
        with SmtpSender(endpoint_of(server), login_of(server)) as sender:
            with pytest.raises(SmtpError, match="at least one recipient"):
                sender.send(message(), SENDER, [])
        assert server.connections == 0


# -- a scripted server for what LocalSmtpServer does not do ------------------------------------


class ScriptedServer:
    """A plain SMTP server on 127.0.0.1 that does what a test tells it after each message:
    ``"close"`` (close the connection, as SES closes idle ones) or ``"hang"`` (store the
    content and never answer)."""

    def __init__(self, after_message: Callable[[int], str]) -> None:
        self.after_message = after_message
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.messages: list[bytes] = []
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        file = conn.makefile("rb")
        conn.sendall(b"220 scripted ESMTP\r\n")
        while True:
            line = file.readline()
            if not line:
                return
            command = line.decode().strip().upper()
            self.commands.append(command.split(" ")[0])
            if command.startswith("EHLO"):
                conn.sendall(b"250-scripted\r\n250 8BITMIME\r\n")
            elif command == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                content = b""
                while (part := file.readline()) not in (b".\r\n", b""):
                    content += part
                self.messages.append(content)
                what = self.after_message(len(self.messages))
                if what == "hang":
                    self._stop.wait(30)
                    return
                conn.sendall(f"250 Ok scripted-{len(self.messages)}\r\n".encode())
                if what == "close":
                    return
            elif command == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def endpoint(self, timeout: float = 10.0) -> SmtpEndpoint:
        return SmtpEndpoint("127.0.0.1", self.port, "none", timeout=timeout)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int], str]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(after_message: Callable[[int], str]) -> ScriptedServer:
        servers.append(ScriptedServer(after_message))
        return servers[-1]

    yield start
    for one in servers:
        one.close()


class TestIdleConnections:
    def test_a_connection_the_server_closed_while_idle_is_opened_again_once(
        self, scripted: Callable[[Callable[[int], str]], ScriptedServer]
    ) -> None:
        server = scripted(lambda n: "close")
        with SmtpSender(server.endpoint(), None) as sender:
            ids = [send_one(sender, f"M{n}") for n in range(3)]
        assert ids == ["scripted-1", "scripted-2", "scripted-3"]
        assert server.connections == 3 and len(server.messages) == 3
        assert server.commands.count("EHLO") == 3

    def test_between_messages_the_connection_is_reset_not_greeted_again(
        self, scripted: Callable[[Callable[[int], str]], ScriptedServer]
    ) -> None:
        server = scripted(lambda n: "answer")
        with SmtpSender(server.endpoint(), None) as sender:
            send_one(sender)
            send_one(sender)
        assert server.commands == [
            "EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"
        ]  # fmt: skip

    def test_a_reply_that_never_comes_after_the_content_is_unknown(
        self, scripted: Callable[[Callable[[int], str]], ScriptedServer]
    ) -> None:
        server = scripted(lambda n: "hang")
        with SmtpSender(server.endpoint(timeout=0.5), None) as sender:
            with pytest.raises(SmtpError) as caught:
                send_one(sender)
        assert (caught.value.code, caught.value.unknown) == ("Unknown", True)
        assert len(server.messages) == 1


class TestEndpoints:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("smtps://mail.example.com", ("mail.example.com", 465, "implicit", None)),
            ("smtps://mail.example.com:2465/", ("mail.example.com", 2465, "implicit", None)),
            ("smtp://mail.example.com", ("mail.example.com", 587, "starttls", None)),
            ("SMTP://127.0.0.1:2525", ("127.0.0.1", 2525, "starttls", None)),
            ("smtps://[::1]:4650", ("::1", 4650, "implicit", None)),
            (
                "https://email-smtp.eu-west-1.amazonaws.com",
                ("email-smtp.eu-west-1.amazonaws.com", 465, "implicit", "eu-west-1"),
            ),
            (
                "email-smtp.us-west-2.amazonaws.com",
                ("email-smtp.us-west-2.amazonaws.com", 465, "implicit", "us-west-2"),
            ),
            (
                "email-smtp.us-west-2.amazonaws.com:587",
                ("email-smtp.us-west-2.amazonaws.com", 587, "starttls", "us-west-2"),
            ),
            (
                "Email-SMTP.ap-south-1.amazonaws.com:25",
                ("email-smtp.ap-south-1.amazonaws.com", 25, "starttls", "ap-south-1"),
            ),
            (
                "email-smtp.ap-south-1.amazonaws.com:2587",
                ("email-smtp.ap-south-1.amazonaws.com", 2587, "starttls", "ap-south-1"),
            ),
            (
                "email-smtp.ap-south-1.amazonaws.com:2465",
                ("email-smtp.ap-south-1.amazonaws.com", 2465, "implicit", "ap-south-1"),
            ),
            (
                "smtp://email-smtp-fips.us-east-1.amazonaws.com:2587",
                ("email-smtp-fips.us-east-1.amazonaws.com", 2587, "starttls", "us-east-1"),
            ),
            (
                "smtps://email-smtp.eu-central-1.amazonaws.com",
                ("email-smtp.eu-central-1.amazonaws.com", 465, "implicit", "eu-central-1"),
            ),
        ],
    )
    def test_smtp_endpoints(self, text: str, expected: tuple[object, ...]) -> None:
        endpoint = smtp_endpoint(text)
        assert endpoint is not None
        assert (endpoint.host, endpoint.port, endpoint.security, endpoint.region) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "https://email.eu-west-1.amazonaws.com",
            "http://127.0.0.1:5000",
            "email.us-east-1.amazonaws.com",
            "mail.example.com",
            "ftp://email-smtp.eu-west-1.amazonaws.com",
        ],
    )
    def test_what_is_not_an_smtp_endpoint_is_none(self, text: str) -> None:
        assert smtp_endpoint(text) is None

    def test_the_region_given_serves_hosts_that_name_none(self) -> None:
        assert smtp_endpoint("smtps://127.0.0.1:1465", region="eu-west-2").region == "eu-west-2"  # type: ignore[union-attr]
        ses = smtp_endpoint("email-smtp.eu-west-1.amazonaws.com", region="eu-west-2")
        assert ses is not None and ses.region == "eu-west-1"  # the host's region wins

    def test_verify_and_ca_file_are_kept(self) -> None:
        endpoint = smtp_endpoint("smtps://localhost:1", verify=False, ca_file="/ca.pem")
        assert endpoint is not None and (endpoint.verify, endpoint.ca_file) == (False, "/ca.pem")

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("smtps://mail.example.com:99999", "port that is not a number"),
            ("smtps://mail.example.com:abc", "port that is not a number"),
            ("smtps://mail.example.com/path", "nothing after it"),
            ("smtp://mail.example.com?x=1", "nothing after it"),
            ("smtps://", "names no host"),
            ("smtps://mail.example.com:0", "port 0"),
            ("email-smtp.eu-west-1.amazonaws.com:2525", "does not listen on port 2525"),
            ("smtps://email-smtp.eu-west-1.amazonaws.com:587", "write smtp://"),
            ("smtp://email-smtp.eu-west-1.amazonaws.com:465", "write smtps://"),
        ],
    )
    def test_bad_smtp_urls_are_session_errors(self, text: str, words: str) -> None:
        with pytest.raises(SessionError, match=words):
            smtp_endpoint(text)

    def test_a_user_or_password_in_the_url_is_refused_without_echoing_it(self) -> None:
        with pytest.raises(SessionError) as caught:
            smtp_endpoint("smtps://AKIAUSER:TopSecretPw1@email-smtp.eu-west-1.amazonaws.com")
        assert "TopSecretPw1" not in caught.value.render()
        assert "user or password" in caught.value.message


def test_the_content_is_dot_stuffed_and_ends_with_the_final_dot() -> None:
    assert wire_data(b"a\n.b\r\n..c") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert wire_data(b"x\r\n") == b"x\r\n.\r\n"

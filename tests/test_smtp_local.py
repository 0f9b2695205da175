"""LocalSmtpServer, driven by the standard library's smtplib over real sockets and real TLS.

Every test starts its own server on 127.0.0.1 (ports from the OS) and talks to it as any SMTP
client would: TLS from the first byte or after STARTTLS with the server's CA trusted, AUTH,
MAIL/RCPT/DATA.  What the server stored is then compared with what was sent.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from amlses.errors import UsageError
from amlses.smtp import LocalSmtpServer, SmtpMessage, smtp_password
from amlses.smtp.local import INVALID_CREDENTIALS, NOT_VERIFIED, THROTTLED
from amlses.smtp.password import UnsupportedSmtpRegion

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MESSAGE = b"From: me@example.com\r\nTo: ann@example.com\r\nSubject: Hi\r\n\r\nHello.\r\n"


@pytest.fixture
def server() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1") as s:
        yield s


def trusting(server: LocalSmtpServer) -> ssl.SSLContext:
    """A client context that trusts only the server's CA (and checks the host name)."""
    return ssl.create_default_context(cafile=server.ca_file)


def untrusting() -> ssl.SSLContext:
    """A client context with the system's CAs only, none of which signed the server's."""
    return ssl.create_default_context()


def implicit(server: LocalSmtpServer, *, login: bool = True) -> smtplib.SMTP_SSL:
    client = smtplib.SMTP_SSL(server.host, server.implicit_port, context=trusting(server))
    if login:
        client.login(server.access_key, server.password)
    return client


def starttls(server: LocalSmtpServer, *, login: bool = True) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.starttls_port)
    client.starttls(context=trusting(server))
    if login:
        client.login(server.access_key, server.password)
    return client


def send(
    client: smtplib.SMTP, sender: str, recipients: list[str], data: bytes = MESSAGE
) -> tuple[int, bytes]:
    """MAIL, RCPT, DATA by hand, returning DATA's reply (``sendmail`` swallows it)."""
    assert client.mail(sender)[0] == 250
    for recipient in recipients:
        assert client.rcpt(recipient)[0] == 250
    return client.data(data)


class TestTls:
    def test_implicit_tls_delivers_and_stores_the_message(self, server: LocalSmtpServer) -> None:
        with implicit(server) as client:
            code, reply = send(client, "me@example.com", ["ann@example.com", "bob@example.com"])
        [message] = server.received()
        assert (code, reply) == (250, f"Ok {message.message_id}".encode())
        assert message == SmtpMessage(
            message_id=message.message_id,
            sender="me@example.com",
            recipients=("ann@example.com", "bob@example.com"),
            raw=MESSAGE,
            listener="implicit",
        )

    def test_starttls_is_required_and_then_delivers(self, server: LocalSmtpServer) -> None:
        with smtplib.SMTP(server.host, server.starttls_port) as client:
            client.ehlo()
            assert client.has_extn("starttls") and not client.has_extn("auth")
            assert client.mail("me@example.com")[0] == 530  # nothing before STARTTLS
            client.starttls(context=trusting(server))
            client.ehlo()
            assert client.has_extn("auth") and not client.has_extn("starttls")
            client.login(server.access_key, server.password)
            code, reply = send(client, "me@example.com", ["ann@example.com"])
        [message] = server.received()
        assert (code, reply) == (250, f"Ok {message.message_id}".encode())
        assert message.listener == "starttls"

    def test_the_certificate_names_localhost_and_the_loopback_address(
        self, server: LocalSmtpServer
    ) -> None:
        for name in ("localhost", "127.0.0.1"):
            with socket.create_connection((server.host, server.implicit_port)) as raw:
                with trusting(server).wrap_socket(raw, server_hostname=name) as tls:
                    assert tls.recv(1024).startswith(b"220 ")

    def test_a_client_that_does_not_trust_the_ca_is_refused(self, server: LocalSmtpServer) -> None:
        with pytest.raises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL(server.host, server.implicit_port, context=untrusting())
        with smtplib.SMTP(server.host, server.starttls_port) as client:
            with pytest.raises(ssl.SSLCertVerificationError):
                client.starttls(context=ssl.create_default_context())
        assert server.received() == []

    def test_the_key_and_certificates_are_private_and_removed_on_stop(self) -> None:
        server = LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY).start()
        folder = Path(server.ca_file).parent
        try:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            files = sorted(folder.iterdir())
            assert [f.name for f in files] == ["ca.pem", "server.key", "server.pem"]
            assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
        finally:
            server.stop()
        assert not folder.exists()


class TestAuth:
    @pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
    def test_the_derived_password_is_accepted(
        self, server: LocalSmtpServer, mechanism: str
    ) -> None:
        assert server.password == smtp_password(SECRET_KEY, "eu-west-1")
        with implicit(server, login=False) as client:
            client.ehlo()
            client.user, client.password = ACCESS_KEY, server.password
            method = client.auth_plain if mechanism == "PLAIN" else client.auth_login
            assert client.auth(mechanism, method) == (235, b"Authentication successful.")

    @pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
    @pytest.mark.parametrize(
        "user, password",
        [
            (ACCESS_KEY, SECRET_KEY),  # the secret key itself is not the SMTP password
            (ACCESS_KEY, smtp_password(SECRET_KEY, "us-east-1")),  # another region's
            ("AKIAOTHEREXAMPLE", "derived"),  # another user
        ],
        ids=["secret-key", "other-region", "other-user"],
    )
    def test_anything_else_is_answered_as_ses_does(
        self, server: LocalSmtpServer, mechanism: str, user: str, password: str
    ) -> None:
        if password == "derived":
            password = server.password
        with implicit(server, login=False) as client:
            client.ehlo()
            client.user, client.password = user, password
            method = client.auth_plain if mechanism == "PLAIN" else client.auth_login
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.auth(mechanism, method)
            assert (refused.value.smtp_code, refused.value.smtp_error.decode()) == (
                535,
                INVALID_CREDENTIALS.removeprefix("535 "),
            )

    def test_no_mail_before_auth(self, server: LocalSmtpServer) -> None:
        for client in (implicit(server, login=False), starttls(server, login=False)):
            with client:
                client.ehlo()
                code, reply = client.mail("me@example.com")
                assert (code, reply) == (530, b"5.7.0 Authentication required")
        assert server.received() == []

    def test_the_plain_listener_offers_no_tls_and_refuses_auth(
        self, server: LocalSmtpServer
    ) -> None:
        with smtplib.SMTP(server.host, server.plain_port) as client:
            client.ehlo()
            assert not client.has_extn("starttls") and not client.has_extn("auth")
            with pytest.raises(smtplib.SMTPNotSupportedError):
                client.login(server.access_key, server.password)
            code, _ = client.docmd("AUTH", "PLAIN " + "AEFLSUEAeA==")  # sent anyway: refused
            assert code == 538
            assert client.mail("me@example.com")[0] == 530
        assert server.received() == []


class TestScriptedOutcomes:
    def test_throttle_answers_ses_s_454_and_stores_nothing(self, server: LocalSmtpServer) -> None:
        server.throttle(2)
        with implicit(server) as client:
            for _ in range(2):
                assert send(client, "me@example.com", ["ann@example.com"]) == (
                    454,
                    THROTTLED.removeprefix("454 ").encode(),
                )
            assert send(client, "me@example.com", ["ann@example.com"])[0] == 250
        assert len(server.received()) == 1

    def test_reject_answers_the_reply_given(self, server: LocalSmtpServer) -> None:
        custom = "554 Message rejected: Sending paused for this account."
        server.reject()
        server.reject(reply=custom)
        with starttls(server) as client:
            assert send(client, "me@example.com", ["ann@example.com"]) == (
                554,
                NOT_VERIFIED.removeprefix("554 ").encode(),
            )
            assert send(client, "me@example.com", ["ann@example.com"]) == (
                554,
                custom.removeprefix("554 ").encode(),
            )
            assert send(client, "me@example.com", ["ann@example.com"])[0] == 250
        assert len(server.received()) == 1

    def test_outcomes_are_taken_in_the_order_asked_for(self, server: LocalSmtpServer) -> None:
        server.reject()
        server.throttle()
        with implicit(server) as client:
            codes = [send(client, "me@example.com", [f"r{i}@example.com"])[0] for i in range(3)]
        assert codes == [554, 454, 250]
        assert [m.recipients for m in server.received()] == [("r2@example.com",)]

    @pytest.mark.parametrize("reply", ["250 Ok", "Message rejected", "554", "554 a\r\n250 b"])
    def test_a_rejection_must_be_a_failure_reply(self, server: LocalSmtpServer, reply: str) -> None:
        with pytest.raises(ValueError):
            server.reject(reply=reply)

    def test_drop_after_data_stores_the_message_and_closes_without_reply(
        self, server: LocalSmtpServer
    ) -> None:
        server.drop_after_data()
        client = implicit(server)
        client.mail("me@example.com")
        client.rcpt("ann@example.com")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.data(MESSAGE)
        client.close()
        [message] = server.received()
        assert (message.raw, message.recipients) == (MESSAGE, ("ann@example.com",))
        with starttls(server) as again:  # the server itself goes on
            assert send(again, "me@example.com", ["bob@example.com"])[0] == 250
        assert len(server.received()) == 2

    def test_zero_queues_nothing_and_negative_is_refused(self, server: LocalSmtpServer) -> None:
        server.throttle(0)
        with pytest.raises(ValueError):
            server.drop_after_data(-1)
        with implicit(server) as client:
            assert send(client, "me@example.com", ["ann@example.com"])[0] == 250


class TestBookkeeping:
    def test_connections_counts_every_accepted_connection(self, server: LocalSmtpServer) -> None:
        assert server.connections == 0
        implicit(server).quit()
        starttls(server).quit()
        smtplib.SMTP(server.host, server.plain_port).quit()
        with pytest.raises(ssl.SSLError):  # a failed handshake was still a connection
            smtplib.SMTP_SSL(server.host, server.implicit_port, context=untrusting())
        assert server.connections == 4

    def test_received_is_a_snapshot_in_arrival_order(self, server: LocalSmtpServer) -> None:
        with implicit(server) as client:
            for i in range(3):
                send(client, f"s{i}@example.com", ["ann@example.com"])
        snapshot = server.received()
        snapshot.clear()
        assert [m.sender for m in server.received()] == [f"s{i}@example.com" for i in range(3)]
        assert len({m.message_id for m in server.received()}) == 3

    def test_concurrent_clients_are_all_served(self, server: LocalSmtpServer) -> None:
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                with (implicit if i % 2 else starttls)(server) as client:
                    send(client, "me@example.com", [f"r{i}@example.com"], MESSAGE)
            except BaseException as error:  # noqa: BLE001 (reported by the main thread)
                errors.append(error)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert sorted(m.recipients[0] for m in server.received()) == sorted(
            f"r{i}@example.com" for i in range(8)
        )

    def test_eight_bit_content_is_kept_byte_for_byte(self, server: LocalSmtpServer) -> None:
        data = "Subject: café\r\n\r\nGrüße, ça va?\r\n..leading dot\r\n".encode()
        with implicit(server) as client:
            assert send(client, "me@example.com", ["ann@example.com"], data)[0] == 250
        assert server.received()[0].raw == data

    def test_nothing_is_logged(
        self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.DEBUG)
        with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as server:
            with implicit(server) as client:
                send(client, "me@example.com", ["ann@example.com"])
            with smtplib.SMTP(server.host, server.plain_port) as client:
                client.ehlo()
                client.docmd("AUTH", "PLAIN AEFLSUEAeA==")
                client.docmd("BOGUS")
        # asyncio says which selector a new loop uses, at DEBUG; nothing else may appear
        records = [r for r in caplog.records if r.name == "mail.log" or r.levelno > logging.DEBUG]
        assert records == []
        assert capfd.readouterr() == ("", "")

    def test_repr_shows_no_secret(self, server: LocalSmtpServer) -> None:
        text = repr(server)
        assert ACCESS_KEY in text and str(server.implicit_port) in text
        assert SECRET_KEY not in text and server.password not in text


class TestLifeCycle:
    def test_stop_releases_the_ports_and_leaves_no_thread(self) -> None:
        before = set(threading.enumerate())
        server = LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY).start()
        ports = (server.implicit_port, server.starttls_port, server.plain_port)
        assert len(set(ports)) == 3
        open_client = starttls(server)  # a session still open when the server stops
        open_client.mail("me@example.com")
        idle = socket.create_connection((server.host, server.implicit_port))  # no handshake
        server.stop()
        assert set(threading.enumerate()) == before
        assert server.state == "stopped"
        assert idle.recv(1) == b""  # the server closed its end of both connections
        idle.close()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            open_client.rcpt("ann@example.com")
        open_client.close()
        for port in ports:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((server.host, port), timeout=5).close()
            with socket.socket() as sock:  # free to listen on again (as any server would)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((server.host, port))
                sock.listen()
        server.stop()  # twice is fine

    def test_a_server_starts_once(self) -> None:
        server = LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        server.stop()  # before start: nothing to do
        with pytest.raises(RuntimeError):
            server.start()

    @pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com", "", "::"])
    def test_only_loopback_hosts_are_accepted(self, host: str) -> None:
        with pytest.raises(UsageError, match="loopback only"):
            LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, host=host)

    def test_localhost_means_127_0_0_1(self) -> None:
        server = LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, host="localhost")
        assert server.host == "127.0.0.1"

    def test_a_region_without_ses_smtp_is_refused_at_once(self) -> None:
        with pytest.raises(UnsupportedSmtpRegion) as refused:
            LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="mars-north-1")
        assert SECRET_KEY not in str(refused.value)

    def test_an_access_key_is_required(self) -> None:
        with pytest.raises(UsageError):
            LocalSmtpServer(access_key="", secret_key=SECRET_KEY)

    def test_the_package_s_names_load_neither_aiosmtpd_nor_cryptography(self) -> None:
        code = (
            "import sys, amlses.smtp as smtp; [getattr(smtp, name) for name in smtp.__all__]; "
            "print(sorted(m for m in ('aiosmtpd', 'cryptography') if m in sys.modules))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "[]", "")

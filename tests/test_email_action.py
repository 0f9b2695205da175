"""Automate's Email action (``<AMEMAIL>`` sessions, ``<AMSENDEMAIL>``) over real SMTP and TLS.

Every task runs through :mod:`amlses.api` or the CLI against
:class:`~amlses.smtp.local.LocalSmtpServer` on 127.0.0.1, which plays SES's SMTP interface
(TLS from the first byte, STARTTLS, a port without TLS, AUTH with the derived password, SES's
replies).  What was delivered is read back from the server (:meth:`received`, the raw bytes
and the envelope), never from amlses's own account of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from amlses import actions, api
from amlses.actions.email_send import server_of
from amlses.errors import TaskError
from amlses.lang.nodes import Step
from amlses.runtime.context import Context, RunOptions
from amlses.smtp.local import LocalSmtpServer
from amlses.smtp.password import smtp_password
from clitools import invoke, write_task

ACCESS_KEY = "AKIAEMAILACTIONTEST1"
SECRET_KEY = "email-action/secret+key0123456789abcdefgh"
REGION = "eu-west-1"
SENDER = "alice@example.com"
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSmtpServer]:
    """A local SES SMTP endpoint whose certificate the run trusts (through SSL_CERT_FILE, as a
    user trusts a private CA)."""
    with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION) as local:
        monkeypatch.setenv("SSL_CERT_FILE", local.ca_file)
        yield local


class Recorder:
    """A reporter that keeps every step line and message, as the CLI would print them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        self.lines.append(f"{step.label}: {outcome}")

    def dataset(self, step: Step, dataset: Any) -> None:
        self.lines.append(f"dataset {dataset.name}")

    def message(self, text: str, level: str = "info") -> None:
        self.lines.append(f"{level}: {text}")

    def progress(self, block: Any, done: int, total: int | None) -> None:
        pass


def run(tmp_path: Path, text: str, **options: Any) -> tuple[api.RunResult, Recorder]:
    task = write_task(tmp_path, text)
    recorder = Recorder()
    result = api.run(text, str(task), reporter=recorder, options=RunOptions(**options))
    return result, recorder


def server_attrs(server: LocalSmtpServer, security: str = "implicit", **extra: str) -> str:
    """SERVER, PORT, SECURITY, USERNAME and PASSWORD of a step for ``server``."""
    port = {
        "implicit": server.implicit_port,
        "explicit": server.starttls_port,
        "none": server.plain_port,
    }[security]
    fields = {
        "SERVER": server.host,
        "PORT": str(port),
        "SECURITY": security,
        "USERNAME": server.access_key,
        "PASSWORD": server.password,
        **extra,
    }
    return " ".join(f'{name}="{value}"' for name, value in fields.items() if value)


def parsed(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def headers_of(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode()


class TestSessions:
    @pytest.mark.parametrize(
        ("security", "listener"), [("implicit", "implicit"), ("explicit", "starttls")]
    )
    def test_a_session_sends_every_message_over_one_connection(
        self, tmp_path: Path, server: LocalSmtpServer, security: str, listener: str
    ) -> None:
        result, _ = run(
            tmp_path,
            '<AMEMAIL ACTIVITY="create_session" SESSION="Mail" '
            f"{server_attrs(server, security)} />\n"
            f'<AMSENDEMAIL SESSION="Mail" FROM="{SENDER}" TO="bob@example.com" SUBJECT="one" '
            'BODY="first" RESULTVARIABLE="First" />\n'
            f'<AMSENDEMAIL SESSION="mail" FROM="{SENDER}" TO="carol@example.com" SUBJECT="two" '
            'BODY="second" RESULTVARIABLE="Second" />\n'
            '<AMEMAIL ACTIVITY="end_session" SESSION="Mail" />\n',
        )
        assert result.ok, result.error
        first, second = server.received()
        assert [m.listener for m in (first, second)] == [listener, listener]
        assert (first.recipients, second.recipients) == (
            ("bob@example.com",),
            ("carol@example.com",),
        )
        assert first.sender == SENDER
        assert (result.variables["First"], result.variables["Second"]) == (
            first.message_id,
            second.message_id,
        )
        assert server.connections == 1  # the session's connection was reused

    def test_create_session_makes_no_connection(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, lines = run(
            tmp_path,
            f'<AMEMAIL ACTIVITY="create_session" {server_attrs(server)} />\n'
            '<AMEMAIL ACTIVITY="end_session" />\n',
        )
        assert result.ok, result.error
        assert server.connections == 0
        assert lines.lines[0] == (
            f'<AMEMAIL ACTIVITY="create_session">: Email session EmailSession1 opened for '
            f"{server.host}:{server.implicit_port}"
        )

    def test_an_ended_session_sends_nothing(self, tmp_path: Path, server: LocalSmtpServer) -> None:
        result, _ = run(
            tmp_path,
            f'<AMEMAIL ACTIVITY="create_session" SESSION="S" {server_attrs(server)} />\n'
            '<AMEMAIL ACTIVITY="end_session" SESSION="S" />\n'
            f'<AMSENDEMAIL SESSION="S" FROM="{SENDER}" TO="bob@example.com" BODY="late" />\n',
        )
        assert result.error is not None
        assert result.error.code == "SessionError"
        assert 'the Email session "S" was ended at ' in result.error.message
        assert server.received() == []

    def test_a_step_with_session_takes_no_server_settings(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMEMAIL ACTIVITY="create_session" SESSION="S" SERVER="smtp.example.com" />\n'
            f'<AMSENDEMAIL SESSION="S" PORT="465" FROM="{SENDER}" TO="bob@example.com" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert (
            "PORT belong(s) on the session's create_session: a step with SESSION sends through "
            "that session's server and login"
        ) in result.output


class TestHostBased:
    def test_without_security_a_port_other_than_465_uses_starttls(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server, "explicit", SECURITY="")} FROM="{SENDER}" '
            'TO="bob@example.com" SUBJECT="host-based" BODY="hi" />\n',
        )
        assert result.ok, result.error
        [stored] = server.received()
        assert stored.listener == "starttls"

    def test_a_loop_of_host_based_sends_shares_one_connection(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, lines = run(
            tmp_path,
            '<AMLOOP FROM="1" TO="3" RESULTVARIABLE="i">\n'
            f'  <AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="n%i%@example.com" '
            'SUBJECT="number %i%" BODY="x" />\n'
            "</AMLOOP>\n",
        )
        assert result.ok, result.error
        assert [m.recipients for m in server.received()] == [
            ("n1@example.com",),
            ("n2@example.com",),
            ("n3@example.com",),
        ]
        assert server.connections == 1
        sent = [line for line in lines.lines if line.startswith("<AMSENDEMAIL>")]
        assert sent[0].startswith(
            f"<AMSENDEMAIL>: sent to 1 recipient(s) via {server.host}:{server.implicit_port}: "
        )

    def test_without_server_or_session_the_task_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(TaskError) as caught:
            run(tmp_path, f'<AMSENDEMAIL FROM="{SENDER}" TO="bob@example.com" BODY="x" />\n')
        assert caught.value.message == (
            "give SERVER (the step names its own server and login) or SESSION (one opened by "
            '<AMEMAIL ACTIVITY="create_session">): amlses has no System mail server such as '
            "Automate's default properties"
        )

    def test_a_local_run_never_reaches_a_real_mail_server(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" />\n',
            force_endpoint_url="http://127.0.0.1:9",
        )
        assert result.error is not None
        assert "amlses run --local has no local SMTP endpoint here" in result.error.message
        assert server.connections == 0


class TestMessage:
    def test_html_body_attachments_cc_and_priority_are_in_the_message(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        (tmp_path / "files").mkdir()
        (tmp_path / "files" / "report.csv").write_text("Name,Count\nAnn,3\n")
        (tmp_path / "files" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        result, lines = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="Alice Lee &lt;{SENDER}&gt;" '
            'TO="bob@example.com" CC="carol@example.com" SUBJECT="Report" HTML="YES" '
            'BODY="&lt;p&gt;The &lt;b&gt;report&lt;/b&gt;&lt;/p&gt;" PRIORITY="high" '
            'ATTACHMENTS="files/report.csv|files/logo.png" />\n',
        )
        assert result.ok, result.error
        [stored] = server.received()
        message = parsed(stored.raw)
        assert message["From"] == f"Alice Lee <{SENDER}>"
        assert (message["To"], message["Cc"], message["Subject"]) == (
            "bob@example.com",
            "carol@example.com",
            "Report",
        )
        assert (message["X-Priority"], message["Importance"]) == ("1 (Highest)", "High")
        body = message.get_body()
        assert body is not None and body.get_content_type() == "text/html"
        assert body.get_content().strip() == "<p>The <b>report</b></p>"
        files = {part.get_filename(): part for part in message.iter_attachments()}
        assert files["report.csv"].get_content() == "Name,Count\nAnn,3\n"
        assert files["logo.png"].get_content_type() == "image/png"
        assert files["logo.png"].get_content() == b"\x89PNG\r\n\x1a\n" + bytes(range(256))
        assert stored.recipients == ("bob@example.com", "carol@example.com")
        assert "with 2 attachment(s)" in lines.lines[-1]

    def test_bcc_travels_in_the_envelope_and_in_no_header(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'BCC="hidden@example.com; Archive &lt;archive@example.com&gt;" BODY="x" />\n',
        )
        assert result.ok, result.error
        [stored] = server.received()
        assert stored.recipients == ("bob@example.com", "hidden@example.com", "archive@example.com")
        headers = headers_of(stored.raw)
        assert "hidden@example.com" not in headers
        assert "archive@example.com" not in headers
        assert "bcc" not in headers.lower()

    def test_the_body_is_the_steps_text_or_a_file(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        (tmp_path / "body.txt").write_bytes("Grüße from a file\r\n".encode("cp1252"))
        result, lines = run(
            tmp_path,
            '<AMVARIABLE NAME="who" VALUE="Bob" />\n'
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'SUBJECT="text">Hello %who%,\nsee you.</AMSENDEMAIL>\n'
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'SUBJECT="file" BODYFILE="body.txt" />\n',
        )
        assert result.ok, result.error
        text, from_file = (parsed(m.raw) for m in server.received())
        text_body, file_body = text.get_body(), from_file.get_body()
        assert text_body is not None and file_body is not None
        assert text_body.get_content_type() == "text/plain"
        assert text_body.get_content().replace("\r\n", "\n") == "Hello Bob,\nsee you.\n"
        assert file_body.get_content().replace("\r\n", "\n") == "Grüße from a file\n"
        assert any("the BODYFILE" in line and "Windows-1252" in line for line in lines.lines)

    def test_a_body_given_twice_is_refused_by_check(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            f'<AMSENDEMAIL SERVER="smtp.example.com" FROM="{SENDER}" TO="b@example.com" '
            'BODY="one">two</AMSENDEMAIL>\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert "give the message body once, not as BODY and the step's text" in result.output

    def test_a_line_break_cannot_smuggle_a_header_into_the_message(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'SUBJECT="hi&#13;&#10;Bcc: evil@example.com" BODY="x" />\n',
        )
        assert result.error is not None
        assert result.error.message == "The subject holds a line break; a subject is one line."
        assert server.connections == 0

    def test_a_missing_attachment_fails_before_anything_is_sent(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        text = (
            '<AMVARIABLE NAME="f" VALUE="nowhere.pdf" />\n'
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'ATTACHMENTS="%f%" />\n'
        )
        result, _ = run(tmp_path, text)
        assert result.error is not None
        assert result.error.code == "AttachmentNotFound"
        assert server.connections == 0


class TestFailures:
    def test_an_untrusted_certificate_fails_unless_ignoreinvalidcertificate_says_so(
        self, tmp_path: Path, server: LocalSmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SSL_CERT_FILE")  # the local CA is trusted no more
        send = f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
        result, _ = run(tmp_path, send + 'BODY="x" />\n')
        assert result.error is not None
        assert result.error.code == "CertificateError"
        assert 'set IGNOREINVALIDCERTIFICATE="YES"' in result.error.message
        assert server.received() == []
        result, lines = run(tmp_path, send + 'BODY="x" IGNOREINVALIDCERTIFICATE="YES" />\n')
        assert result.ok, result.error
        assert len(server.received()) == 1
        assert lines.lines[0].startswith(
            f'warning: IGNOREINVALIDCERTIFICATE="YES": the TLS certificate of {server.host} is '
            "not checked"
        )

    def test_a_wrong_password_is_authentication_failed(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server, PASSWORD="not-the-password")} FROM="{SENDER}" '
            'TO="bob@example.com" BODY="x" />\n',
        )
        assert result.error is not None
        assert result.error.code == "AuthenticationFailed"
        assert "535" in result.error.message
        assert server.received() == []

    def test_security_none_with_a_password_is_refused_before_connecting(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        literal = (
            f'<AMSENDEMAIL {server_attrs(server, "none")} FROM="{SENDER}" TO="b@example.com" />\n'
        )
        with pytest.raises(TaskError) as caught:
            run(tmp_path, literal)
        assert caught.value.message.startswith('SECURITY="none" would send USERNAME and PASSWORD')
        # known only at run time (a variable): refused at the step, before any connection
        result, _ = run(
            tmp_path,
            '<AMVARIABLE NAME="mode" VALUE="none" />\n'
            + literal.replace('SECURITY="none"', 'SECURITY="%mode%"'),
        )
        assert result.error is not None
        assert result.error.message == (
            f'SECURITY="none" would send USERNAME and PASSWORD to {server.host}:'
            f"{server.plain_port} unencrypted, and amlses never does that: write "
            'SECURITY="explicit" (STARTTLS, e.g. port 587) or SECURITY="implicit" (TLS, e.g. '
            "port 465)"
        )
        assert server.connections == 0

    def test_security_none_without_a_login_connects_without_tls(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        """A relay without authentication needs no TLS: nothing secret crosses the wire.  The
        local endpoint asks for AUTH as SES does, so it refuses the message, which proves that
        amlses connected in the clear and tried no login."""
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL SERVER="{server.host}" PORT="{server.plain_port}" SECURITY="none" '
            f'FROM="{SENDER}" TO="bob@example.com" BODY="x" />\n',
        )
        assert result.error is not None
        assert result.error.code == "SmtpError"
        assert "530" in result.error.message
        assert server.connections == 1
        assert server.received() == []

    @pytest.mark.parametrize(
        ("protocol", "why"),
        [
            ("POP3", "POP3 reads a mailbox"),
            ("imap", "IMAP reads a mailbox"),
            ("EWS", "EWS is Exchange's web service"),
        ],
    )
    def test_other_protocols_are_refused_by_name(
        self, tmp_path: Path, protocol: str, why: str
    ) -> None:
        path = write_task(
            tmp_path,
            f'<AMEMAIL ACTIVITY="create_session" PROTOCOLTYPE="{protocol}" '
            'SERVER="mail.example.com" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert (
            f'task.aml:1:36: error: <AMEMAIL ACTIVITY="create_session">: PROTOCOLTYPE='
            f'"{protocol}" is not supported: {why}, and amlses runs only the SMTP part of '
            "Automate's Email action"
        ) in result.output

    def test_an_unknown_outcome_is_never_sent_again(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        server.drop_after_data()
        result, lines = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'BODY="once" AM_RETRY="2" />\n',
        )
        assert len(server.received()) == 1  # the server did take it: "Unknown" is the truth
        assert result.error is not None
        assert result.error.code == "Unknown"
        assert result.error.message.startswith(
            f"the mail server {server.host} may or may not have accepted the message ("
        )
        assert "It was not sent again, so it reaches each recipient at most once" in (
            result.error.message
        )
        assert any("Unknown; not retried" in line for line in lines.lines)

    def test_a_throttled_send_is_retried_and_arrives_once(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        server.throttle()
        result, lines = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'BODY="again" AM_RETRY="1" />\n',
        )
        assert result.ok, result.error
        assert len(server.received()) == 1
        assert any("Throttling; retry 1 of 1" in line for line in lines.lines)

    def test_a_rejection_can_be_caught_by_its_code(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        server.reject()
        result, _ = run(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server)} FROM="{SENDER}" TO="bob@example.com" '
            'BODY="x" AM_ONERROR="CONTINUE" />\n'
            '<AMIF ACTIVITY="last_step" LASTSTEP="failedwithcode" RESULTCODE="MessageRejected">\n'
            '  <AMVARIABLE NAME="caught" VALUE="yes" />\n'
            "</AMIF>\n",
        )
        assert result.ok, result.error
        assert result.variables["caught"] == "yes"
        assert server.received() == []


class TestPasswords:
    def test_the_password_is_masked_in_everything_the_cli_prints(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        wrong = "Wrong+Pass/word0123456789"
        path = write_task(
            tmp_path,
            f'<AMVARIABLE NAME="pw" VALUE="{server.password}" />\n'
            f'<AMEMAIL ACTIVITY="create_session" {server_attrs(server, PASSWORD="%pw%")} />\n'
            f'<AMSENDEMAIL SESSION="EmailSession1" FROM="{SENDER}" TO="b@example.com" '
            'SUBJECT="pw is %pw%" BODY="x" />\n'
            '<AMEMAIL ACTIVITY="end_session" />\n'
            f'<AMSENDEMAIL {server_attrs(server, PASSWORD=wrong)} FROM="{SENDER}" '
            'TO="b@example.com" BODY="x" />\n',
        )
        result = invoke("run", str(path), "--json")
        assert result.exit_code == 1
        output = result.stdout + result.stderr
        assert server.password not in output
        assert wrong not in output
        assert "****" in output
        assert "AuthenticationFailed" in output
        assert len(server.received()) == 1

    def test_an_amlses_token_is_decrypted_and_masked(
        self, tmp_path: Path, server: LocalSmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from amlses import vault

        key = vault.generate_key()
        monkeypatch.setenv(vault.KEY_ENV, key.decode())
        token = vault.encrypt(server.password, vault.Key(key, vault.KEY_ENV))
        path = write_task(
            tmp_path,
            f'<AMSENDEMAIL {server_attrs(server, PASSWORD=token)} FROM="{SENDER}" '
            'TO="bob@example.com" BODY="x" />\n',
        )
        result = invoke("run", str(path))
        assert result.exit_code == 0, result.output
        assert len(server.received()) == 1
        assert server.password not in result.output

    def test_an_automate_encrypted_password_comes_from_the_secret_key(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SES's SMTP user is the access key id: the secret key stored for it (here in the
        environment) gives the SMTP password of the server's region, as for SECRETKEY."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        step = step_of(
            f'<AMEMAIL ACTIVITY="create_session" SERVER="email-smtp.{REGION}.amazonaws.com" '
            f'USERNAME="{ACCESS_KEY}" PASSWORD="AM3i6P77pVEBOw=aME" />'
        )
        context = Context(api.parse("", "t.aml"))
        found = server_of(context, actions.find(step).bind(context, step))
        assert found.password == smtp_password(SECRET_KEY, REGION)
        assert (found.port, found.security) == (25, "starttls")
        assert context.redactor(f"pw {found.password}") == "pw ****"

    def test_an_automate_encrypted_password_nothing_knows_is_refused_with_the_ways_out(
        self, tmp_path: Path, server: LocalSmtpServer
    ) -> None:
        result, _ = run(
            tmp_path,
            f"<AMSENDEMAIL {server_attrs(server, PASSWORD='AM3i6P77pVEBOw=aME')} "
            f'FROM="{SENDER}" TO="bob@example.com" />\n',
        )
        assert result.error is not None
        assert result.error.message == (
            "PASSWORD is Automate-encrypted and cannot be decrypted outside Automate. Ways out: "
            "(1) put the plain SMTP password in the task (for SES, `amlses smtp-password` "
            "derives it from the IAM secret key); (2) encrypt it with `amlses encrypt` and "
            "paste the amlses:v1:… token as PASSWORD."
        )
        assert server.connections == 0


def step_of(text: str) -> Step:
    [step] = api.parse(text, "t.aml").body
    return step


class TestCheck:
    def test_check_accepts_a_session_task_and_names_an_unknown_attribute(
        self, tmp_path: Path
    ) -> None:
        good = write_task(
            tmp_path,
            '<AMEMAIL ACTIVITY="create_session" SESSION="S" SERVER="email-smtp.eu-west-1.'
            'amazonaws.com" PORT="587" SECURITY="explicit" USERNAME="AKIAX" PASSWORD="pw" '
            'TIMEOUT="30" DISABLECHUNKING="NO" IGNOREINVALIDCERTIFICATE="NO" />\n'
            f'<AMSENDEMAIL SESSION="S" FROM="{SENDER}" TO="b@example.com" SUBJECT="s" '
            'BODY="x" PRIORITY="low" />\n'
            '<AMEMAIL ACTIVITY="end_session" SESSION="S" />\n',
            "good.aml",
        )
        result = invoke("check", str(good))
        assert result.exit_code == 0, result.output
        bad = write_task(
            tmp_path,
            f'<AMSENDEMAIL SERVER="smtp.example.com" FROM="{SENDER}" TO="b@example.com" '
            'SUBJCT="s" />\n',
            "bad.aml",
        )
        result = invoke("check", str(bad))
        assert result.exit_code == 2
        assert (
            "bad.aml:1:84: error: <AMSENDEMAIL>: unknown attribute SUBJCT for <AMSENDEMAIL> "
            '(did you mean "SUBJECT"?)'
        ) in result.output

    def test_check_names_what_cannot_run_and_what_does_nothing(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMEMAIL ACTIVITY="end_session" SESSION="Never" />\n'
            '<AMEMAIL ACTIVITY="create_session" SERVER="smtp.example.com" '
            'PROXYSERVER="proxy.example.com" />\n'
            '<AMSENDEMAIL SERVER="smtp.example.com" FROM="a@example.com" TO="b@example.com" '
            'DOMAINNAME="CORP" BODYFILE="missing.txt" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert 'the Email session "Never" is used before any create_session opens it' in (
            result.output
        )
        assert "amlses cannot reach a mail server through a proxy" in result.output
        assert "warning: <AMSENDEMAIL>: DOMAINNAME is an Exchange (EWS) setting" in result.output
        assert "BODYFILE: the file " in result.output and "missing.txt does not exist" in (
            result.output
        )


class TestExamples:
    @pytest.mark.parametrize(
        ("name", "security"), [("email-session.aml", "implicit"), ("email-send.aml", "explicit")]
    )
    def test_the_example_runs_against_a_local_server(
        self, server: LocalSmtpServer, name: str, security: str
    ) -> None:
        port = server.implicit_port if security == "implicit" else server.starttls_port
        text = (EXAMPLES / name).read_text()
        assert text.startswith(f"<!-- {name}: ")
        assert f"amlses run examples/{name}" in text
        result = invoke(
            "run",
            str(EXAMPLES / name),
            "--var",
            f"smtpserver={server.host}",
            "--var",
            f"smtpport={port}",
            "--var",
            f"smtpuser={server.access_key}",
            "--var",
            f"smtppassword={server.password}",
        )
        assert result.exit_code == 0, result.output
        assert server.password not in result.output
        received = server.received()
        assert received and all(
            m.listener == {"explicit": "starttls"}.get(security, security) for m in received
        )
        assert server.connections == 1

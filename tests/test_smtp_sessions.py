"""SES sessions over SMTP: AML tasks that send through SES's SMTP interface, end to end.

Every task runs through :func:`amlses.api.run` against :class:`~amlses.smtp.local.
LocalSmtpServer` over real TLS on 127.0.0.1; what arrived is read back from the server
(``received()``), never from amlses's own report.  The server's CA is trusted the way a user
trusts a private CA, through ``SSL_CERT_FILE`` — or not at all, for the certificate tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import pytest

from amlses import api
from amlses.errors import AmlError, SessionError, TaskError
from amlses.runtime import RunOptions
from amlses.ses import Connection, SesSession
from amlses.smtp.local import LocalSmtpServer, SmtpMessage
from amlses.vault import Vault, generate_key
from clitools import encoded_forms, invoke, write_task
from fakeses import RecordingReporter

ACCESS_KEY = "AKIASMTPSESSION00001"
SECRET_KEY = "smtpSessionSecretKey/0123456789abcdefXYZ"
SENDER = "alice@example.com"


@pytest.fixture
def server() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY) as local:
        yield local


@pytest.fixture
def trusted(server: LocalSmtpServer, monkeypatch: pytest.MonkeyPatch) -> LocalSmtpServer:
    """The server, its CA trusted as a user trusts a private CA: through SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
    return server


class Run:
    """One task's run: its result and everything the reporter was told."""

    def __init__(self, text: str, **options: Any) -> None:
        self.reporter = RecordingReporter()
        options.setdefault("sleep", lambda seconds: None)
        self.result = api.run(
            text, "task.aml", options=RunOptions(**options), reporter=self.reporter
        )

    @property
    def error(self) -> AmlError:
        assert self.result.error is not None, "the run did not fail"
        return self.result.error

    def warnings(self) -> list[str]:
        return [text for level, text in self.reporter.messages if level == "warning"]

    def everything(self) -> str:
        """Every text the run produced: messages, step outcomes, the errors rendered."""
        parts = [text for _, text in self.reporter.messages]
        parts += [step.outcome for step in self.reporter.steps]
        parts += [error.render() for error in self.result.failed_steps]
        if self.result.error is not None:
            parts.append(self.result.error.render())
        parts += [str(value) for value in self.result.variables.values()]
        return "\n".join(parts)


def session(url: str, extra: str = "", name: str = "Mail") -> str:
    return (
        f'<AMAWSSES ACTIVITY="create_session" SESSION="{name}" SERVICEURL="{url}" '
        f'ACCESSKEY="{ACCESS_KEY}" SECRETKEY="{SECRET_KEY}" {extra} />\n'
    )


def send(attributes: str, name: str = "Mail") -> str:
    return (
        f'<AMAWSSES ACTIVITY="send_email" PROVIDER="session_based" SESSION="{name}" '
        f'FROM="{SENDER}" {attributes} />\n'
    )


def parsed(message: SmtpMessage) -> EmailMessage:
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(message.raw))


def implicit(server: LocalSmtpServer) -> str:
    return f"smtps://127.0.0.1:{server.implicit_port}"


class TestSessions:
    @pytest.mark.parametrize("listener", ["implicit", "starttls"])
    def test_a_session_sends_over_smtp_with_bcc_in_the_envelope_only(
        self, trusted: LocalSmtpServer, listener: str
    ) -> None:
        url = (
            implicit(trusted)
            if listener == "implicit"
            else f"smtp://127.0.0.1:{trusted.starttls_port}"
        )
        run = Run(
            session(url)
            + send(
                'TO="Bob <bob@example.com>" CC="cat@example.com" BCC="dan@example.com" '
                'SUBJECT="Hello" TEXTBODY="Hi there." RESULTVARIABLE="MsgId"'
            )
        )
        assert run.result.ok, run.everything()
        [message] = trusted.received()
        assert message.listener == listener
        assert message.sender == SENDER
        assert message.recipients == ("bob@example.com", "cat@example.com", "dan@example.com")
        headers = parsed(message)
        assert headers["To"] == "Bob <bob@example.com>" and headers["Cc"] == "cat@example.com"
        assert "Bcc" not in headers and b"dan@example.com" not in message.raw
        assert headers.get_content().strip() == "Hi there."
        assert run.result.variables["MsgId"] == message.message_id
        assert "session Mail opened (SMTP: 127.0.0.1:" in run.reporter.steps[0].outcome

    def test_a_host_based_step_sends_over_smtp(self, trusted: LocalSmtpServer) -> None:
        run = Run(
            f'<AMAWSSES ACTIVITY="send_email" SERVICEURL="{implicit(trusted)}" '
            f'ACCESSKEY="{ACCESS_KEY}" SECRETKEY="{SECRET_KEY}" FROM="{SENDER}" '
            'TO="bob@example.com" SUBJECT="Host" TEXTBODY="x" />\n'
        )
        assert run.result.ok, run.everything()
        assert [m.recipients for m in trusted.received()] == [("bob@example.com",)]

    def test_steps_share_the_sessions_connection(self, trusted: LocalSmtpServer) -> None:
        loop = (
            '<AMLOOP TOTALLOOPS="5" RESULTVARIABLE="N">\n'
            + send('TO="bob@example.com" SUBJECT="Loop %N%" TEXTBODY="x"')
            + "</AMLOOP>\n"
        )
        run = Run(session(implicit(trusted)) + loop)
        assert run.result.ok, run.everything()
        assert len(trusted.received()) == 5
        assert trusted.connections == 1

    def test_host_based_steps_in_a_loop_share_one_connection(
        self, trusted: LocalSmtpServer
    ) -> None:
        loop = (
            '<AMLOOP TOTALLOOPS="3">\n'
            f'<AMAWSSES ACTIVITY="send_email" SERVICEURL="{implicit(trusted)}" '
            f'ACCESSKEY="{ACCESS_KEY}" SECRETKEY="{SECRET_KEY}" FROM="{SENDER}" '
            'TO="bob@example.com" TEXTBODY="x" />\n'
            "</AMLOOP>\n"
        )
        run = Run(loop)
        assert run.result.ok, run.everything()
        assert (len(trusted.received()), trusted.connections) == (3, 1)

    def test_attachments_reply_to_return_path_and_ses_headers_arrive(
        self, trusted: LocalSmtpServer, tmp_path: Path
    ) -> None:
        report = tmp_path / "report.pdf"
        report.write_bytes(b"%PDF-1.4 binary \x00\x01\x02")
        notes = tmp_path / "notes.txt"
        notes.write_text("Grüße\n")
        run = Run(
            session(implicit(trusted))
            + send(
                f'TO="bob@example.com" BCC="dan@example.com" SUBJECT="Files" TEXTBODY="See." '
                f'HTMLBODY="&lt;p&gt;See.&lt;/p&gt;" ATTACHMENTS="{report}|{notes}" '
                'REPLYTO="help@example.com" RETURNPATH="bounces@example.com" '
                'CONFIGURATIONSET="Tracking" TAGS="campaign=spring; team=sales"'
            )
        )
        assert run.result.ok, run.everything()
        [message] = trusted.received()
        assert message.sender == "bounces@example.com"  # MAIL FROM: where bounces go
        assert message.recipients == ("bob@example.com", "dan@example.com")
        mime = parsed(message)
        assert "Bcc" not in mime and mime["Reply-To"] == "help@example.com"
        assert mime["X-SES-CONFIGURATION-SET"] == "Tracking"
        assert mime["X-SES-MESSAGE-TAGS"] == "campaign=spring, team=sales"
        files = {p.get_filename(): p.get_payload(decode=True) for p in mime.iter_attachments()}
        assert files == {"report.pdf": report.read_bytes(), "notes.txt": notes.read_bytes()}

    def test_send_raw_email_sends_the_message_as_it_is_but_for_bcc(
        self, trusted: LocalSmtpServer, tmp_path: Path
    ) -> None:
        raw = (
            b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n"
            b"Bcc: secret-reader@example.com\r\nSubject: Raw\r\n"
            b"X-Signed: kept\r\n\r\nBody line\r\n.leading dot\r\n"
        )
        eml = tmp_path / "message.eml"
        eml.write_bytes(raw)
        run = Run(
            session(implicit(trusted))
            + '<AMAWSSES ACTIVITY="send_raw_email" PROVIDER="session_based" SESSION="Mail" '
            f'MESSAGEFILE="{eml}" CONFIGURATIONSET="Tracking" RESULTVARIABLE="Id" />\n'
        )
        assert run.result.ok, run.everything()
        [message] = trusted.received()
        assert message.sender == SENDER
        assert message.recipients == ("bob@example.com", "secret-reader@example.com")
        assert message.raw.startswith(b"X-SES-CONFIGURATION-SET: Tracking\r\nFrom: Alice")
        assert b"secret-reader" not in message.raw
        assert message.raw.endswith(b"X-Signed: kept\r\n\r\nBody line\r\n.leading dot\r\n")
        assert run.result.variables["Id"] == message.message_id

    def test_the_region_of_the_password_is_region_else_us_east_1(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with LocalSmtpServer(
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1"
        ) as ireland:
            monkeypatch.setenv("SSL_CERT_FILE", ireland.ca_file)
            text = send('TO="bob@example.com" TEXTBODY="x"')
            assert Run(session(implicit(ireland), 'REGION="eu-west-1"') + text).result.ok
            wrong = Run(session(implicit(ireland)) + text)  # derived for us-east-1
            assert wrong.error.code == "AuthenticationFailed"
            assert len(ireland.received()) == 1


class TestPasswords:
    def test_smtppassword_is_used_instead_of_a_derived_one(self, trusted: LocalSmtpServer) -> None:
        run = Run(
            f'<AMAWSSES ACTIVITY="create_session" SESSION="Mail" SERVICEURL="{implicit(trusted)}" '
            f'ACCESSKEY="{ACCESS_KEY}" SMTPPASSWORD="{trusted.password}" />\n'
            + send('TO="bob@example.com" TEXTBODY="x"')
        )
        assert run.result.ok, run.everything()
        assert len(trusted.received()) == 1
        assert trusted.password not in run.everything()

    def test_smtppassword_may_be_an_amlses_token(self, trusted: LocalSmtpServer) -> None:
        vault = Vault(generate_key())
        token = vault.encrypt(trusted.password)
        run = Run(
            f'<AMAWSSES ACTIVITY="create_session" SESSION="Mail" SERVICEURL="{implicit(trusted)}" '
            f'ACCESSKEY="{ACCESS_KEY}" SMTPPASSWORD="{token}" />\n'
            + send('TO="bob@example.com" TEXTBODY="x"'),
            vault=vault,
        )
        assert run.result.ok, run.everything()
        assert len(trusted.received()) == 1

    def test_an_automate_encrypted_smtppassword_is_refused(self, trusted: LocalSmtpServer) -> None:
        run = Run(
            f'<AMAWSSES ACTIVITY="create_session" SESSION="Mail" SERVICEURL="{implicit(trusted)}" '
            f'ACCESSKEY="{ACCESS_KEY}" SMTPPASSWORD="AM3i6P77pVEBOw=aME" />\n'
        )
        assert isinstance(run.error, SessionError)
        assert "Automate's encrypted form" in run.error.message
        assert trusted.connections == 0

    def test_a_wrong_password_is_authentication_failed_and_nothing_is_shown(
        self, trusted: LocalSmtpServer
    ) -> None:
        wrong_secret = "thisIsNotTheRightSecretKey/0123456789ABC"
        text = session(implicit(trusted)).replace(SECRET_KEY, wrong_secret)
        run = Run(text + send('TO="bob@example.com" TEXTBODY="x"'))
        assert run.error.code == "AuthenticationFailed"
        assert ACCESS_KEY in run.error.message and "535" in run.error.message
        assert trusted.received() == []
        shown = run.everything()
        for secret in (wrong_secret, trusted.password):
            assert not any(form in shown for form in encoded_forms(secret))


class TestCertificates:
    def test_an_untrusted_certificate_fails_naming_the_ways_out(
        self, server: LocalSmtpServer
    ) -> None:
        run = Run(session(implicit(server)) + send('TO="bob@example.com" TEXTBODY="x"'))
        assert run.error.code == "CertificateError"
        assert "SSL_CERT_FILE" in run.error.message
        assert "IGNOREINVALIDCERTIFICATE" in run.error.message
        assert server.received() == []

    def test_ignoreinvalidcertificate_sends_and_warns(self, server: LocalSmtpServer) -> None:
        run = Run(
            session(implicit(server), 'IGNOREINVALIDCERTIFICATE="YES"')
            + send('TO="bob@example.com" TEXTBODY="x"')
        )
        assert run.result.ok, run.everything()
        assert len(server.received()) == 1
        [warning] = run.warnings()
        assert 'IGNOREINVALIDCERTIFICATE="YES"' in warning and "not checked" in warning

    def test_ignoreinvalidcertificate_on_the_api_is_refused(self) -> None:
        run = Run(
            session("https://email.eu-west-1.amazonaws.com", 'IGNOREINVALIDCERTIFICATE="YES"')
        )
        assert isinstance(run.error, SessionError)
        assert "SMTP endpoints only" in run.error.message


class TestAtMostOnce:
    def test_a_lost_answer_is_unknown_never_retried_and_the_server_has_the_message(
        self, trusted: LocalSmtpServer
    ) -> None:
        trusted.drop_after_data(1)
        run = Run(
            session(implicit(trusted), 'MAXERRORRETRY="5"')
            + send('TO="bob@example.com" SUBJECT="Once" TEXTBODY="x" AM_RETRY="2"')
        )
        assert run.error.code == "Unknown"
        assert "may or may not have accepted" in run.error.message
        assert "It was not sent again" in run.error.message
        assert [parsed(m)["Subject"] for m in trusted.received()] == ["Once"]
        assert any("Unknown; not retried" in w for w in run.warnings())

    def test_throttling_is_resent_within_maxerrorretry(self, trusted: LocalSmtpServer) -> None:
        trusted.throttle(2)
        run = Run(
            session(implicit(trusted), 'MAXERRORRETRY="2"')
            + send('TO="bob@example.com" TEXTBODY="x"')
        )
        assert run.result.ok, run.everything()
        assert len(trusted.received()) == 1

    def test_am_retry_repeats_a_refusal_that_outlasted_maxerrorretry(
        self, trusted: LocalSmtpServer
    ) -> None:
        trusted.throttle(1)
        run = Run(
            session(implicit(trusted), 'MAXERRORRETRY="0"')
            + send('TO="bob@example.com" TEXTBODY="x" AM_RETRY="1"')
        )
        assert run.result.ok, run.everything()
        assert any("Throttling; retry 1 of 1" in w for w in run.warnings())
        assert len(trusted.received()) == 1

    def test_a_rejection_is_message_rejected_with_the_hint(self, trusted: LocalSmtpServer) -> None:
        trusted.reject(1)
        run = Run(session(implicit(trusted)) + send('TO="bob@example.com" TEXTBODY="x"'))
        assert run.error.code == "MessageRejected"
        assert "verify_identity" in run.error.message
        assert trusted.received() == []

    def test_the_daily_quota_is_not_resent(self, trusted: LocalSmtpServer) -> None:
        """One refusal only: a resend would have gone through and been stored."""
        trusted.reject(1, reply="454 Throttling failure: Daily message quota exceeded.")
        run = Run(
            session(implicit(trusted), 'MAXERRORRETRY="2"')
            + send('TO="bob@example.com" TEXTBODY="x"')
        )
        assert run.error.code == "Throttling"
        assert "Max24HourSend" in run.error.message
        assert trusted.received() == []


class TestApiOnlyActivities:
    @pytest.mark.parametrize(
        "step",
        [
            '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="Mail" '
            'RESULTDATASET="Ids" />',
            '<AMAWSSES ACTIVITY="email_statistics" PROVIDER="session_based" SESSION="Mail" '
            'RESULTDATASET="Quota" />',
            '<AMAWSSES ACTIVITY="send_templated_email" PROVIDER="session_based" SESSION="Mail" '
            f'FROM="{SENDER}" TO="bob@example.com" TEMPLATE="Welcome" />',
            '<AMAWSSES ACTIVITY="list_templates" PROVIDER="session_based" SESSION="Mail" '
            'RESULTDATASET="T" />',
        ],
    )
    def test_an_activity_that_needs_the_api_is_refused_in_one_sentence(
        self, trusted: LocalSmtpServer, step: str
    ) -> None:
        run = Run(session(implicit(trusted)) + step + "\n")
        activity = step.split('"')[1]
        assert isinstance(run.error, SessionError)
        assert run.error.message.startswith(f'ACTIVITY="{activity}" needs SES\'s API endpoint')
        assert "https://email.us-east-1.amazonaws.com" in run.error.message
        assert trusted.connections == 0

    def test_check_finds_a_host_based_identity_step_on_an_smtp_endpoint(self) -> None:
        text = (
            '<AMAWSSES ACTIVITY="verify_identity" '
            'SERVICEURL="email-smtp.eu-west-1.amazonaws.com" '
            f'ACCESSKEY="{ACCESS_KEY}" SECRETKEY="{SECRET_KEY}" IDENTITY="{SENDER}" />\n'
        )
        with pytest.raises(TaskError) as caught:
            api.run(text, "task.aml")
        assert "https://email.eu-west-1.amazonaws.com" in caught.value.render()


class TestSecrets:
    def test_no_secret_reaches_any_output(self, trusted: LocalSmtpServer, tmp_path: Path) -> None:
        """The secret key, the password derived from it and SMTPPASSWORD: not in the reporter,
        the errors, the variables — nor in the CLI's output, --json included."""
        smtp_password = trusted.password
        text = (
            session(implicit(trusted)) + f'<AMAWSSES ACTIVITY="create_session" SESSION="Other" '
            f'SERVICEURL="{implicit(trusted)}" ACCESSKEY="{ACCESS_KEY}" '
            f'SMTPPASSWORD="{smtp_password}" />\n'
            + send('TO="bob@example.com" TEXTBODY="x" RESULTVARIABLE="Id"')
            + send('TO="bob@example.com" TEXTBODY="y"', name="Other")
            + '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="Mail" '
            'RESULTDATASET="Ids" AM_ONERROR="CONTINUE" />\n'
            "<AMSHOWDIALOG>done %Id%</AMSHOWDIALOG>\n"
        )
        run = Run(text)
        assert len(run.result.failed_steps) == 1 and len(trusted.received()) == 2
        task = write_task(tmp_path, text)
        cli = [invoke("run", str(task)), invoke("run", str(task), "--json")]
        shown = run.everything() + "".join(r.stdout + r.stderr for r in cli)
        for output in (run.everything(), *(r.stdout + r.stderr for r in cli)):
            assert "needs SES's API endpoint" in output
        for secret in (SECRET_KEY, smtp_password):
            assert not any(form in shown for form in encoded_forms(secret)), secret

    def test_smtppassword_is_masked_in_the_echo_of_a_task_that_does_not_run(
        self, tmp_path: Path
    ) -> None:
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_session" SERVICEURL="smtps://127.0.0.1:1" '
            'ACCESSKEY="AKIAX" SMTPPASSWORD="TopSecretSmtpPw123" BOGUS="1" />\n',
        )
        for result in (invoke("check", str(task)), invoke("run", str(task))):
            assert "unknown attribute BOGUS" in result.output
            assert 'SMTPPASSWORD="****"' in result.output
            assert "TopSecretSmtpPw123" not in result.output


class TestPythonApi:
    def test_an_smtp_session_sends_and_refuses_the_rest(self, trusted: LocalSmtpServer) -> None:
        with SesSession(
            endpoint_url=implicit(trusted), access_key=ACCESS_KEY, secret_key=SECRET_KEY
        ) as ses:
            assert ses.is_smtp and ses.smtp_endpoint.security == "implicit"
            message_id = ses.send_email(
                sender=SENDER, to="bob@example.com", subject="API", text="x"
            )
            with pytest.raises(SessionError, match="https://email.us-east-1.amazonaws.com"):
                ses.list_identities()
            with ses.new_smtp_sender() as own:  # what a bulk worker asks for
                own.send(b"Subject: own\r\n\r\nx\r\n", SENDER, ["cat@example.com"])
        assert [m.message_id == message_id for m in trusted.received()] == [True, False]
        assert trusted.connections == 2
        assert SECRET_KEY not in repr(ses) and trusted.password not in repr(ses)

    @pytest.mark.parametrize(
        ("fields", "words"),
        [
            ({"access_key": ""}, "needs ACCESSKEY"),
            ({"proxy_host": "proxy:3128"}, "PROXYHOST cannot be used"),
            ({"session_token": "token"}, "session token cannot be used"),
            ({"role_arn": "arn:aws:iam::123456789012:role/Sender"}, "ROLEARN cannot be used"),
        ],
    )
    def test_settings_smtp_cannot_use_are_refused(self, fields: dict[str, str], words: str) -> None:
        settings = {
            "endpoint_url": "smtps://email-smtp.eu-west-1.amazonaws.com",
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            **fields,
        }
        with pytest.raises(SessionError, match=words):
            Connection(**settings)  # type: ignore[arg-type]

    def test_smtp_urls_are_valid_endpoints_and_an_smtppassword_needs_one(self) -> None:
        for url in (
            "smtp://email-smtp.eu-west-1.amazonaws.com:587",
            "email-smtp.eu-west-1.amazonaws.com:2465",
            "https://email-smtp.eu-west-1.amazonaws.com",
        ):
            assert Connection(endpoint_url=url, access_key=ACCESS_KEY).is_smtp
        with pytest.raises(SessionError, match="SMTPPASSWORD is given"):
            Connection(endpoint_url="https://email.eu-west-1.amazonaws.com", smtp_password="pw")
        with pytest.raises(SessionError, match="does not listen on port 2525"):
            SesSession(
                endpoint_url="email-smtp.eu-west-1.amazonaws.com:2525",
                access_key=ACCESS_KEY,
                secret_key=SECRET_KEY,
            )

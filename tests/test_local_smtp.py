"""The local SES SMTP endpoint in every local mode: ``amlses run --local``, the Python
:class:`~amlses.emulator.LocalEmulator` and ``amlses emulator --smtp-port``, over real TLS on
127.0.0.1, with its messages in the same outbox as the API's."""

from __future__ import annotations

import json
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from amlses import api
from amlses.emulator import LocalEmulator
from amlses.runtime.context import RunOptions
from amlses.smtp.password import smtp_password
from amlses.smtp.target import LocalSmtpTarget
from clitools import invoke, write_task

SENDER = "me@example.com"
REAL_KEY, REAL_SECRET = "AKIAREALKEY000000000", "real-secret-never-used"


def outbox_of(path: Path) -> list[dict[str, object]]:
    return list(json.loads(path.read_text()))


class TestRunLocal:
    def test_an_smtp_session_send_and_bulk_send_land_in_the_outbox(self, tmp_path: Path) -> None:
        (tmp_path / "rows.csv").write_text("To\nann@example.com\nbob@example.com\n")
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_session" SESSION="Mail" '
            'SERVICEURL="smtps://email-smtp.eu-west-1.amazonaws.com" '
            f'ACCESSKEY="{REAL_KEY}" SECRETKEY="{REAL_SECRET}" />\n'
            '<AMAWSSES ACTIVITY="send_email" PROVIDER="session_based" SESSION="Mail" '
            f'FROM="{SENDER}" TO="you@example.com" SUBJECT="one" TEXTBODY="first" />\n'
            '<AMAWSSES ACTIVITY="send_bulk_email" PROVIDER="session_based" SESSION="Mail" '
            f'FROM="{SENDER}" CSVFILE="rows.csv" SUBJECT="bulk" TEXTBODY="hi" MAXSENDRATE="5" '
            'RESULTDATASET="Sent" />\n',
        )
        outbox = tmp_path / "out.json"
        result = invoke("run", str(task), "--local", "--no-journal", "--outbox", str(outbox))
        assert result.exit_code == 0, result.output
        assert re.search(
            r"local SES SMTP endpoint at smtps://127\.0\.0\.1:\d+ \(STARTTLS smtp://127\.0\.0\.1:"
            r"\d+, CA \S+ca\.pem\)",
            result.stderr,
        )
        assert "outbox: 3 message(s) accepted by the local emulator" in result.stdout
        messages = outbox_of(outbox)
        assert [m["Operation"] for m in messages] == ["SMTP"] * 3
        assert (messages[0]["Subject"], messages[0]["To"]) == ("one", ["you@example.com"])
        bulk = sorted((str(m["Subject"]), str(m["To"])) for m in messages[1:])
        assert bulk == [("bulk", "['ann@example.com']"), ("bulk", "['bob@example.com']")]
        assert messages[0]["Text"] == "first\n" and messages[0]["From"] == SENDER
        assert REAL_SECRET not in result.output

    def test_an_email_action_task_uses_the_local_password_not_the_written_one(
        self, tmp_path: Path
    ) -> None:
        task = write_task(
            tmp_path,
            '<AMEMAIL ACTIVITY="create_session" SESSION="E" '
            'SERVER="email-smtp.eu-west-1.amazonaws.com" PORT="465" '
            f'USERNAME="{REAL_KEY}" PASSWORD="written-password" />\n'
            f'<AMSENDEMAIL SESSION="E" FROM="{SENDER}" TO="bob@example.com" CC="cc@example.com" '
            'BCC="hidden@example.com" SUBJECT="implicit" BODY="over 465" />\n'
            '<AMSENDEMAIL SERVER="email-smtp.eu-west-1.amazonaws.com" PORT="587" '
            f'USERNAME="{REAL_KEY}" PASSWORD="written-password" FROM="{SENDER}" '
            'TO="carol@example.com" SUBJECT="starttls" BODY="over 587" />\n',
        )
        result = invoke("run", str(task), "--local", "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        by_subject = {m["Subject"]: m for m in document["outbox"]}
        assert set(by_subject) == {"implicit", "starttls"}
        first = by_subject["implicit"]
        assert (first["To"], first["Cc"], first["Bcc"]) == (
            ["bob@example.com"],
            ["cc@example.com"],
            ["hidden@example.com"],
        )
        assert {m["Operation"] for m in document["outbox"]} == {"SMTP"}
        assert "local SES" not in result.stderr  # --json: no endpoint lines

    def test_a_quiet_run_prints_no_endpoint_line(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            '<AMSENDEMAIL SERVER="smtp.example.com" PORT="587" USERNAME="u" PASSWORD="p" '
            f'FROM="{SENDER}" TO="x@example.com" SUBJECT="q" BODY="b" />\n',
        )
        result = invoke("run", str(task), "--local", "--quiet")
        assert result.exit_code == 0, result.output
        assert "local SES" not in result.stderr


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalEmulator]:
    with LocalEmulator() as running:
        yield running


def target_of(running: LocalEmulator) -> LocalSmtpTarget:
    return LocalSmtpTarget(
        running.smtp_host,
        running.smtps_port,
        running.starttls_port,
        running.ca_file,
        running.smtp_user,
        "testing",
    )


class TestPythonApi:
    def test_an_smtplib_client_sends_over_starttls_and_implicit_tls(
        self, emulator: LocalEmulator
    ) -> None:
        context = ssl.create_default_context(cafile=emulator.ca_file)
        raw = b"From: me@example.com\r\nTo: a@example.com\r\nSubject: starttls\r\n\r\nbody\r\n"
        with smtplib.SMTP(emulator.smtp_host, emulator.starttls_port) as smtp:
            smtp.starttls(context=context)
            smtp.login(emulator.smtp_user, emulator.smtp_password)
            smtp.sendmail(SENDER, ["a@example.com", "bcc@example.com"], raw)
        eu = smtp_password("testing", "eu-west-1")  # another region's password is accepted
        with smtplib.SMTP_SSL(emulator.smtp_host, emulator.smtps_port, context=context) as smtp:
            smtp.login(emulator.smtp_user, eu)
            smtp.sendmail(SENDER, ["a@example.com"], raw.replace(b"starttls", b"implicit"))
        mine = [m for m in emulator.outbox() if m.subject in ("starttls", "implicit")]
        assert [(m.kind, m.subject, m.bcc) for m in mine[-2:]] == [
            ("SMTP", "starttls", ("bcc@example.com",)),
            ("SMTP", "implicit", ()),
        ]

    def test_a_wrongly_derived_password_is_refused(self, emulator: LocalEmulator) -> None:
        context = ssl.create_default_context(cafile=emulator.ca_file)
        with smtplib.SMTP_SSL(emulator.smtp_host, emulator.smtps_port, context=context) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
                smtp.login(emulator.smtp_user, "testing")  # the secret itself, not derived
        assert caught.value.smtp_code == 535

    @pytest.mark.parametrize(
        ("attributes", "listener"),
        [
            ('PORT="465"', "implicit"),
            ('PORT="587"', "starttls"),
            ('SECURITY="explicit"', "starttls"),
        ],
    )
    def test_each_security_mode_reaches_its_listener(
        self, emulator: LocalEmulator, tmp_path: Path, attributes: str, listener: str
    ) -> None:
        before = len(emulator.smtp_server.received())
        text = (
            f'<AMSENDEMAIL SERVER="email-smtp.eu-west-1.amazonaws.com" {attributes} '
            f'USERNAME="{REAL_KEY}" PASSWORD="x" FROM="{SENDER}" TO="z@example.com" BODY="b" />\n'
        )
        options = RunOptions(
            force_endpoint_url=emulator.endpoint_url, local_smtp=lambda: target_of(emulator)
        )
        result = api.run(text, str(tmp_path / "t.aml"), options=options)
        assert result.status == "success", result.error
        [message] = emulator.smtp_server.received()[before:]
        assert message.listener == listener

    def test_without_a_local_smtp_endpoint_a_local_run_refuses_smtp(self, tmp_path: Path) -> None:
        text = (
            '<AMAWSSES ACTIVITY="send_email" SERVICEURL="smtps://email-smtp.eu-west-1.amazonaws'
            f'.com" ACCESSKEY="{REAL_KEY}" SECRETKEY="s" FROM="{SENDER}" TO="z@example.com" '
            'SUBJECT="s" TEXTBODY="b" />\n'
        )
        options = RunOptions(force_endpoint_url="http://127.0.0.1:9")
        result = api.run(text, str(tmp_path / "t.aml"), options=options)
        assert result.error is not None
        assert "amlses run --local has no local SMTP endpoint here" in result.error.message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestEmulatorCommand:
    def test_a_client_uses_the_printed_credentials_and_the_outbox_shows_it(self) -> None:
        port = _free_port()
        code = f"from amlses.commands.emulator import emulator; emulator(['--smtp-port', '{port}'])"
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            banner: list[str] = []
            assert process.stdout is not None
            for line in process.stdout:
                banner.append(line.rstrip("\n"))
                if line.startswith("Ctrl-C"):
                    break
            fields = {
                name: value
                for name, value in (
                    re.match(r"  (\S.*?)\s{2,}(\S+)$", line).groups()  # type: ignore[union-attr]
                    for line in banner
                    if re.match(r"  (\S.*?)\s{2,}(\S+)$", line)
                )
            }
            assert fields["SMTP (TLS)"] == f"smtps://127.0.0.1:{port}"
            starttls = int(fields["SMTP (STARTTLS)"].rpartition(":")[2])
            url = fields["endpoint URL"]
            context = ssl.create_default_context(cafile=fields["CA file"])
            with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
                smtp.login(fields["user name"], fields["password"])
                smtp.sendmail(
                    SENDER,
                    ["you@example.com"],
                    b"From: me@example.com\r\nSubject: printed\r\n\r\nhi\r\n",
                )
            shown = invoke("emulator", "outbox", "--url", url)
            assert shown.exit_code == 0, shown.output
            assert "[1] SMTP" in shown.output and "Subject:     printed" in shown.output
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
            assert process.returncode == 130 and err == "emulator stopped\n"
            for stopped in (port, starttls, int(url.rpartition(":")[2])):
                with pytest.raises(OSError):
                    socket.create_connection(("127.0.0.1", stopped), timeout=5).close()
            assert not Path(fields["CA file"]).exists()
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=60)

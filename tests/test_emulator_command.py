"""``amlses emulator`` as a server in a child process, and ``amlses emulator outbox``.

The server runs in a subprocess so that it can be sent SIGINT and SIGTERM like a user or a
service manager would; everything it prints is parsed as a client would read it (the URL, the
``export`` lines, the boto3 line), and the credentials printed are the ones used to reach it.
Timeouts are generous and nothing asserts on timing: the machine may be loaded.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amlses.commands.emulator import emulator
from amlses.emulator import LocalEmulator

EXAMPLES = Path(__file__).parent.parent / "examples"
FIXTURE = EXAMPLES / "identities.json"
#: a value that must never reach the server's output, though it is in its environment
REAL_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYREALSECRET"
STARTUP_TIMEOUT = 120


@dataclass
class Server:
    """A running ``amlses emulator`` child and what it printed."""

    process: subprocess.Popen[str]
    banner: list[str]
    url: str
    env: dict[str, str]
    _stderr: list[str] = field(default_factory=list)

    def stop(self, signum: int) -> tuple[int, str, str]:
        """Send ``signum``; the exit code, the rest of stdout and all of stderr."""
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def _read_banner(process: subprocess.Popen[str]) -> list[str]:
    """stdout's lines up to the "Ctrl-C" line, read in a thread so a hang fails the test."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                break
        else:
            lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    banner: list[str] = []
    while True:
        line = lines.get(timeout=STARTUP_TIMEOUT)
        if line is None:
            _, err = process.communicate(timeout=60)
            raise AssertionError(f"the emulator ended before it was ready: {err}")
        banner.append(line)
        if line.startswith("Ctrl-C"):
            return banner


def exported(banner: list[str]) -> dict[str, str]:
    """The variables of every ``export`` line, parsed as a POSIX shell would."""
    found: dict[str, str] = {}
    for line in banner:
        words = shlex.split(line)
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, _, value = word.partition("=")
                found[name] = value
    return found


def start_server(*args: str) -> Server:
    """``amlses emulator ARGS`` in a child, as the task brief's one-liner runs it."""
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY=REAL_SECRET, AWS_ACCESS_KEY_ID="AKIAREALKEY0000")
    code = f"from amlses.commands.emulator import emulator; emulator({list(args)!r})"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = _read_banner(process)
    except BaseException:
        process.kill()
        process.communicate(timeout=60)
        raise
    match = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
    assert match, banner
    return Server(process, banner, match.group(), env)


@pytest.fixture
def server() -> Iterator[Server]:
    """A server with the shipped fixture, stopped with SIGTERM if the test did not stop it."""
    running = start_server("--port", "0", "--fixture", str(FIXTURE))
    yield running
    if running.process.poll() is None:
        running.stop(signal.SIGTERM)


def boto3_client(banner: list[str]) -> object:
    """The SES client of the printed boto3 line, evaluated as a user pasting it would."""
    [line] = [line.strip() for line in banner if "boto3.client(" in line]
    namespace: dict[str, object] = {}
    exec(line, namespace)  # noqa: S102 (the line is the command's own output, under test)
    return namespace["ses"]


class TestServer:
    def test_prints_url_credentials_region_and_lines_to_paste(self, server: Server) -> None:
        text = "\n".join(server.banner)
        assert f"  endpoint URL       {server.url}" in server.banner
        assert "  access key id      testing" in server.banner
        assert "  secret access key  testing" in server.banner
        assert "  region             us-east-1" in server.banner
        assert exported(server.banner) == {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SES": server.url,
        }
        assert f"  amlses run TASK --endpoint-url {server.url}" in server.banner
        assert f"  amlses emulator outbox --url {server.url}" in server.banner
        assert f"5 identities created from {FIXTURE}." in server.banner
        # the environment's own credentials are never printed
        assert REAL_SECRET not in text and "AKIAREALKEY0000" not in text

    def test_the_printed_boto3_line_reaches_it_with_the_fixture(self, server: Server) -> None:
        client = boto3_client(server.banner)
        identities = client.list_identities()["Identities"]  # type: ignore[attr-defined]
        assert set(json.loads(FIXTURE.read_text())["identities"]) == set(identities)

    def test_the_exported_environment_reaches_it(self, server: Server) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(exported(server.banner), AWS_CONFIG_FILE=os.devnull)
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        code = "import boto3; print(boto3.client('ses').get_send_quota()['Max24HourSend'])"
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert float(result.stdout) > 0

    @pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
    def test_a_signal_stops_it_cleanly(self, server: Server, signum: int, code: int) -> None:
        returncode, out, err = server.stop(signum)
        assert returncode == code
        assert err == "emulator stopped\n" and out == ""
        with (
            pytest.raises(OSError),
            socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=5),
        ):
            pass

    def test_the_outbox_of_a_running_server(self, server: Server) -> None:
        client = boto3_client(server.banner)
        client.send_email(  # type: ignore[attr-defined]
            Source="alice@example.com",
            Destination={"ToAddresses": ["bob@example.com"]},
            Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}},
        )
        code = (
            "from amlses.commands.emulator import emulator; "
            f"emulator(['outbox', '--url', {server.url!r}, '--json'])"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        [message] = json.loads(result.stdout)
        assert (message["From"], message["To"], message["Text"]) == (
            "alice@example.com",
            ["bob@example.com"],
            "Hello",
        )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(emulator, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestRefusals:
    @pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
    def test_non_loopback_hosts(self, host: str) -> None:
        code, out, err = invoke("--host", host)
        assert code == 2 and out == ""
        assert err.startswith("amlses: The SES emulator listens on loopback addresses only")
        assert err.count("\n") == 1

    def test_the_signal_handlers_are_restored(self) -> None:
        before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        assert invoke("--host", "0.0.0.0")[0] == 2
        assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == before

    def test_a_port_in_use(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code, out, err = invoke("--port", str(port))
        assert (code, out) == (2, "")
        assert err == (
            f"amlses: The SES emulator cannot listen on 127.0.0.1 port {port}: the port is in "
            "use. Choose another with --port, or leave it out for a free one.\n"
        )

    def test_a_bad_fixture_stops_before_serving(self, tmp_path: Path) -> None:
        path = tmp_path / "f.json"
        path.write_text("[1]")
        code, out, err = invoke("--fixture", str(path))
        assert code == 2 and out == ""
        assert "must be a JSON object" in err and "Traceback" not in err

    def test_port_out_of_range(self) -> None:
        code, _, err = invoke("--port", "70000")
        assert code == 2 and "70000" in err

    def test_server_options_with_outbox(self) -> None:
        code, _, err = invoke("--port", "5000", "outbox", "--url", "http://127.0.0.1:1")
        assert code == 2
        assert err == (
            "amlses: --port configure the emulator server: give them to `amlses emulator` "
            "alone, not with `outbox`.\n"
        )


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[LocalEmulator]:
    with LocalEmulator() as running:
        yield running


@pytest.fixture
def local(shared_emulator: LocalEmulator) -> LocalEmulator:
    """The module's in-process emulator, emptied, with alice@example.com verified."""
    shared_emulator.reset()
    shared_emulator.seed({"identities": ["alice@example.com"]})
    return shared_emulator


class TestOutboxView:
    def test_an_empty_outbox(self, local: LocalEmulator) -> None:
        code, out, _ = invoke("outbox", "--url", local.endpoint_url)
        assert (code, out) == (
            0,
            f"no message accepted by the SES emulator at {local.endpoint_url}\n",
        )
        code, out, _ = invoke("outbox", "--url", local.endpoint_url + "/", "--json")
        assert (code, json.loads(out)) == (0, [])

    def test_every_kind_with_bodies_and_attachments(self, local: LocalEmulator) -> None:
        client = local.client()
        client.send_email(
            Source="alice@example.com",
            Destination={"ToAddresses": ["bob@example.com"], "BccAddresses": ["h@example.com"]},
            Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello\n\x1b[2Jthere"}}},
        )
        raw = EmailMessage()
        raw["From"], raw["To"], raw["Subject"] = "alice@example.com", "carol@example.com", "Raw"
        raw.set_content("plain")
        raw.add_alternative("<b>rich</b>", subtype="html")
        raw.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="report.pdf")
        client.send_raw_email(RawMessage={"Data": raw.as_bytes()})
        client.create_template(
            Template={"TemplateName": "Welcome", "SubjectPart": "Hi {{n}}", "TextPart": "x"}
        )
        client.send_templated_email(
            Source="alice@example.com",
            Destination={"ToAddresses": ["dan@example.com"]},
            Template="Welcome",
            TemplateData='{"n": "Dan"}',
        )
        code, out, err = invoke("outbox", "--url", local.endpoint_url)
        assert code == 0, err
        ids = [m.message_id for m in local.outbox()]
        assert out.splitlines() == [
            f"3 message(s) accepted by the SES emulator at {local.endpoint_url} (in send order)",
            "",
            f"[1] SendEmail  {ids[0]}",
            "    From:        alice@example.com",
            "    To:          bob@example.com",
            "    Bcc:         h@example.com",
            "    Subject:     Hi",
            "    Text:",
            "      Hello",
            "      \\x1b[2Jthere",  # a body cannot drive the terminal
            "",
            f"[2] SendRawEmail  {ids[1]}",
            "    From:        alice@example.com",
            "    To:          carol@example.com",
            "    Subject:     Raw",
            "    Attachments: report.pdf",
            "    Text:",
            "      plain",
            "    HTML:",
            "      <b>rich</b>",
            "",
            f"[3] SendTemplatedEmail  {ids[2]}",
            "    From:        alice@example.com",
            "    To:          dan@example.com",
            "    Template:    Welcome",
            '    Data:        {"n": "Dan"}',
        ]
        code, out, _ = invoke("outbox", "--url", local.endpoint_url, "--json")
        assert code == 0
        assert json.loads(out) == [m.to_dict() for m in local.outbox()]

    @pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://127.0.0.1/", "http://", "http://h:x"])
    def test_a_bad_url_is_a_usage_error(self, url: str) -> None:
        code, out, err = invoke("outbox", "--url", url)
        assert code == 2 and out == ""
        assert err.startswith("amlses: --url takes the emulator's endpoint URL")

    def test_an_unreachable_emulator_is_one_paragraph(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nothing listens there
        code, out, err = invoke("outbox", "--url", f"http://127.0.0.1:{port}")
        assert code == 1 and out == ""
        assert err.startswith(f"amlses: The outbox of the SES emulator at http://127.0.0.1:{port}")
        assert err.count("\n") == 1


def test_a_plain_moto_server_s_outbox_says_it_is_grouped(endpoint: str, ses_client: Any) -> None:
    """Only an amlses emulator knows the send order; any other moto server is grouped."""
    ses_client.verify_email_identity(EmailAddress="alice@example.com")
    ses_client.send_email(
        Source="alice@example.com",
        Destination={"ToAddresses": ["bob@example.com"]},
        Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "x"}}},
    )
    code, out, err = invoke("outbox", "--url", endpoint)
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"1 message(s) accepted by the SES emulator at {endpoint} "
        "(grouped by operation, in acceptance order within each)"
    )

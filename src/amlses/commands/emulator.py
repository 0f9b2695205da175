"""``amlses emulator``: the local SES emulator as a server of its own, and its outbox.

``amlses run --local`` starts an emulator for one run and stops it afterwards; Python code,
boto3 scripts and other tools need one that stays up.  ``amlses emulator`` starts the same
:class:`~amlses.emulator.LocalEmulator` (moto, on a loopback address only: it accepts any
credentials), prints what a client needs to reach it, and serves until Ctrl-C or SIGTERM.
Next to moto it serves the local SES SMTP endpoint (implicit TLS on ``--smtp-port``, STARTTLS
on a free port, a per-server CA to trust, AUTH with the SES-derived password of the dummy
key), whose messages are in the same outbox.
``amlses emulator outbox --url URL`` shows what a running emulator (or any moto server)
accepted, bodies and attachment names included.

An interrupt is the normal way to stop the server, so it is not an error: one line, "emulator
stopped", on stderr and the shell's exit code for the signal (130 for SIGINT, 143 for SIGTERM),
never a traceback.  Any other problem is one ``amlses:`` paragraph on stderr with the error's
exit code (2 for a port in use or a non-loopback ``--host``), as everywhere else in the CLI.
moto, boto3 and the ``email`` package are imported only when a command runs, so registering the
group costs ``amlses --help`` nothing.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import click

from ..errors import UsageError, failure_text
from ..files import printable

if TYPE_CHECKING:
    from ..emulator import LocalEmulator, OutboxMessage

__all__ = ["emulator", "outbox"]

#: the signals that stop the server, and why each exit code is 128 + the signal's number
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SERVE_OPTIONS = ("host", "port", "fixture", "smtp_port")


class _Stopped(Exception):
    """Raised in the main thread by the signal handler, so the server loop unwinds normally."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> NoReturn:
    raise _Stopped(signum)


def _fail(error: BaseException) -> NoReturn:
    """One paragraph on stderr and the error's exit code, as every command reports."""
    text, code = failure_text(error)
    click.echo(f"amlses: {text}", err=True)
    sys.exit(code)


@click.group(
    "emulator",
    invoke_without_command=True,
    short_help="Serve the local SES emulator for Python, boto3 and other tools.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="A loopback address to listen on (127.0.0.1, ::1, localhost); nothing else is allowed.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    metavar="N",
    help="The port to listen on; 0 or absent: a free one.",
)
@click.option(
    "--fixture",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help='Identities to create first: {"identities": ["alice@example.com", "example.com"]}.',
)
@click.option(
    "--smtp-port",
    type=click.IntRange(0, 65535),
    default=0,
    metavar="N",
    help="The SMTP port with TLS from the first byte (SES's 465); 0 or absent: a free one. "
    "STARTTLS is on another free port, printed.",
)
@click.pass_context
def emulator(ctx: click.Context, host: str, port: int, fixture: str | None, smtp_port: int) -> None:
    """Serve the local SES emulator (moto) until Ctrl-C or SIGTERM.

    \b
    amlses emulator --fixture examples/identities.json
    amlses emulator outbox --url http://127.0.0.1:PORT [--json]

    It prints its URL, the dummy credentials and region to use and lines to paste into a
    shell or Python.  It listens on loopback only, since it accepts any credentials; mail it
    accepts is kept in memory and never delivered.
    """
    if ctx.invoked_subcommand is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in _SERVE_OPTIONS
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            _fail(
                UsageError(
                    f"{', '.join(given)} configure the emulator server: give them to "
                    f"`amlses emulator` alone, not with `{ctx.invoked_subcommand}`."
                )
            )
        return
    _serve(host, port, fixture, smtp_port)


def _serve(host: str, port: int, fixture: str | None, smtp_port: int = 0) -> NoReturn:
    """Start, announce, wait for a stop signal, stop; always ends with ``sys.exit``."""
    previous = _install_handlers()
    running: LocalEmulator | None = None
    try:
        from ..emulator import LocalEmulator

        running = LocalEmulator(host, port, smtp_port=smtp_port).start()
        seeded = running.seed(fixture) if fixture else []
        _announce(running.endpoint_url, fixture, len(seeded), _smtp_lines(running))
        import time

        while True:  # the server runs in its own thread; this one only waits for a signal
            time.sleep(3600)
    except _Stopped as stopped:
        _ignore_stop_signals()  # a second Ctrl-C while stopping must not interrupt the stop
        if running is not None:
            running.stop()
        click.echo("emulator stopped", err=True)
        sys.exit(128 + stopped.signum)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _ignore_stop_signals()
        if running is not None:
            running.stop()
        _fail(error)
    finally:
        _restore_handlers(previous)


def _install_handlers() -> dict[int, object]:
    """Make SIGINT and SIGTERM raise :class:`_Stopped`; returns the handlers they replace.

    Only the main thread may set handlers; called from another one (the server embedded in a
    program), the program's own handling stays in place.
    """
    previous: dict[int, object] = {}
    for signum in _STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, _raise_stopped)
        except ValueError:
            break
    return previous


def _ignore_stop_signals() -> None:
    for signum in _STOP_SIGNALS:
        try:
            signal.signal(signum, signal.SIG_IGN)
        except ValueError:
            return


def _restore_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]  # what signal.signal returned


def _smtp_lines(running: LocalEmulator) -> list[str]:
    """The SMTP endpoint: where, who, the password (derived from the dummy secret, so not a
    secret) and the CA file to trust, with a line of Python that sends through it."""
    host = f"[{running.smtp_host}]" if ":" in running.smtp_host else running.smtp_host
    lines = [
        "",
        "SES SMTP endpoint (local): real TLS, AUTH as on SES; mail is kept, never delivered.",
        "",
        f"  SMTP (TLS)         smtps://{host}:{running.smtps_port}",
        f"  SMTP (STARTTLS)    smtp://{host}:{running.starttls_port}",
        f"  user name          {running.smtp_user}",
        f"  password           {running.smtp_password}",
        f"  CA file            {running.ca_file}",
        "",
        "In Python:",
        f"  import smtplib, ssl; context = ssl.create_default_context(cafile='{running.ca_file}')",
        f"  smtp = smtplib.SMTP_SSL('{running.smtp_host}', {running.smtps_port}, context=context)",
        f"  smtp.login('{running.smtp_user}', '{running.smtp_password}')",
        "",
        "The password of any other SES region (amlses smtp-password) is accepted too.",
    ]
    return lines


def _announce(url: str, fixture: str | None, seeded: int, smtp: list[str]) -> None:
    """What a client needs, on stdout: URL, credentials, region and ready-to-paste lines.

    Only the emulator's own dummy credentials are printed, never a variable of the
    environment (which may hold real AWS keys).
    """
    from ..emulator import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    boto3_line = (
        f'boto3.client("ses", endpoint_url="{url}", region_name="{REGION}", '
        f'aws_access_key_id="{ACCESS_KEY_ID}", aws_secret_access_key="{SECRET_ACCESS_KEY}")'
    )
    lines = [
        f"SES emulator (moto) at {url}: any credentials are accepted, mail is never delivered.",
    ]
    if fixture:
        lines.append(f"{seeded} identities created from {printable(fixture)}.")
    lines += [
        "",
        f"  endpoint URL       {url}",
        f"  access key id      {ACCESS_KEY_ID}",
        f"  secret access key  {SECRET_ACCESS_KEY}",
        f"  region             {REGION}",
        "",
        "In a shell:",
        f"  export AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}"
        f" AWS_DEFAULT_REGION={REGION}",
        f"  export AWS_ENDPOINT_URL_SES={url}",
        f"  amlses run TASK --endpoint-url {url}",
        f"  amlses emulator outbox --url {url}",
        "In Python:",
        f"  import boto3; ses = {boto3_line}",
        *smtp,
        "",
        "Ctrl-C (or SIGTERM) stops both.",
    ]
    click.echo("\n".join(lines))


@emulator.command(
    "outbox",
    short_help="Show the messages a running emulator accepted.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--url",
    required=True,
    metavar="URL",
    help="The emulator's endpoint URL, as `amlses emulator` printed it (any moto server works).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, as --outbox writes.")
def outbox(url: str, as_json: bool) -> None:
    """The messages the emulator at URL accepted, with bodies and attachment names.

    An amlses emulator lists them in send order (API and SMTP alike); any other moto server
    keeps no order across operations, so its messages are grouped by operation (SendEmail,
    SendRawEmail, SendTemplatedEmail, SendBulkTemplatedEmail), in acceptance order within
    each.  Templated messages show their template and data: moto does not render them.
    """
    from ..emulator import read_send_order

    try:
        messages = _read(url)
        ordered = read_send_order(url.rstrip("/")) is not None
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error)
    if as_json:
        import json

        click.echo(json.dumps([m.to_dict() for m in messages], indent=2, ensure_ascii=False))
        return
    click.echo("\n".join(render_outbox(messages, url.rstrip("/"), ordered=ordered)))


def _read(url: str) -> list[OutboxMessage]:
    """:func:`~amlses.emulator.read_outbox` after checking that ``url`` is an HTTP URL."""
    from urllib.parse import urlsplit

    from ..emulator import read_outbox

    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        valid = False
    if not valid:
        raise UsageError(
            f"--url takes the emulator's endpoint URL, like http://127.0.0.1:5000, "
            f"not {printable(url)}"
        )
    return read_outbox(url.rstrip("/"))


def render_outbox(messages: list[OutboxMessage], url: str, *, ordered: bool) -> list[str]:
    """The human view of an outbox, one block per message; every value made printable, so a
    message cannot drive the terminal.  ``ordered``: the messages are in send order (an
    amlses emulator), else grouped by operation (any other moto server)."""
    if not messages:
        return [f"no message accepted by the SES emulator at {printable(url)}"]
    order = (
        " (in send order)"
        if ordered
        else (" (grouped by operation, in acceptance order within each)")
    )
    lines = [f"{len(messages)} message(s) accepted by the SES emulator at {printable(url)}{order}"]
    for number, message in enumerate(messages, 1):
        lines += ["", f"[{number}] {message.kind}  {printable(message.message_id)}"]
        fields = [
            ("From", message.sender),
            ("To", ", ".join(message.to)),
            ("Cc", ", ".join(message.cc)),
            ("Bcc", ", ".join(message.bcc)),
            ("Subject", message.subject),
            ("Template", message.template),
            ("Data", message.template_data),
            ("Attachments", ", ".join(message.attachments)),
        ]
        lines += [f"    {name + ':':<13}{printable(value)}" for name, value in fields if value]
        for name, body in (("Text", message.text), ("HTML", message.html)):
            if body:
                lines.append(f"    {name}:")
                lines += [f"      {printable(line)}" for line in body.splitlines()]
    return lines


if __name__ == "__main__":  # python -m amlses.commands.emulator, before it is registered
    emulator(prog_name="amlses emulator")

"""``amlses run|check``: a thin shell over :mod:`amlses.api`.

Any :class:`~amlses.errors.AmlError` becomes one redacted paragraph on stderr and its exit code
(0 success, 1 task failed, 2 invalid task or usage); anything else is reported as an internal
error in one paragraph too — never a traceback.  Heavy imports (boto3, moto, rich) happen inside
the commands, so ``amlses --help`` and ``amlses check`` start fast.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import startup
from .errors import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_TASK_FAILED,
    SIGINT,
    AmlError,
    Interrupted,
    Signalled,
    UsageError,
    failure_text,
)
from .files import printable, terminal_safe
from .secrets import SECRET_ATTRIBUTES

if TYPE_CHECKING:
    from .emulator import OutboxMessage
    from .files import PathMap
    from .localstart import LazyEmulator
    from .redact import Redactor


def _fail(
    error: BaseException,
    redactor: Redactor | None = None,
    *,
    as_json: bool = False,
    task: str | None = None,
) -> NoReturn:
    """Report ``error`` as one redacted paragraph on stderr and exit with its code.

    With ``as_json`` (``run --json``) stdout gets the document of a run that produced no
    result (:func:`amlses.output.failure_json`: ``invalid``, ``interrupted`` or ``error``),
    because a caller parsing stdout must always find exactly one document there; ``task``
    is the file named in the problem of an invalid command line.
    """
    from .redact import Redactor

    redact = redactor or Redactor()
    text, code = failure_text(error, "the task")
    if as_json:
        from .output import failure_json

        click.echo(failure_json(error, redact, task=task, text=text))
    click.echo(terminal_safe(redact(f"amlses: {text}")), err=True)
    sys.exit(code)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise UsageError(f'--var takes NAME=VALUE, not "{pair}"')
        variables[name.strip()] = value
    return variables


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amlses")
def cli() -> None:
    """Run Automate (AML) tasks that drive Amazon SES, anywhere Python runs.

    \b
    amlses run TASK.aml --local          try a task on the built-in SES emulator
    amlses run TASK.aml                  run it against real SES (AWS credentials)
    amlses check TASK.aml                find every problem, without any network call
    amlses key init; amlses encrypt      encrypt a secret to paste into a task

    Sending mail (<AMAWSSES> send_email, send_raw_email, send_templated_email,
    send_bulk_email and the *_template activities) is an amlses extension: Automate's
    SES action cannot send.  See the README, "Sending mail (amlses extensions)".
    """


#: ``--map-path``, shared by run and check (see amlses.files.PathMap and the README)
_MAP_PATH = click.option(
    "--map-path",
    "map_paths",
    multiple=True,
    metavar="'WIN=LOCAL'",
    help="Where a Windows drive or share written in tasks is here, e.g. 'C:\\=/srv/c/' or "
    "'\\\\server\\share=/mnt/share' (repeatable; longest prefix wins; also AMLSES_PATH_MAP).",
)


def _map_path(settings: dict[str, Any]) -> tuple[str, PathMap]:
    """The TASK argument through the run's PathMap (``AMLSES_PATH_MAP``, then ``--map-path``),
    and the map, so ``run`` and ``check`` read the same file even when it is given as a
    Windows path; a bad mapping or an unmapped Windows path is a UsageError."""
    import os

    from .files import PathMap

    path_map = PathMap.from_sources(settings["map_paths"], os.environ)
    return path_map.apply(settings["task"]), path_map


def _show_encoding(text: str, task: str) -> None:
    """The one-line note for a task file read as Windows-1252, on stderr (``run`` shows only
    warnings of the check, so the note is shown here, for both commands)."""
    from .loader import encoding_notes

    for note in encoding_notes(text, task):
        click.echo(note.render(), err=True)


class _RunCommand(click.Command):
    """``run``, whose command-line mistakes that click itself finds (a bad option value, a
    folder as TASK) still give ``--json`` its one document on stdout."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        as_json = "--json" in args
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            if as_json:
                from .output import failure_json
                from .redact import Redactor

                usage = UsageError(error.format_message())
                click.echo(failure_json(usage, Redactor()))
            raise


@cli.command(cls=_RunCommand)
@click.argument("task", type=click.Path(dir_okay=False))
@click.option("--endpoint-url", metavar="URL", help="SES endpoint for steps without SERVICEURL.")
@click.option(
    "--local",
    is_flag=True,
    help="Run against a local SES emulator (moto) started for "
    "this run; every step is pointed at it and no credentials are needed.",
)
@click.option(
    "--fixture",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="With --local: JSON file of identities to create first.",
)
@click.option(
    "--outbox",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="With --local: write the messages the emulator accepted to FILE as JSON.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a task variable (repeatable); wins over ISPARAMETER defaults.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings.")
@click.option(
    "--max-iterations",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Stop any loop that runs more often than this.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document on stdout instead of step lines: status, steps, messages, "
    "final variables and datasets (the outbox with --local), or the problems of a task that "
    "cannot run; secrets masked.",
)
@click.option(
    "--profile",
    metavar="NAME",
    help="AWS profile for steps with no ACCESSKEY (default: AWS_PROFILE, else the default chain).",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Print botocore's wire traffic on stderr (secrets and signatures masked).",
)
@click.option(
    "--journal-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Where bulk sends keep their journal (default: AMLSES_JOURNAL_DIR, else the user's "
    "state folder); a rerun resumes an interrupted send from it.",
)
@click.option(
    "--no-journal",
    is_flag=True,
    help="Keep no send journal: a rerun of an interrupted bulk send then sends to everyone.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Resend the rows an earlier run of a bulk send left in doubt (Unknown): they may "
    "get two messages.",
)
@_MAP_PATH
def run(**settings: Any) -> None:
    """Run TASK: one line per executed step, a table per dataset produced."""
    from .redact import Redactor

    redactor = Redactor()
    as_json, task = bool(settings["as_json"]), str(settings["task"])
    startup.pause()  # until the task is checked and botocore imported (amlses.startup)
    try:
        with termination_as_interrupt():
            _run(settings, redactor)
    except AmlError as error:
        _fail(error, redactor, as_json=as_json, task=task)
    except KeyboardInterrupt as interrupt:  # before or after the task ran (api.run reports
        # an interrupt of the task itself in its result, with where it was)
        signum = interrupt.signum if isinstance(interrupt, Signalled) else SIGINT
        stopped = Interrupted("interrupted before the task ran", signum=signum)
        _fail(stopped, redactor, as_json=as_json, task=task)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error, redactor, as_json=as_json, task=task)
    finally:
        startup.resume(freeze=False)  # a run that ended before its start-up was over


@contextmanager
def signals_deferred() -> Iterator[None]:
    """While the block runs, Ctrl-C and SIGTERM are ignored (in the main thread only): for the
    short cleanup after a task, which must finish to report what the task did."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: the signals that stop a run: Ctrl-C and a polite kill
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops it the way Ctrl-C does (as :class:`Signalled`), so
    a run stops cleanly, says where it was and exits 143; the old handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise Signalled(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: the words of the command line, when amlses runs as its own program (:func:`main`)
_COMMAND_LINE: list[str] | None = None


def _resume_command(task: str) -> str:
    """The command that resumes this run's interrupted bulk send: this very command line
    (without ``--resend-unknown``: rows in doubt are resent only when asked again, on purpose),
    or ``amlses run TASK`` when the CLI was called from Python."""
    import shlex

    words = _COMMAND_LINE if _COMMAND_LINE is not None else ["run", task]
    return shlex.join(["amlses", *(word for word in words if word != "--resend-unknown")])


def _run(settings: dict[str, Any], redactor: Redactor) -> None:
    """The body of ``run``; ``settings`` holds every option by its parameter name.

    With ``--local`` the emulator's child process is started first, before the heavy imports,
    so that moto starts on another CPU while this process reads, checks and starts running the
    task (:mod:`amlses.localstart`); it is stopped whatever happens.
    """
    _check_endpoint_url(settings["endpoint_url"])
    if settings["fixture"] and not settings["local"]:
        raise UsageError("--fixture seeds the local emulator: use it with --local")
    if settings["outbox"] and not settings["local"]:
        raise UsageError("--outbox writes what the local emulator accepted: use it with --local")
    task, path_map = _map_path(settings)
    emulator: LazyEmulator | None = None
    if settings["local"]:
        from .localstart import LazyEmulator

        # a bad fixture is refused here, before the emulator starts, so nothing is left running
        emulator = LazyEmulator(settings["fixture"] or None).start()
    try:
        _run_task(settings, task, path_map, redactor, emulator)
    finally:
        if emulator is not None:
            with signals_deferred():
                emulator.stop()


def _run_task(
    settings: dict[str, Any],
    task: str,
    path_map: PathMap,
    redactor: Redactor,
    emulator: LazyEmulator | None,
) -> None:
    """Read, check and run ``task`` (on ``emulator`` when given), then report and exit."""
    from . import api
    from .output import HumanReporter, RecordingReporter, failure_summary, result_json
    from .redact import debug_logging
    from .runtime.context import RunOptions

    quiet = bool(settings["quiet"] or settings["as_json"])
    text = api.load(task)
    _show_encoding(text, task)
    smtp = emulator is not None and may_use_smtp(text)
    if emulator is not None and smtp:
        emulator.request_smtp()  # it starts in the child once moto serves, while we go on
    options = RunOptions(
        path_map=path_map,
        endpoint_url=settings["endpoint_url"],
        variables=dict(_parse_vars(settings["variables"])),
        max_iterations=settings["max_iterations"],
        profile=settings["profile"],
        journal=not settings["no_journal"],
        journal_dir=settings["journal_dir"],
        resend_unknown=bool(settings["resend_unknown"]),
        resume_command=_resume_command(task),
    )
    if not quiet:
        from .progress import BulkProgressLine

        options.bulk_progress = BulkProgressLine(
            sys.stderr, live=sys.stderr.isatty(), redact=redactor
        )
    human = HumanReporter(sys.stdout, sys.stderr, redactor, quiet=quiet)
    # only --json needs the step records; a plain run keeps none, whatever its length
    recorder = RecordingReporter(human) if settings["as_json"] else None
    # refuse an invalid task before its first step (its secrets masked in the errors)
    prepared, _ = api.prepare(text, task, options.variables, redactor, path_map)
    if startup.paused() and any(step.name == "AMAWSSES" for step in prepared.walk()):
        import botocore.session  # noqa: F401 (what the first SES step imports: part of start-up)
    startup.resume()
    if emulator is not None:
        options.force_endpoint_url = emulator.endpoint_url
        options.local_smtp = emulator.smtp_target  # SMTP steps go there, never to real hosts
        if not quiet:
            click.echo(f"local SES emulator at {emulator.endpoint_url}", err=True)
            if smtp:
                where = emulator.smtp_target().describe()
                click.echo(f"local SES SMTP endpoint at {where}", err=True)
    debug: AbstractContextManager[object] = (
        debug_logging(sys.stderr, redactor) if settings["debug"] else nullcontext()
    )
    outbox: list[OutboxMessage] | None = None
    with debug:
        result = api.run(text, task, options=options, reporter=recorder or human, redactor=redactor)
    # The task is over and its result known: a late Ctrl-C must not cost the outbox, the
    # result or its JSON, and what is left takes well under a second.
    with signals_deferred():
        if emulator is not None:
            outbox = emulator.outbox()
            _report_outbox(outbox, settings["outbox"], quiet, redactor)
    if recorder is not None:
        sent = None if outbox is None else [message.to_dict() for message in outbox]
        click.echo(result_json(result, recorder, redactor, task=prepared, outbox=sent))
    summary = failure_summary(result)
    if summary is not None:
        click.echo(redactor(f"amlses: {summary}"), err=True)
    if result.error is not None:
        if settings["as_json"]:
            sys.exit(result.error.exit_code)
        _fail(result.error, redactor)
    if result.status != "success":
        sys.exit(EXIT_TASK_FAILED)
    sys.exit(EXIT_OK)


#: what makes a task's text mention SMTP: an Email step, or an SMTP endpoint (smtp://, smtps://,
#: email-smtp.<region>…) — a cheap look, before the task is parsed; a task that reaches SMTP
#: in another way (an endpoint in a variable) starts the endpoint at its first SMTP step
_SMTP_HINT = r"<\s*AM(?:SEND)?EMAIL\b|smtps?://|email-smtp"


def may_use_smtp(text: str) -> bool:
    """Whether a task's text may send over SMTP, so ``--local`` starts its SMTP endpoint early
    and names it next to the emulator."""
    import re

    return re.search(_SMTP_HINT, text, re.IGNORECASE) is not None


def _check_endpoint_url(url: str | None) -> None:
    """Refuse an ``--endpoint-url`` that is not an http(s) URL with a host, before anything
    runs: otherwise the task would start and its first SES step fail on line 1 with an error
    about a setting that is not in the task at all.  ``""`` means not given, as it does for
    ``SERVICEURL``."""
    if not url:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        valid = valid and parts.port != 0 and not any(char.isspace() for char in url)
    except ValueError:  # a port that is not a number, a bracketed host that is not IPv6
        valid = False
    if valid:
        return
    head, at, host = url.rpartition("@")  # never echo user:password@ of a URL
    shown = (head.partition("://")[0] + "://…@" if "://" in head else "…@") + host if at else url
    raise UsageError(
        "--endpoint-url takes the URL of an SES endpoint: the scheme http or https, then a "
        "host and, if needed, a port, such as https://email.eu-west-1.amazonaws.com or "
        f'http://127.0.0.1:4566 (a local emulator); "{printable(shown)}" is not one'
    )


def _report_outbox(
    messages: list[OutboxMessage], path: str | None, quiet: bool, redactor: Redactor
) -> None:
    """After a --local run: the outbox as JSON in ``path`` (``--outbox``, mode 0600), and a
    summary on stdout unless ``quiet`` (under ``--json`` the document carries the outbox)."""
    from .emulator import write_outbox

    if path:
        write_outbox(path, messages, redactor)
    if quiet or not (messages or path):  # a task that sends nothing gets no outbox line
        return
    click.echo(f"outbox: {len(messages)} message(s) accepted by the local emulator")
    for message in messages:
        recipients = list(message.recipients)
        shown = ", ".join(recipients[:3]) + (f" +{len(recipients) - 3}" if recipients[3:] else "")
        subject = message.subject or f"[template {message.template}]"
        line = f"  {message.message_id}  {message.sender} -> {shown}: {subject}"
        click.echo(redactor(line))


@cli.command()
@click.argument("tasks", metavar="TASK...", nargs=-1, required=True)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A variable the run will be given (so references to it are known).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document: status, and every file's problems.",
)
@_MAP_PATH
def check(
    tasks: tuple[str, ...], variables: tuple[str, ...], map_paths: tuple[str, ...], as_json: bool
) -> None:
    """Check each TASK without running it: syntax, elements, activities, attributes, sessions,
    files and tokens.  TASK may be - (the task text on standard input).  Exit 2 when any task
    has an error (or cannot be read), so `amlses check tasks/*.aml` gates CI."""
    import os

    from .commands.check import check_json, check_one, check_summary, show_check
    from .files import PathMap
    from .redact import Redactor

    redactor = Redactor()
    try:
        given = _parse_vars(variables)
        path_map = PathMap.from_sources(map_paths, os.environ)
    except AmlError as error:
        if as_json:  # stdout still holds one document; the paragraph on stderr says why
            click.echo('{"status": "invalid", "files": []}')
        _fail(error, redactor)
    reports = [check_one(task, given, path_map, redactor) for task in tasks]
    if as_json:
        check_json(reports, redactor)
    else:
        for report in reports:
            show_check(report, redactor, several=len(reports) > 1)
        if len(reports) > 1:
            check_summary(reports)
    sys.exit(EXIT_INVALID if any(r.errors for r in reports) else EXIT_OK)


# --------------------------------------------------------------------------------------------
# Secrets at rest: amlses encrypt | decrypt | key (see amlses.vault)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_secret(prompt: str) -> str:
    """A secret from a prompt that does not echo (asked twice), or from piped standard input.

    One trailing newline of piped input is dropped (``echo secret |`` adds it); nothing else
    is touched, since spaces may be part of a password.
    """
    if _stdin_is_terminal():
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)
    else:
        value = sys.stdin.read()
        value = value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
    if not value:
        raise UsageError("nothing to encrypt: the secret is empty")
    return str(value)


@cli.command()
@click.option(
    "--as",
    "attribute",
    type=click.Choice(sorted(SECRET_ATTRIBUTES), case_sensitive=False),
    help='Print ATTRIBUTE="token", ready to paste into a step.',
)
def encrypt(attribute: str | None) -> None:
    """Encrypt a secret for a task: prints an amlses:v1: token.

    Paste the token as any secret attribute (SECRETKEY, PROXYPWD, SESSIONTOKEN, PASSWORD);
    `amlses run` decrypts it before the first step.  The secret is read from a prompt that
    does not echo, or from standard input when that is not a terminal.  The key comes from
    AMLSES_KEY, the key file or the OS keyring: create one with `amlses key init`.
    """
    from .vault import Vault

    try:
        token = Vault().encrypt(_read_secret("Secret to encrypt"))
    except AmlError as error:
        _fail(error)
    click.echo(f'{attribute.upper()}="{token}"' if attribute else token)


@cli.command()
@click.argument("token", required=False)
@click.option(
    "--i-know-this-prints-the-secret",
    "confirmed",
    is_flag=True,
    help="Required: decrypt prints the secret in clear text.",
)
def decrypt(token: str | None, confirmed: bool) -> None:
    """Print the secret inside an amlses:v1: TOKEN (or one read from standard input).

    For moving a secret to another key or another tool; the secret goes to stdout only,
    never to a log.  Refused without --i-know-this-prints-the-secret.
    """
    from .vault import decrypt as decrypt_token
    from .vault import is_token, load_key

    try:
        if not confirmed:
            raise UsageError(
                "decrypt prints the secret in clear text; if that is what you want, pass "
                "--i-know-this-prints-the-secret"
            )
        value = (token or sys.stdin.read()).strip()
        if not is_token(value):
            raise UsageError("give an amlses:v1: token, as `amlses encrypt` prints it")
        secret = decrypt_token(value, load_key())
    except AmlError as error:
        _fail(error)
    click.echo(secret)


@cli.group()
def key() -> None:
    """The key that encrypts secrets: AMLSES_KEY, else the key file, else the OS keyring."""


@key.command("init")
@click.option(
    "--keyring", "in_keyring", is_flag=True, help="Store the key in the OS keyring, not a file."
)
@click.option("--force", is_flag=True, help="Replace an existing key (old tokens become unusable).")
def key_init(in_keyring: bool, force: bool) -> None:
    """Create a new random key: a file readable only by you (AMLSES_KEY_FILE, else
    amlses/key in your config directory), or an entry in the OS keyring."""
    import os

    from .vault import KEY_ENV, init_key_file, key_file_path, store_key_in_keyring

    try:
        if in_keyring:
            where = f"the OS keyring ({store_key_in_keyring(force=force)})"
            shadowed = key_file_path().exists()
        else:
            where = f"{init_key_file(force=force)} (mode 0600)"
            shadowed = False
    except AmlError as error:
        _fail(error)
    click.echo(f"created a new amlses key in {where}")
    click.echo(
        "Keep a copy somewhere safe: tokens made with this key cannot be decrypted without it.",
        err=True,
    )
    if os.environ.get(KEY_ENV):
        click.echo(f"warning: {KEY_ENV} is set and is used instead of this key.", err=True)
    elif shadowed:
        click.echo(f"warning: the key file {key_file_path()} is used instead.", err=True)


@key.command("status")
def key_status() -> None:
    """Say where the key comes from (never the key itself); exit 1 when there is none."""
    from .vault import find_key, key_file_path

    try:
        found = find_key()
    except AmlError as error:
        _fail(error)
    if found is None:
        click.echo(f"no amlses key (looked in AMLSES_KEY, {key_file_path()}, the OS keyring)")
        sys.exit(EXIT_TASK_FAILED)
    click.echo(f"key from {found.source}")


def _add_commands() -> None:
    """The commands that live in :mod:`amlses.commands`, one module each (each imports only
    click at first, so ``amlses --help`` stays fast); :data:`~amlses.commands.COMMANDS` lists
    them."""
    from importlib import import_module

    from .commands import COMMANDS

    for module, name in COMMANDS:
        cli.add_command(getattr(import_module(f"{__package__}.commands.{module}"), name))


_add_commands()


def main() -> None:
    """Console-script entry point."""
    global _COMMAND_LINE
    _COMMAND_LINE = sys.argv[1:]
    startup.in_own_process()
    try:
        cli(prog_name="amlses")
    finally:
        startup.exiting()

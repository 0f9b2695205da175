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

from .errors import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_TASK_FAILED,
    SIGINT,
    AmlError,
    Interrupted,
    Signalled,
    UsageError,
)
from .files import terminal_safe
from .secrets import SECRET_ATTRIBUTES

if TYPE_CHECKING:
    from .emulator import OutboxMessage
    from .files import PathMap
    from .redact import Redactor


SEVERITIES = ("error", "warning", "note")


def _fail(error: BaseException, redactor: Redactor | None = None) -> NoReturn:
    from .redact import Redactor

    redact = redactor or Redactor()
    if isinstance(error, AmlError):
        text, code = error.render(), error.exit_code
    else:
        text = (
            f"internal error: {type(error).__name__}: {error}. This is a bug in amlses; "
            "please report it with the task that caused it."
        )
        code = EXIT_TASK_FAILED
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


@cli.command()
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
    help="Print the result as JSON (status, failed "
    "steps, final variables and datasets; secrets masked) instead of step lines.",
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
@_MAP_PATH
def run(**settings: Any) -> None:
    """Run TASK: one line per executed step, a table per dataset produced."""
    from .redact import Redactor

    redactor = Redactor()
    try:
        with termination_as_interrupt():
            _run(settings, redactor)
    except AmlError as error:
        _fail(error, redactor)
    except KeyboardInterrupt as interrupt:  # before or after the task ran (api.run reports
        # an interrupt of the task itself in its result, with where it was)
        signum = interrupt.signum if isinstance(interrupt, Signalled) else SIGINT
        _fail(Interrupted("interrupted before the task ran", signum=signum), redactor)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error, redactor)


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


def _run(settings: dict[str, Any], redactor: Redactor) -> None:
    """The body of ``run``; ``settings`` holds every option by its parameter name."""
    from . import api
    from .output import HumanReporter, RecordingReporter, failure_summary, result_json
    from .redact import debug_logging
    from .runtime.context import RunOptions

    task, path_map = _map_path(settings)
    quiet = bool(settings["quiet"] or settings["as_json"])
    if settings["fixture"] and not settings["local"]:
        raise UsageError("--fixture seeds the local emulator: use it with --local")
    if settings["outbox"] and not settings["local"]:
        raise UsageError("--outbox writes what the local emulator accepted: use it with --local")
    text = api.load(task)
    _show_encoding(text, task)
    options = RunOptions(
        path_map=path_map,
        endpoint_url=settings["endpoint_url"],
        variables=dict(_parse_vars(settings["variables"])),
        max_iterations=settings["max_iterations"],
        profile=settings["profile"],
    )
    human = HumanReporter(sys.stdout, sys.stderr, redactor, quiet=quiet)
    # only --json needs the step records; a plain run keeps none, whatever its length
    recorder = RecordingReporter(human) if settings["as_json"] else None
    # refuse an invalid task before the emulator starts (its secrets masked in the errors)
    prepared, _ = api.prepare(text, task, options.variables, redactor, path_map)
    emulator = None
    if settings["local"]:
        from .emulator import LocalEmulator

        emulator = LocalEmulator()
        emulator.start()
        if settings["fixture"]:
            emulator.seed(settings["fixture"])
        options.force_endpoint_url = emulator.endpoint_url
        if not quiet:
            click.echo(f"local SES emulator at {emulator.endpoint_url}", err=True)
    debug: AbstractContextManager[object] = (
        debug_logging(sys.stderr, redactor) if settings["debug"] else nullcontext()
    )
    try:
        with debug:
            result = api.run(
                text, task, options=options, reporter=recorder or human, redactor=redactor
            )
        if emulator is not None:
            _report_outbox(emulator.outbox(), settings["outbox"], quiet, redactor)
    finally:
        if emulator is not None:
            emulator.stop()
    if recorder is not None:
        click.echo(result_json(result, recorder, redactor, task=prepared))
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


def _report_outbox(
    messages: list[OutboxMessage], path: str | None, quiet: bool, redactor: Redactor
) -> None:
    """After a --local run: the outbox as JSON in ``path`` (``--outbox``, mode 0600), and a
    summary."""
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
@click.argument("task", type=click.Path(dir_okay=False))
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A variable the run will be given (so references to it are known).",
)
@_MAP_PATH
def check(task: str, variables: tuple[str, ...], map_paths: tuple[str, ...]) -> None:
    """Check TASK without running it: syntax, elements, activities, attributes, sessions."""
    from . import api
    from .redact import Redactor

    redactor = Redactor()
    try:
        task, path_map = _map_path({"task": task, "map_paths": map_paths})
        text = api.load(task)
        _show_encoding(text, task)
        problems = api.check(text, task, _parse_vars(variables), redactor, path_map)
    except AmlError as error:
        _fail(error, redactor)
    counts = {kind: sum(1 for p in problems if p.severity == kind) for kind in SEVERITIES}
    for problem in problems:
        click.echo(terminal_safe(redactor(problem.render())), err=True)
    tally = ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n and kind != "error")
    if counts["error"]:
        click.echo(
            f"{task}: {counts['error']} error(s)" + (f", {tally}" if tally else ""), err=True
        )
        sys.exit(EXIT_INVALID)
    click.echo(f"{task}: ok" + (f" ({tally})" if tally else ""))


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
    click at first, so ``amlses --help`` stays fast)."""
    from .commands.doc import doc
    from .commands.emulator import emulator
    from .commands.stats import stats

    for command in (doc, emulator, stats):
        cli.add_command(command)


_add_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="amlses")

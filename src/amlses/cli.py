"""``amlses run|check``: a thin shell over :mod:`amlses.api`.

Any :class:`~amlses.errors.AmlError` becomes one redacted paragraph on stderr and its exit code
(0 success, 1 task failed, 2 invalid task or usage); anything else is reported as an internal
error in one paragraph too — never a traceback.  Heavy imports (boto3, moto, rich) happen inside
the commands, so ``amlses --help`` and ``amlses check`` start fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .errors import EXIT_INVALID, EXIT_OK, EXIT_TASK_FAILED, AmlError, UsageError

if TYPE_CHECKING:
    from .redact import Redactor


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
    click.echo(redact(f"amlses: {text}"), err=True)
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
    """


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
def run(**settings: Any) -> None:
    """Run TASK: one line per executed step, a table per dataset produced."""
    from .redact import Redactor

    redactor = Redactor()
    try:
        _run(settings, redactor)
    except AmlError as error:
        _fail(error, redactor)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error, redactor)


def _run(settings: dict[str, Any], redactor: Redactor) -> None:
    """The body of ``run``; ``settings`` holds every option by its parameter name."""
    from . import api
    from .output import HumanReporter, RecordingReporter, failure_summary, result_json
    from .runtime import RunOptions

    task: str = settings["task"]
    quiet = bool(settings["quiet"] or settings["as_json"])
    if settings["fixture"] and not settings["local"]:
        raise UsageError("--fixture seeds the local emulator: use it with --local")
    text = api.load(task)
    options = RunOptions(
        endpoint_url=settings["endpoint_url"],
        variables=dict(_parse_vars(settings["variables"])),
        max_iterations=settings["max_iterations"],
    )
    reporter = RecordingReporter(HumanReporter(sys.stdout, sys.stderr, redactor, quiet=quiet))
    api.prepare(text, task, options.variables)  # refuse an invalid task before the emulator starts
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
    try:
        result = api.run(text, task, options=options, reporter=reporter, redactor=redactor)
    finally:
        if emulator is not None:
            emulator.stop()
    if settings["as_json"]:
        click.echo(result_json(result, reporter.steps, redactor))
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


@cli.command()
@click.argument("task", type=click.Path(dir_okay=False))
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A variable the run will be given (so references to it are known).",
)
def check(task: str, variables: tuple[str, ...]) -> None:
    """Check TASK without running it: syntax, elements, activities, attributes, sessions."""
    from . import api

    try:
        text = api.load(task)
        problems = api.check(text, task, _parse_vars(variables))
    except AmlError as error:
        _fail(error)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    for problem in problems:
        click.echo(problem.render(), err=True)
    if errors:
        click.echo(f"{task}: {errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(f"{task}: ok" + (f" ({warnings} warning(s))" if warnings else ""))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="amlses")

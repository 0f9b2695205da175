"""The layers composed: load, parse, check and run a task.  The CLI calls only these.

``run`` refuses a task that ``check`` rejects before any request is made, closes every
session when the task ends (however it ends), and returns a :class:`RunResult` rather than
raising for a failed step, so callers can show partial results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SIGINT, AmlError, AmlSyntaxError, Interrupted, Problem, Signalled, StopTask
from .lang.nodes import Task
from .loader import (
    MAX_TASK_BYTES,
    check_text,
    load_task,
    parse_task,
    read_task_file,
    unlock_secrets,
)
from .redact import Redactor, redacted_logging
from .runtime.context import Context, Reporter, RunOptions
from .runtime.datasets import Dataset
from .runtime.runner import run as run_context
from .values import Value

if TYPE_CHECKING:
    from .aws.clients import ClientCache
    from .files import PathMap

__all__ = [
    "MAX_TASK_BYTES",
    "RunResult",
    "check",
    "load",
    "parse",
    "parse_file",
    "prepare",
    "run",
    "run_file",
]


def load(path: str | Path) -> str:
    """Read a task file as text: bounded, regular files only; UTF-8 with or without BOM,
    UTF-16 with BOM, else Windows-1252 (:func:`amlses.loader.read_task_file`)."""
    return read_task_file(path)


def parse(text: str, name: str = "<task>") -> Task:
    """Parse task text; raise :class:`AmlSyntaxError` listing every syntax problem."""
    task, problems = parse_task(text, name)
    if problems:
        raise AmlSyntaxError(problems)
    return task


def parse_file(path: str | Path) -> Task:
    return parse(load(path), str(path))


def check(
    text: str,
    name: str = "<task>",
    variables: Iterable[str] = (),
    redactor: Redactor | None = None,
    path_map: PathMap | None = None,
) -> list[Problem]:
    """Every problem of a task, syntax and static, errors and warnings; no network.

    With a ``redactor``, the task's literal secrets are registered, for masking the problems.
    """
    return check_text(text, name, variables, redactor, path_map)


@dataclass
class RunResult:
    """What a run did: its status, the error that ended it, and its final state."""

    status: str  # "success", "failed", "interrupted" (or the status a stop step set)
    error: AmlError | None = None
    variables: dict[str, Value] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    failed_steps: list[AmlError] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == "success"


def prepare(
    text: str,
    name: str,
    variables: Iterable[str] = (),
    redactor: Redactor | None = None,
    path_map: PathMap | None = None,
) -> tuple[Task, list[Problem]]:
    """Parse and check; raise :class:`TaskError` when the task must not run.

    With a ``redactor``, the task's secrets are registered first, so that even the errors of
    a task that never runs are masked when rendered through it.
    """
    loaded = load_task(text, name, variables=variables, redactor=redactor, path_map=path_map)
    return loaded.task, loaded.warnings


def run(
    text: str,
    name: str = "<task>",
    *,
    options: RunOptions | None = None,
    reporter: Reporter | None = None,
    redactor: Redactor | None = None,
    cache: ClientCache | None = None,
) -> RunResult:
    """Check, then run a task; step failures come back in the result, not as exceptions.

    Raises :class:`TaskError` (or :class:`AmlSyntaxError`) when the task is invalid: nothing
    has run then.  Pass a ``cache`` to reuse boto3 clients across runs (benchmarks, services).
    ``amlses:v1:`` tokens are decrypted with ``options.vault`` before the first step; the
    run's secrets are masked in the returned errors and in log records while it runs.  Ctrl-C
    (or SIGTERM delivered as :class:`~amlses.errors.Signalled`) ends the run with status
    ``interrupted`` and an :class:`~amlses.errors.Interrupted` error saying where it was.
    """
    options = options or RunOptions()
    redactor = redactor or Redactor()
    loaded = load_task(
        text, name, variables=options.variables, redactor=redactor, path_map=options.path_map
    )
    context = Context(
        loaded.task,
        options=options,
        reporter=reporter,
        redactor=redactor,
        cache=cache,
        secret_variables=loaded.secret_variables,
    )
    result = RunResult("success", warnings=loaded.warnings)
    try:
        # Every amlses:v1: token is decrypted before the first step: a bad one fails the run
        # at its attribute, before any step (and so any request) has run.  Before the
        # warnings too, whose source lines must be masked with the decrypted values known.
        unlock_secrets(loaded.task, context)
        for warning in (w for w in loaded.warnings if w.severity == "warning"):
            context.reporter.message(warning.render(), "problem")  # notes are for check
        with redacted_logging(redactor):
            run_context(context)
    except StopTask as stop:
        result.status = stop.status
        result.error = stop.error
    except AmlError as error:
        result.status = "failed"
        result.error = error
    except KeyboardInterrupt as interrupt:
        # Ctrl-C or SIGTERM (Signalled): an outcome of the run, not a crash.  The sessions
        # are closed below and the result says where the run was, so the CLI can print it,
        # emit its JSON and exit 130/143.
        signum = interrupt.signum if isinstance(interrupt, Signalled) else SIGINT
        where, position = getattr(interrupt, "amlses_where", None) or context.where()
        result.status = "interrupted"
        result.error = Interrupted(f"interrupted at {where}", signum=signum, position=position)
    finally:
        context.close()
    result.variables = {v.name: v.value for v in context.variables.values()}
    result.datasets = {d.name: d for d in context.datasets.values()}
    result.failed_steps = context.failed_steps
    for failure in (result.error, *result.failed_steps):
        if failure is not None:
            _mask_error(failure, redactor)
    return result


def _mask_error(error: AmlError, redactor: Redactor) -> None:
    """Mask the run's secrets in an error's text: callers log errors as they are, and a
    message may hold a value the caller never saw in clear (a decrypted token, a secret
    resolved from a profile)."""
    error.message = redactor(error.message)
    error.args = (error.message,)
    if error.source_line is not None:
        error.source_line = redactor(error.source_line)


def run_file(path: str | Path, **kwargs: object) -> RunResult:
    """Run the task in ``path`` (see :func:`run`)."""
    return run(load(path), str(path), **kwargs)  # type: ignore[arg-type]

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

from .actions.ses import resolve_automate_secrets
from .check import check_task
from .datasets import Dataset
from .errors import AmlError, AmlSyntaxError, Problem, TaskError, UsageError
from .expressions import Value
from .nodes import Block, Step, Task
from .parser import parse_with_problems
from .redact import Redactor, redacted_logging
from .runtime import Context, Reporter, RunOptions, StopTask
from .secrets import is_secret_attribute
from .vault import reveal_task

if TYPE_CHECKING:
    from .ses import ClientCache

MAX_TASK_BYTES = 10_000_000


def load(path: str | Path) -> str:
    """Read a task file as text (UTF-8, with or without BOM; Windows-1252 as a fallback)."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_TASK_BYTES:
            raise UsageError(
                f"{file}: the task file is {size:,} bytes; amlses reads at most {MAX_TASK_BYTES:,}"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read task file {file}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse(text: str, name: str = "<task>") -> Task:
    """Parse task text; raise :class:`AmlSyntaxError` listing every syntax problem."""
    task, problems = parse_with_problems(text, name)
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
) -> list[Problem]:
    """Every problem of a task, syntax and static, errors and warnings; no network.

    With a ``redactor``, the task's literal secrets are registered, for masking the problems.
    """
    task, problems = parse_with_problems(text, name)
    if redactor is not None:
        register_secrets(task, redactor)
    if any(p.severity == "error" for p in problems):
        return problems
    return problems + check_task(task, variables)


@dataclass
class RunResult:
    """What a run did: its status, the error that ended it, and its final state."""

    status: str  # "success" or "failed" (or the status a stop step set)
    error: AmlError | None = None
    variables: dict[str, Value] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    failed_steps: list[AmlError] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == "success"


def prepare(
    text: str, name: str, variables: Iterable[str] = (), redactor: Redactor | None = None
) -> tuple[Task, list[Problem]]:
    """Parse and check; raise :class:`TaskError` when the task must not run.

    With a ``redactor``, the task's literal secrets are registered first, so that even the
    errors of a task that never runs are masked when rendered through it.
    """
    task, problems = parse_with_problems(text, name)
    if redactor is not None:
        register_secrets(task, redactor)
    if problems:
        raise AmlSyntaxError(problems)
    problems = check_task(task, variables)
    if any(p.severity == "error" for p in problems):
        raise TaskError(problems)
    return task, problems


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
    run's secrets are masked in the returned errors and in log records while it runs.
    """
    options = options or RunOptions()
    redactor = redactor or Redactor()
    task, warnings = prepare(text, name, options.variables, redactor)
    context = Context(task, options=options, reporter=reporter, redactor=redactor, cache=cache)
    result = RunResult("success", warnings=warnings)
    try:
        # Every amlses:v1: token is decrypted before the first step: a bad one fails the run
        # at its attribute, before any step (and so any request) has run.  Before the
        # warnings too, whose source lines must be masked with the decrypted values known.
        reveal_task(task, options.vault, redactor)
        resolve_automate_secrets(context)
        for warning in (w for w in warnings if w.severity == "warning"):  # notes are for check
            context.reporter.message(warning.render(), "problem")
        with redacted_logging(redactor):
            context.runner.run()
    except StopTask as stop:
        result.status = stop.status
        result.error = stop.error
    except AmlError as error:
        result.status = "failed"
        result.error = error
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


def register_secrets(task: Task, redactor: Redactor) -> None:
    """Register every literal secret attribute value of ``task`` before anything runs.

    Walks with an explicit stack rather than :meth:`Task.walk`: it also runs on the task the
    parser recovered from a file it refused, which may nest blocks thousands deep.
    """
    pending: list[Step] = list(task.body)
    while pending:
        step = pending.pop()
        for attribute in step.attributes:
            if is_secret_attribute(attribute.name):
                redactor.add(attribute.value)
        if isinstance(step, Block):
            pending.extend(step.body)
            pending.extend(step.orelse or ())


def run_file(path: str | Path, **kwargs: object) -> RunResult:
    """Run the task in ``path`` (see :func:`run`)."""
    return run(load(path), str(path), **kwargs)  # type: ignore[arg-type]

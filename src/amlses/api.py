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

from .check import check_task
from .datasets import Dataset
from .errors import AmlError, AmlSyntaxError, Problem, TaskError, UsageError
from .expressions import Value
from .nodes import Task
from .parser import parse_with_problems
from .redact import Redactor, is_secret_attribute
from .runtime import Context, Reporter, RunOptions, StopTask

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


def check(text: str, name: str = "<task>", variables: Iterable[str] = ()) -> list[Problem]:
    """Every problem of a task, syntax and static, errors and warnings; no network."""
    task, problems = parse_with_problems(text, name)
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


def prepare(text: str, name: str, variables: Iterable[str] = ()) -> tuple[Task, list[Problem]]:
    """Parse and check; raise :class:`TaskError` when the task must not run."""
    task, problems = parse_with_problems(text, name)
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
    """
    options = options or RunOptions()
    redactor = redactor or Redactor()
    task, warnings = prepare(text, name, options.variables)
    register_secrets(task, redactor)
    context = Context(task, options=options, reporter=reporter, redactor=redactor, cache=cache)
    for warning in warnings:
        context.reporter.message(warning.render(), "problem")
    result = RunResult("success", warnings=warnings)
    try:
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
    return result


def register_secrets(task: Task, redactor: Redactor) -> None:
    """Register every literal secret attribute value of ``task`` before anything runs."""
    for step in task.walk():
        for attribute in step.attributes:
            if is_secret_attribute(attribute.name):
                redactor.add(attribute.value)


def run_file(path: str | Path, **kwargs: object) -> RunResult:
    """Run the task in ``path`` (see :func:`run`)."""
    return run(load(path), str(path), **kwargs)  # type: ignore[arg-type]

"""Running a task: one explicit :class:`Context` and a :class:`Runner` that walks the tree.

The context holds everything a run owns — variables, datasets, SES sessions, the redactor and
the reporter — and is passed to every step handler; there are no module globals, so two runs in
one process (tests, the Python API) never see each other's state.  The runner dispatches each
step through the action registry and attaches the step and its position to any error on the
way up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import actions
from .datasets import Dataset
from .errors import AmlError, ExpressionError, StepError
from .expressions import Value
from .nodes import Block, Step, Task
from .redact import Redactor
from .sessions import Sessions

if TYPE_CHECKING:
    from .ses import ClientCache

DEFAULT_MAX_ITERATIONS = 1_000_000


class Reporter(Protocol):
    """Where a run tells what it does; :mod:`amlses.output` has the human and JSON ones."""

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        """A step finished (or a block was entered) with a short outcome."""

    def dataset(self, step: Step, dataset: Dataset) -> None:
        """A step produced (or replaced) a dataset."""

    def message(self, text: str, level: str = "info") -> None:
        """A message for the user: ``info``, ``warning`` or ``error``."""


class NullReporter:
    """Reports nothing: the default for the Python API."""

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        pass

    def dataset(self, step: Step, dataset: Dataset) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass


@dataclass
class Variable:
    """A task variable; ``name`` keeps the case it was created with."""

    name: str
    value: Value
    readonly: bool = False


@dataclass
class RunOptions:
    """How a run connects and behaves; every field has a sane default.

    ``endpoint_url`` is the CLI's ``--endpoint-url`` (a step's ``SERVICEURL`` wins over it);
    ``force_endpoint_url`` is set by ``--local`` and wins over everything, so no step of a
    local run can reach real AWS.
    """

    endpoint_url: str | None = None
    force_endpoint_url: str | None = None
    variables: dict[str, Value] = field(default_factory=dict)
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.perf_counter


class BreakLoop(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a break step; the innermost loop catches it."""


class StopTask(Exception):  # noqa: N818
    """Raised by a stop step: ends the run with ``status``."""

    def __init__(self, status: str, error: AmlError | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


class Context:
    """Everything one run owns.  It is also the :class:`~amlses.expressions.Scope` for ``%…%``."""

    def __init__(
        self,
        task: Task,
        *,
        options: RunOptions | None = None,
        reporter: Reporter | None = None,
        redactor: Redactor | None = None,
        cache: ClientCache | None = None,
    ) -> None:
        from .ses import ClientCache

        self.task = task
        self.options = options or RunOptions()
        self.reporter: Reporter = reporter or NullReporter()
        self.redactor = redactor or Redactor()
        self.variables: dict[str, Variable] = {}
        self.datasets: dict[str, Dataset] = {}
        self.sessions = Sessions(cache if cache is not None else ClientCache())
        self.runner = Runner(self)
        self.failed_steps: list[AmlError] = []
        self.warned: set[str] = set()
        #: Automate ciphertexts resolved by access key id, so a loop reads credential files once
        self.resolved_secrets: dict[tuple[str, str], str] = {}
        #: per-step caches, keyed by id(step) with the step kept to rule out a reused id
        self.plans: dict[int, tuple[Step, Any]] = {}
        self.connections: dict[tuple[object, ...], Any] = {}
        for name, value in self.options.variables.items():
            self.set_variable(name, value, create=True)

    # -- the Scope protocol -------------------------------------------------------------

    def resolve(self, name: str) -> Value:
        """Read a variable or a ``Dataset.Field``; KeyError when neither exists."""
        variable = self.variables.get(name.lower())
        if variable is not None:
            return variable.value
        dataset_name, dot, field_name = name.partition(".")
        if dot:
            dataset = self.datasets.get(dataset_name.lower())
            if dataset is not None and dataset.has_field(field_name):
                try:
                    return dataset.field(field_name)
                except IndexError as exc:
                    raise ExpressionError(f"{name}: {exc}") from None
        raise KeyError(name)

    # -- state changed by steps ---------------------------------------------------------

    def set_variable(self, name: str, value: Value, *, create: bool = False) -> None:
        """Set ``name``; with ``create`` a missing variable is created, else it must exist."""
        key = name.lower()
        current = self.variables.get(key)
        if current is None:
            if not create:
                raise StepError(
                    f'variable "{name}" does not exist: create it first with '
                    f'<AMVARIABLE NAME="{name}" />'
                )
            self.variables[key] = Variable(name, value)
        elif current.readonly:
            raise StepError(f'variable "{current.name}" is read-only')
        else:
            current.value = value

    def store_dataset(self, step: Step, dataset: Dataset) -> None:
        """Keep a dataset a step produced (replacing one of the same name) and report it."""
        self.datasets[dataset.name.lower()] = dataset
        self.reporter.dataset(step, dataset)

    def warn_once(self, key: str, text: str) -> None:
        """Show a warning once per run for ``key`` (e.g. one per session)."""
        if key not in self.warned:
            self.warned.add(key)
            self.reporter.message(text, "warning")

    def close(self) -> None:
        self.sessions.close_all()


class Runner:
    """Walks steps: dispatch through the registry, report, and locate errors."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def run(self) -> None:
        """Run the whole task."""
        self.run_body(self.context.task.body)

    def run_body(self, steps: Iterable[Step]) -> None:
        """Run ``steps`` in order (a task body, a loop pass, an If branch)."""
        for step in steps:
            self.execute(step)

    def execute(self, step: Step) -> Any:
        """Run one step; any error leaves here with the step and position attached."""
        context = self.context
        spec = actions.find(step)
        start = context.options.clock()
        try:
            args = spec.bind(context, step)
            outcome = spec.handler(context, step, args)
        except AmlError as error:
            raise self.locate(error, step) from error.__cause__
        if not spec.block:
            seconds = context.options.clock() - start
            context.reporter.step(step, outcome if isinstance(outcome, str) else "ok", seconds)
        return outcome

    def locate(self, error: AmlError, step: Step) -> AmlError:
        """Attach the step, its position and source line to ``error`` (innermost wins)."""
        position = error.position or step.position
        source = self.context.task.source
        line = source.line(position.line) if position.file == source.name else None
        return error.located(position, step.label, line)

    def enter(self, block: Block, outcome: str) -> None:
        """Report a block's own line (condition result, loop size) before its body runs."""
        self.context.reporter.step(block, outcome, 0.0)

    def guard(self, block: Block, iterations: int) -> None:
        """Stop a runaway loop with a clear error."""
        limit = self.context.options.max_iterations
        if iterations > limit:
            raise StepError(
                f"the loop ran more than {limit:,} times and was stopped; if that is intended, "
                "raise the limit with --max-iterations",
                position=block.position,
            )

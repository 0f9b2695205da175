"""Running a task: one explicit :class:`Context` and a :class:`Runner` that walks the tree.

The context holds everything a run owns — variables, datasets, SES sessions, the redactor and
the reporter — and is passed to every step handler; there are no module globals, so two runs in
one process (tests, the Python API) never see each other's state.  The runner dispatches each
step through the action registry and attaches the step and its position to any error on the
way up.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import actions
from .datasets import Dataset
from .errors import AmlError, ExpressionError, StepError
from .expressions import Value
from .nodes import Block, Step, Task
from .onerror import UNAVAILABLE, ErrorPolicy, policy_of
from .redact import Redactor
from .sessions import Sessions
from .source import Position
from .vault import Vault

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

    def progress(self, block: Block, done: int, total: int | None) -> None:
        """A loop started pass ``done`` (of ``total`` when known)."""


class NullReporter:
    """Reports nothing: the default for the Python API."""

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        pass

    def dataset(self, step: Step, dataset: Dataset) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass

    def progress(self, block: Block, done: int, total: int | None) -> None:
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
    #: the AWS profile for steps that name no ACCESSKEY (``amlses run --profile``)
    profile: str | None = None
    #: decrypts ``amlses:v1:`` tokens; its key is looked up only when a task holds one
    vault: Vault = field(default_factory=Vault)


class BreakLoop(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a break step; the innermost loop catches it."""


class GotoLabel(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a goto step; the innermost body holding the label goes on from there."""

    def __init__(self, label: str, position: Position | None = None) -> None:
        super().__init__(label)
        self.label = label
        self.position = position


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
        #: the error of the last step that failed and was continued past (If - Last step)
        self.last_error: AmlError | None = None
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

    def store_error(self, step: Step, error: AmlError, task: Task) -> None:
        """Fill the ``AMError`` dataset (one row) for a failed step, secrets masked."""
        fields: dict[str, Value] = {
            "ErrorDesc": self.redactor(error.message),
            "ErrorNumber": error.code,
            "StepNumber": _step_number(task, step),
            "StepText": self.redactor(step.echo()),
            "TagLine": step.position.line,
            "TaskName": os.path.basename(task.source.name),
            "ParentTaskName": os.path.basename(self.task.source.name)
            if task is not self.task
            else "",
            "FunctionName": step.activity or step.name,
            "IPAddress": "127.0.0.1",
            "MachineName": platform.node(),
        }
        self.datasets["amerror"] = Dataset("AMError", tuple(fields), [tuple(fields.values())])

    def run_subtask(self, path: str, step: Step) -> None:
        """Run another task file (relative to the current task) with this context's state."""
        from .api import load, prepare

        base = os.path.dirname(self.runner.task.source.name)
        full = path if os.path.isabs(path) else os.path.join(base, path)
        task, _ = prepare(load(full), full, self.variables)
        parent = self.runner
        self.runner = Runner(self, task)
        try:
            self.runner.run()
        finally:
            self.runner = parent

    def close(self) -> None:
        self.sessions.close_all()


def _step_number(task: Task, step: Step) -> int:
    for number, candidate in enumerate(task.walk(), start=1):
        if candidate is step:
            return number
    return 0


class Runner:
    """Walks steps: dispatch through the registry, apply each step's error policy, report,
    and locate errors.  One runner per task file (a subtask gets its own, sharing the context).
    """

    def __init__(self, context: Context, task: Task | None = None) -> None:
        self.context = context
        self.task = task or context.task
        self._labels: dict[int, tuple[tuple[Step, ...], dict[str, int]]] = {}
        self._jumps = 0

    def run(self) -> None:
        """Run the whole task; a goto to a label no body holds is an error."""
        try:
            self.run_body(self.task.body)
        except GotoLabel as jump:
            raise StepError(
                f'label "{jump.label}" does not exist', position=jump.position
            ) from None

    def run_body(self, steps: tuple[Step, ...]) -> None:
        """Run ``steps`` in order (a task body, a loop pass, an If branch).

        A goto is an exception carrying the label; the innermost body that holds the label
        catches it and goes on from there, so a jump can leave loops and ifs but never enter
        one (Automate's own rule is not documented; this is the safe reading).
        """
        index = 0
        while index < len(steps):
            try:
                self.execute(steps[index])
                index += 1
            except GotoLabel as jump:
                target = self._label_index(steps).get(jump.label.lower())
                if target is None:
                    raise
                self._jumps += 1
                if self._jumps > self.context.options.max_iterations:
                    raise StepError(
                        f"more than {self.context.options.max_iterations:,} jumps to labels: "
                        "the task seems to loop forever; raise --max-iterations if intended",
                        position=jump.position,
                    ) from None
                index = target + 1

    def _label_index(self, steps: tuple[Step, ...]) -> dict[str, int]:
        cached = self._labels.get(id(steps))
        if cached is None or cached[0] is not steps:
            labels = {
                step.value("LABELNAME", step.value("LABEL")).lower(): i
                for i, step in enumerate(steps)
                if step.name == "AMLABEL" and step.activity in ("", "create")
            }
            cached = self._labels[id(steps)] = (steps, labels)
        return cached[1]

    def execute(self, step: Step) -> Any:
        """Run one step under its error policy; an error leaves located, at most once handled."""
        context = self.context
        spec = actions.find(step)
        start = context.options.clock()
        try:
            policy = policy_of(step, context)
        except AmlError as error:
            raise self.locate(error, step) from None
        attempt = 0
        while True:
            try:
                outcome = self._attempt(spec, step, policy)
                break
            except AmlError as error:
                if error.handled:
                    raise
                self.locate(error, step)
                if not policy.counts(error):
                    context.reporter.message(
                        f"{step.position}: {step.label}: ignored {error.code} (not in AM_ERRORS)",
                        "warning",
                    )
                    outcome = f"ignored {error.code}"
                    break
                if attempt < policy.retries:
                    attempt += 1
                    context.reporter.message(
                        f"{step.position}: {step.label}: {error.code}; retry {attempt} of "
                        f"{policy.retries}",
                        "warning",
                    )
                    context.options.sleep(policy.retry_delay)
                    continue
                return self._failed(step, error, policy, context.options.clock() - start)
        context.last_error = None
        if not spec.block:
            seconds = context.options.clock() - start
            context.reporter.step(step, outcome if isinstance(outcome, str) else "ok", seconds)
        return outcome

    def _attempt(self, spec: Any, step: Step, policy: ErrorPolicy) -> Any:
        context = self.context
        if policy.timeout is None or spec.block:
            return spec.handler(context, step, spec.bind(context, step))
        return run_with_timeout(
            lambda: spec.handler(context, step, spec.bind(context, step)), policy.timeout
        )

    def _failed(self, step: Step, error: AmlError, policy: ErrorPolicy, seconds: float) -> Any:
        """Carry out the On Error choices; re-raise (handled) unless the task goes on."""
        context = self.context
        context.last_error = error
        context.store_error(step, error, self.task)
        if policy.set_variable is not None:
            name, value = policy.set_variable
            context.set_variable(name, value, create=True)
        for name in policy.unavailable:
            context.warn_once(
                f"unavailable:{name}",
                f"{step.position}: {name} is accepted but not available in amlses: it would "
                f"{UNAVAILABLE[name]}",
            )
        if policy.run_task:
            context.run_subtask(policy.run_task, step)
        error.handled = True
        if policy.action == "stop":
            raise error
        context.failed_steps.append(error)
        context.reporter.step(step, f"FAILED {error.code}: {error.message}", seconds)
        if policy.action == "break":
            raise BreakLoop()
        if policy.action == "goto":
            raise GotoLabel(policy.label, step.position)
        return None

    def locate(self, error: AmlError, step: Step) -> AmlError:
        """Attach the step, its position and source line to ``error`` (innermost wins)."""
        position = error.position or step.position
        source = self.task.source
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


def run_with_timeout(action: Callable[[], Any], seconds: float) -> Any:
    """Run ``action``; a StepError (code Timeout) when it takes longer than ``seconds``.

    The action runs on a daemon thread that is left to finish on its own: a botocore call
    cannot be interrupted safely, and the task must not wait for it (AM_TIMEOUT's meaning).
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # noqa: BLE001 (handed back to the caller below)
            failure.append(exc)

    worker = threading.Thread(target=target, daemon=True, name="amlses-step")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        error = StepError(f"the step ran longer than AM_TIMEOUT ({seconds:g} s) and was abandoned")
        error.code = "Timeout"
        raise error
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None

"""What one run owns: the :class:`Context` every step handler receives, and the run's settings.

The context holds the variables, datasets, SES sessions, the redactor and the reporter; there are
no module globals, so two runs in one process (tests, the Python API) never see each other's
state.  It sits below the action handlers and the runner: handlers reach the runner only through
the :class:`StepRunner` protocol (``context.runner``), which the runner in
:mod:`amlses.runtime.runner` fills in while it runs, so nothing here imports upward.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import AmlError, ExpressionError, StepError
from ..files import PathMap, UnmappedPathError, resolve_task_path
from ..redact import Redactor
from ..values import Value, to_text
from ..vault import Vault
from .datasets import Dataset
from .sessions import Sessions

if TYPE_CHECKING:
    from ..aws.clients import ClientCache
    from ..lang.nodes import Block, Step, Task
    from ..mail.bulk import BulkProgress
    from ..smtp.target import LocalSmtpTarget
    from ..source import Position

DEFAULT_MAX_ITERATIONS = 1_000_000
#: how deep subtasks may nest (A runs B runs C …) before the run is stopped as a recursion
MAX_SUBTASK_DEPTH = 32


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


class _TrackingReporter:
    """Forwards to the run's reporter, remembering each running loop's pass: an interrupt can
    then say "pass 418 of 100000" without the loops knowing about interrupts."""

    def __init__(self, inner: Reporter, passes: dict[int, tuple[Block, int, int | None]]) -> None:
        self.inner = inner
        self._passes = passes

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        self.inner.step(step, outcome, seconds)

    def dataset(self, step: Step, dataset: Dataset) -> None:
        self.inner.dataset(step, dataset)

    def message(self, text: str, level: str = "info") -> None:
        self.inner.message(text, level)

    def progress(self, block: Block, done: int, total: int | None) -> None:
        self._passes[id(block)] = (block, done, total)
        self.inner.progress(block, done, total)


class StepRunner(Protocol):
    """What block and flow handlers may ask of the runner that is executing them.

    ``task`` is the task file being run (a subtask's own, inside a subtask), so paths and
    error lines refer to the file the step stands in.
    """

    task: Task

    def run_body(self, steps: tuple[Step, ...]) -> None:
        """Run steps in order (a loop pass, an If branch)."""

    def enter(self, block: Block, outcome: str) -> None:
        """Report a block's own line before its body runs."""

    def guard(self, block: Block, iterations: int) -> None:
        """Stop a runaway loop."""

    def locate(self, error: AmlError, step: Step) -> AmlError:
        """Attach the step, its position and source line to ``error``."""

    def run_subtask(self, path: str, step: Step) -> None:
        """Run another task file with this run's state."""


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
    #: where Windows paths written in tasks (``C:\…``, ``\\server\share\…``) are here
    #: (``amlses run --map-path``); empty: such a path fails its step, naming the option
    path_map: PathMap = field(default_factory=PathMap)
    #: whether bulk sends keep a journal (resume, nothing sent twice across runs), and where
    #: (``--journal-dir``; None: ``AMLSES_JOURNAL_DIR``, else the user's state folder)
    journal: bool = True
    journal_dir: str | None = None
    #: resend the recipients a journal has in doubt (``--resend-unknown``): may mail them twice
    resend_unknown: bool = False
    #: the command that runs this task again, for "to resume, run …" (the CLI sets it)
    resume_command: str | None = None
    #: told where a bulk send is while it runs, about twice a second (the CLI's progress
    #: line): the step's position and the counts, then None when the send ended
    bulk_progress: Callable[[str, BulkProgress | None], None] | None = None
    #: with ``force_endpoint_url`` (``--local``): where SMTP steps (an SMTP SERVICEURL,
    #: <AMEMAIL>/<AMSENDEMAIL>) go instead of their real host — called at the first such
    #: step, it waits for the local SES SMTP endpoint and says where it is; None: refused
    local_smtp: Callable[[], LocalSmtpTarget] | None = None


class Context:
    """Everything one run owns.  It is also the :class:`~amlses.expr.Scope` for ``%…%``."""

    def __init__(
        self,
        task: Task,
        *,
        options: RunOptions | None = None,
        reporter: Reporter | None = None,
        redactor: Redactor | None = None,
        cache: ClientCache | None = None,
        secret_variables: frozenset[str] = frozenset(),
    ) -> None:
        if cache is None:
            from ..aws.clients import ClientCache  # botocore: only when a run starts

            cache = ClientCache()
        self.task = task
        self.options = options or RunOptions()
        #: the loops running now, innermost last: (loop, pass, total), for "interrupted at"
        self.passes: dict[int, tuple[Block, int, int | None]] = {}
        #: the step running now (innermost), and the task file it stands in
        self.current: tuple[Step, Task] | None = None
        #: set when the running step is abandoned (AM_TIMEOUT): sends start no new request
        self.cancel: threading.Event | None = None
        self.reporter: Reporter = _TrackingReporter(reporter or NullReporter(), self.passes)
        self.redactor = redactor or Redactor()
        self.variables: dict[str, Variable] = {}
        self.datasets: dict[str, Dataset] = {}
        self.sessions = Sessions(cache)
        self._runner: StepRunner | None = None
        #: files of the subtasks running now, outermost first (for the recursion limit)
        self.subtask_chain: list[str] = []
        self.failed_steps: list[AmlError] = []
        #: the error of the last step that failed and was continued past (If - Last step)
        self.last_error: AmlError | None = None
        #: per-step memory of what a bulk send already delivered, for its AM_RETRY attempts
        #: (the runner forgets it whenever the step starts anew)
        self.deliveries: dict[int, tuple[Step, dict[str, Any]]] = {}
        self.warned: set[str] = set()
        #: lower-cased names of variables a step uses as a secret (``SECRETKEY="%pw%"``):
        #: every value they take is masked from then on (the loader finds them before the run)
        self.secret_variables: set[str] = set(secret_variables)
        #: Automate ciphertexts resolved by access key id, so a loop reads credential files once
        self.resolved_secrets: dict[tuple[str, str], str] = {}
        #: per-step caches, keyed by id(step) with the step kept to rule out a reused id
        self.plans: dict[int, tuple[Step, Any]] = {}
        self.connections: dict[tuple[object, ...], Any] = {}
        self._closers: list[Callable[[], None]] = []
        for name, value in self.options.variables.items():
            self.set_variable(name, value, create=True)

    @property
    def runner(self) -> StepRunner:
        """The runner executing the current task file (a subtask's, inside a subtask)."""
        if self._runner is None:
            raise RuntimeError("the context is not being run: use amlses.runtime.runner.run")
        return self._runner

    def swap_runner(self, runner: StepRunner | None) -> StepRunner | None:
        """Make ``runner`` the current one (a subtask's while it runs); returns the previous."""
        previous, self._runner = self._runner, runner
        return previous

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
        """Set ``name``; with ``create`` a missing variable is created, else it must exist.

        A variable that some step uses as a secret has its value masked before it is stored,
        so the step line that set it already shows ``****``.
        """
        key = name.lower()
        if key in self.secret_variables:
            self.redactor.add(to_text(value))
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

    def define_variable(self, name: str, value: Value, *, readonly: bool = False) -> None:
        """Create ``name`` afresh (replacing one of the same name), masked if it is a secret."""
        key = name.lower()
        if key in self.secret_variables:
            self.redactor.add(to_text(value))
        self.variables[key] = Variable(name, value, readonly)

    def resolved_secret(self, access_key: str, ciphertext: str) -> str:
        """What an Automate-encrypted secret stands for, looked up by access key id once per
        run (spec ``ses-action.md`` §4.9): a loop must not re-read the credential files."""
        key = (access_key, ciphertext)
        if key not in self.resolved_secrets:
            from ..aws.credentials import resolve_secret  # reads the AWS credential files

            self.resolved_secrets[key] = resolve_secret(access_key, ciphertext)
        return self.resolved_secrets[key]

    def store_dataset(self, step: Step, dataset: Dataset) -> None:
        """Keep a dataset a step produced (replacing one of the same name) and report it."""
        self.datasets[dataset.name.lower()] = dataset
        self.reporter.dataset(step, dataset)

    def warn_once(self, key: str, text: str) -> None:
        """Show a warning once per run for ``key`` (e.g. one per session)."""
        if key not in self.warned:
            self.warned.add(key)
            self.reporter.message(text, "warning")

    def resolve_path(self, path: str) -> str:
        """A file path written in the running task, as a path to open here: relative to the
        folder of the task file that is *running* (a subtask's own, not the root task's),
        backslashes read as folder separators, Windows drive and UNC paths mapped with the
        run's :attr:`RunOptions.path_map` (:func:`amlses.files.resolve_task_path`).

        An unmapped Windows path fails the step (a :class:`StepError`, so ``AM_ONERROR``
        applies) rather than naming a file ``C:\\Temp\\x.log`` in the current folder.
        """
        try:
            return resolve_task_path(path, self._running_task.source.name, self.options.path_map)
        except UnmappedPathError as exc:
            raise StepError(exc.message) from None

    def task_file(self) -> str:
        """The task file that is running (a subtask's own), as one spelling: absolute, links
        resolved, case folded where the file system ignores case — so the journal knows a
        task however it was named on the command line."""
        return os.path.normcase(os.path.realpath(self._running_task.source.name))

    @property
    def _running_task(self) -> Task:
        """The task file whose steps run now: a subtask's while it runs, else the root task."""
        return self._runner.task if self._runner is not None else self.task

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

    def where(self) -> tuple[str, Position | None]:
        """Where the run is — ``task.aml:12 (pass 418 of 100000)`` and the step's position —
        for an interrupt: the step running now and the pass of the innermost loop."""
        if self.current is None:
            return self.task.source.name, None
        step, task = self.current
        text = f"{task.source.name}:{step.position.line}"
        if self.passes:
            _, done, total = next(reversed(self.passes.values()))
            text += f" (pass {done:,}" + (f" of {total:,})" if total is not None else ")")
        return text, step.position

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the run ends (:meth:`close`): for what a handler opened that
        must not outlive the run, such as an Email session's SMTP connection."""
        self._closers.append(callback)

    def close(self) -> None:
        """End the run's sessions and run the close callbacks, newest first; one that fails
        does not keep the others from running."""
        self.sessions.close_all()
        closers, self._closers = self._closers, []
        for callback in reversed(closers):
            try:
                callback()
            except Exception:  # noqa: BLE001, S110 (closing: nothing left to tell the task)
                pass


def _step_number(task: Task, step: Step) -> int:
    for number, candidate in enumerate(task.walk(), start=1):
        if candidate is step:
            return number
    return 0

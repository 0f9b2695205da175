"""The :class:`Runner`: walks a task's steps, dispatching each through the action registry.

It applies each step's error policy (``AM_RETRY``, ``AM_ONERROR`` …), reports every step, and
attaches the step and its position to any error on the way up.  Subtasks go through the same
:mod:`amlses.loader` as the root task — parse, check, secrets, tokens, ciphertexts — so a child
task is masked and checked exactly like its parent; they share the parent's context and nest at
most :data:`~amlses.runtime.context.MAX_SUBTASK_DEPTH` deep.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import actions
from ..errors import AmlError, BreakLoop, GotoLabel, StepError, UnknownOutcome, UsageError
from ..lang.nodes import Block, Step, Task
from ..loader import load_subtask
from .context import MAX_SUBTASK_DEPTH, Context
from .onerror import UNAVAILABLE, ErrorPolicy, policy_of

if TYPE_CHECKING:
    from ..actions.spec import Activity


def run(context: Context) -> None:
    """Run the context's task from its first step to its last (or to a stop)."""
    Runner(context).run()


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
        """Run the whole task as ``context.runner``; a goto to a label no body holds is an
        error.  The previous runner (the parent task's) is put back afterwards."""
        parent = self.context.swap_runner(self)
        try:
            self.run_body(self.task.body)
        except GotoLabel as jump:
            raise StepError(
                f'label "{jump.label}" does not exist', position=jump.position
            ) from None
        finally:
            self.context.swap_runner(parent)

    def run_subtask(self, path: str, step: Step) -> None:
        """Run another task file, found from this task's folder, with this run's state.

        The file is prepared by the same loader as the root task.  Subtasks nest at most
        :data:`MAX_SUBTASK_DEPTH` deep; a task that starts itself again, directly or through
        others, is stopped before it starts, naming the chain of files.
        """
        context = self.context
        full = context.resolve_path(path)
        chain = [context.task.source.name, *context.subtask_chain]
        key = os.path.realpath(full)
        if key in {os.path.realpath(name) for name in chain}:
            raise StepError("the subtask would run itself again: " + " -> ".join([*chain, full]))
        if len(context.subtask_chain) >= MAX_SUBTASK_DEPTH:
            raise StepError(
                f"subtasks are nested more than {MAX_SUBTASK_DEPTH} deep: "
                + " -> ".join([*chain, full])
            )
        try:
            task = load_subtask(full, context)
        except UsageError as exc:
            raise StepError(f"subtask {exc.message}") from None
        context.subtask_chain.append(full)
        try:
            Runner(context, task).run()
        finally:
            context.subtask_chain.pop()

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
            labels: dict[str, int] = {}
            for i, step in enumerate(steps):
                label = actions.label_defined(step)
                if label is not None:
                    labels[label.lower()] = i
            cached = self._labels[id(steps)] = (steps, labels)
        return cached[1]

    def execute(self, step: Step) -> Any:
        """Run one step under its error policy; an error leaves located, at most once handled."""
        context = self.context
        spec = actions.find(step)
        start = context.options.clock()
        context.current = (step, self.task)
        try:
            policy = policy_of(step, context)
        except AmlError as error:
            raise self.locate(error, step) from None
        attempt = 0
        context.deliveries.pop(id(step), None)  # what a bulk step sent counts within its retries
        while True:
            try:
                outcome = self._attempt(spec, step, policy)
                break
            except KeyboardInterrupt as interrupt:
                _remember_where(interrupt, context)
                raise
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
                if attempt < policy.retries and isinstance(error, UnknownOutcome):
                    context.reporter.message(
                        f"{step.position}: {step.label}: Unknown; not retried: SES may already "
                        "have accepted the message (AM_RETRY repeats only sends SES refused)",
                        "warning",
                    )
                elif attempt < policy.retries:
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

    def _attempt(self, spec: Activity, step: Step, policy: ErrorPolicy) -> Any:
        context = self.context
        if spec.block:
            try:
                return spec.handler(context, step, spec.bind(context, step))
            except KeyboardInterrupt as interrupt:
                _remember_where(interrupt, context)
                raise
            finally:  # the loop is over (or left): it no longer counts for "interrupted at"
                context.passes.pop(id(step), None)
                context.current = (step, self.task)
        if policy.timeout is None:
            return spec.handler(context, step, spec.bind(context, step))
        # A send abandoned by AM_TIMEOUT must stop for real: its handler hands this event to
        # the sending code, which starts no new request once it is set.
        context.cancel = cancel = threading.Event()
        try:
            return run_with_timeout(
                lambda: spec.handler(context, step, spec.bind(context, step)),
                policy.timeout,
                sends=spec.sends,
                cancel=cancel,
            )
        finally:
            context.cancel = None

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
            try:
                self.run_subtask(policy.run_task, step)
            except AmlError as task_error:  # the step's own policy still decides what follows
                context.reporter.message(
                    f"{step.position}: {step.label}: AM_RUNTASK {policy.run_task} failed: "
                    f"{task_error.message}",
                    "warning",
                )
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


def _remember_where(interrupt: KeyboardInterrupt, context: Context) -> None:
    """Note on an interrupt where the run was, the first time a step or loop sees it — before
    the loops it leaves on the way up forget their passes (``interrupted at …``)."""
    if not hasattr(interrupt, "amlses_where"):
        interrupt.amlses_where = context.where()  # type: ignore[attr-defined]


def run_with_timeout(
    action: Callable[[], Any],
    seconds: float,
    *,
    sends: bool = False,
    cancel: threading.Event | None = None,
) -> Any:
    """Run ``action``; a StepError (code Timeout) when it takes longer than ``seconds``.

    The action runs on a daemon thread that is left to finish on its own: a botocore call
    cannot be interrupted safely, and the task must not wait for it (AM_TIMEOUT's meaning).
    ``cancel`` is set then, so a send starts no new request (the one in flight may still be
    accepted).  A step that ``sends`` may thus still deliver its message, so its timeout is
    an :class:`~amlses.errors.UnknownOutcome`, which ``AM_RETRY`` does not repeat.
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
        if cancel is not None:
            cancel.set()
        if sends:
            raise UnknownOutcome(
                f"the send ran longer than AM_TIMEOUT ({seconds:g} s) and was abandoned; it "
                "may still be delivered, so it is not sent again"
            )
        error = StepError(f"the step ran longer than AM_TIMEOUT ({seconds:g} s) and was abandoned")
        error.code = "Timeout"
        raise error
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None

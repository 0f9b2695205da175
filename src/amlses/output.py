"""Human-readable rendering of a run, over injected streams.

Every line passes through the run's :class:`~amlses.redact.Redactor` on its way out, so no
secret reaches the terminal even if a message or a dataset happens to contain one.  Tables are
drawn by :mod:`amlses.tables`, not rich, whose import alone cost a run ~40 ms.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from .actions import describe
from .files import terminal_safe
from .lang.nodes import Block
from .redact import Redactor
from .tables import render_table
from .values import to_text

if TYPE_CHECKING:
    from .api import RunResult
    from .errors import AmlError, Problem
    from .lang.nodes import Step, Task
    from .runtime.datasets import Dataset

MAX_TABLE_ROWS = 50
#: step records ``--json`` keeps: the last ones; the rest are only counted, so a run's memory
#: does not grow with the number of steps it executes
MAX_RECORDED_STEPS = 1000
#: messages (dialogs, log lines, warnings) ``--json`` keeps: the last ones, counted as steps are,
#: since a loop that shows a dialog on every pass would otherwise grow the document without end
MAX_RECORDED_MESSAGES = 1000
PROGRESS_AFTER = 1.0  # seconds a loop runs before its progress is shown


class HumanReporter:
    """One line per executed step and a table per produced dataset, on ``out``.

    Warnings and messages go to ``err`` so that stdout stays the run's record.
    """

    def __init__(
        self,
        out: IO[str],
        err: IO[str],
        redactor: Redactor,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.err = err
        self.redact = redactor
        self.quiet = quiet
        self._pending: list[Dataset] = []
        self._loops: dict[int, tuple[float, float]] = {}
        self.clock = clock

    def show(self, text: str) -> str:
        """``text`` as it may reach the terminal: secrets masked, control characters escaped."""
        return terminal_safe(self.redact(text))

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        if self.quiet:
            return
        line = f"{step.position.line:>5}  {describe(step):<30} {outcome}"
        if not isinstance(step, Block):
            line = f"{line}  ({seconds * 1000:.0f} ms)"
        self.out.write(self.show(line) + "\n")
        pending, self._pending = self._pending, []
        for dataset in pending:
            self._table(dataset)

    def dataset(self, step: Step, dataset: Dataset) -> None:
        """Queue the table: it is drawn under the line of the step that produced it."""
        if not self.quiet:
            self._pending.append(dataset)

    def _table(self, dataset: Dataset) -> None:
        title = f"{dataset.name}: {len(dataset)} row{'s' if len(dataset) != 1 else ''}"
        rows = [
            [self.show(to_text(value)) for value in row] for row in dataset.rows[:MAX_TABLE_ROWS]
        ]
        columns = [self.show(column) for column in dataset.columns]
        self.out.write(render_table(self.show(title), columns, rows) + "\n")
        if len(dataset) > MAX_TABLE_ROWS:
            self.out.write(f"       … {len(dataset) - MAX_TABLE_ROWS} more rows not shown\n")

    def progress(self, block: Block, done: int, total: int | None) -> None:
        """Show "row n of N" on stderr for a loop running longer than a second, once a second.

        Short loops print nothing, so ordinary runs stay quiet; a long bulk loop shows that it
        is alive and how far it got.
        """
        if self.quiet:
            return
        now = self.clock()
        key = id(block)
        started, last = self._loops.get(key, (now, now))
        if done <= 1:
            started = last = now
        self._loops[key] = (started, last)
        if now - started >= PROGRESS_AFTER and now - last >= PROGRESS_AFTER:
            self._loops[key] = (started, now)
            of = f" of {total}" if total is not None else ""
            self.err.write(
                f"{block.position.line:>5}  {describe(block)}: pass {done}{of} "
                f"({now - started:.0f} s)\n"
            )

    def message(self, text: str, level: str = "info") -> None:
        """``info`` to stdout; ``warning``/``error`` to stderr, prefixed; ``problem`` (a
        rendered check finding, which names its own severity) to stderr as is."""
        stream = self.out if level == "info" else self.err
        stream.write(self.message_text(text, level) + "\n")

    def message_text(self, text: str, level: str) -> str:
        """A message as it is shown: prefixed with its level (but ``info``, and ``problem``,
        which names its own severity), secrets masked, control characters escaped."""
        prefix = "" if level in ("info", "problem") else f"{level}: "
        return self.show(prefix + text)


#: the head of a rendered :class:`~amlses.errors.Problem`: ``file:line:column: severity: ``
_PROBLEM_HEAD = re.compile(r"^.*?:(?P<line>\d+):\d+: (?P<severity>error|warning|note): ")


class RecordingReporter:
    """Forwards to another reporter and records the last :data:`MAX_RECORDED_STEPS` step
    lines and the last :data:`MAX_RECORDED_MESSAGES` messages, for ``--json``; ``count`` and
    ``message_count`` say how many there were in all.

    Messages are not forwarded: under ``--json`` stdout holds the document alone, so a dialog
    that a plain run prints on stdout goes into the document instead, and to ``inner.err`` as
    one line, for a person watching the run.
    """

    def __init__(
        self,
        inner: HumanReporter,
        limit: int = MAX_RECORDED_STEPS,
        message_limit: int = MAX_RECORDED_MESSAGES,
    ) -> None:
        self.inner = inner
        self.steps: deque[dict[str, object]] = deque(maxlen=limit)
        self.count = 0
        self.messages: deque[dict[str, object]] = deque(maxlen=message_limit)
        self.message_count = 0

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        self.count += 1
        self.steps.append(
            {
                "line": step.position.line,
                "step": describe(step),
                "outcome": self.inner.redact(outcome),
                "seconds": round(seconds, 6),
            }
        )
        self.inner.step(step, outcome, seconds)

    def dataset(self, step: Step, dataset: Dataset) -> None:
        self.inner.dataset(step, dataset)

    def message(self, text: str, level: str = "info") -> None:
        """Record the message (masked now: the document is masked again when it is written,
        but a deque entry should not hold a secret in the meantime) and show it on stderr, its
        newlines written as ``\\n`` so that each message is one line there."""
        self.message_count += 1
        record: dict[str, object] = {"level": level, "text": self.inner.redact(text)}
        found = _PROBLEM_HEAD.match(text) if level == "problem" else None
        if found is not None:
            # A check finding arrives rendered (the Reporter protocol carries no position):
            # its head gives the document the finding's own severity and line back.
            record = {"level": found["severity"], "text": record["text"]}
            record["line"] = int(found["line"])
        self.messages.append(record)
        shown = self.inner.message_text(text.rstrip(), level).replace("\n", "\\n")
        self.inner.err.write(shown + "\n")

    def progress(self, block: Block, done: int, total: int | None) -> None:
        self.inner.progress(block, done, total)


def _plain(value: object) -> object:
    """A JSON-safe form of an AML value (dates as ISO 8601 text)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return to_text(value)  # type: ignore[arg-type]


def error_json(error: AmlError) -> dict[str, object]:
    position = error.position
    return {
        "code": error.code,
        "message": error.message,
        "file": position.file if position else None,
        "line": position.line if position else None,
        "step": error.step,
    }


def task_json(task: Task | None) -> dict[str, object] | None:
    """What the task file says about itself: a saved task's header (``TASKVERSION`` …) and
    its functions; None for a bare step list or when the task is not known."""
    if task is None or not (task.header or task.functions):
        return None
    return {
        "header": dict(task.header),
        "functions": [function.name for function in task.functions],
        "runs": next((function.name for function in task.functions if function.runs), None),
    }


def result_json(
    result: RunResult,
    recorded: RecordingReporter,
    redactor: Redactor,
    task: Task | None = None,
    outbox: list[dict[str, object]] | None = None,
) -> str:
    """The machine-readable result of a run, secrets masked (``amlses run --json``).

    ``steps`` holds the last :data:`MAX_RECORDED_STEPS` steps; ``step_count`` counts them all;
    ``messages`` and ``message_count`` do the same for the run's dialogs, log lines and
    warnings.  ``task`` is the saved task's header and functions (:func:`task_json`) when
    ``task`` is given and was saved by the Task Builder.  ``outbox`` (``--local`` runs: what
    the emulator accepted, as :meth:`~amlses.emulator.OutboxMessage.to_dict`) is included
    when given, even empty, so that "sent nothing" is told apart from "not a local run".
    """
    document: dict[str, object] = {"status": result.status}
    header = task_json(task)
    if header is not None:
        document["task"] = header
    document |= {
        "error": error_json(result.error) if result.error is not None else None,
        "failed_steps": [error_json(error) for error in result.failed_steps],
        "step_count": recorded.count,
        "steps": list(recorded.steps),
        "message_count": recorded.message_count,
        "messages": list(recorded.messages),
        "variables": {name: _plain(value) for name, value in result.variables.items()},
        "datasets": {
            name: {
                "columns": list(dataset.columns),
                "rows": [[_plain(v) for v in row] for row in dataset.rows],
            }
            for name, dataset in result.datasets.items()
        },
    }
    if outbox is not None:
        document["outbox"] = outbox
    return _dumps(document, redactor)


def _dumps(document: dict[str, object], redactor: Redactor) -> str:
    """One JSON document as ``--json`` prints it: indented, and masked as a whole text, the
    last net for a secret in any value (the redactor knows the JSON-escaped forms too)."""
    return redactor(json.dumps(document, indent=2, ensure_ascii=False))


def problem_json(problem: Problem, code: str) -> dict[str, object]:
    """One finding of an invalid task, for ``--json``.  ``code`` is the code of the error
    that carried it (``SyntaxError``, ``TaskError``), used unless the finding has its own."""
    position = problem.position
    return {
        "file": position.file if position else None,
        "line": position.line if position else None,
        "column": position.column if position else None,
        "severity": problem.severity,
        "code": getattr(problem, "code", None) or code,
        "message": problem.message,
        "step": problem.step,
    }


def failure_json(
    error: BaseException, redactor: Redactor, *, task: str | None = None, text: str = ""
) -> str:
    """The ``--json`` document of a run that never produced a result, so that stdout still
    holds exactly one document, whatever went wrong (secrets masked).

    * an invalid task (:class:`~amlses.errors.TaskError`): ``status`` ``invalid`` and every
      finding in ``problems`` (:func:`problem_json`);
    * any other error with the exit code of an invalid task (a usage error, an unreadable
      task file): ``invalid`` with one problem, in the file given (``task``);
    * an interrupt before the task ran: ``interrupted`` with the ``error``;
    * anything else — an internal error (``text`` is its paragraph), an emulator or fixture
      that failed: ``error`` with the ``error``.
    """
    from .errors import EXIT_INVALID, AmlError, Interrupted, TaskError

    document: dict[str, object]
    if isinstance(error, TaskError):
        problems = [problem_json(problem, error.code) for problem in error.problems]
        document = {"status": "invalid", "problems": problems}
    elif isinstance(error, AmlError) and error.exit_code == EXIT_INVALID:
        position = error.position
        problem = {
            "file": position.file if position else task,
            "line": position.line if position else None,
            "column": position.column if position else None,
            "severity": "error",
            "code": error.code,
            "message": error.message,
            "step": error.step,
        }
        document = {"status": "invalid", "problems": [problem]}
    elif isinstance(error, AmlError):
        status = "interrupted" if isinstance(error, Interrupted) else "error"
        document = {"status": status, "error": error_json(error)}
    else:
        internal = {
            "code": "InternalError",
            "message": text or f"{type(error).__name__}: {error}",
            "file": None,
            "line": None,
            "step": None,
        }
        document = {"status": "error", "error": internal}
    return _dumps(document, redactor)


def failure_summary(result: RunResult) -> str | None:
    """One line naming the steps that failed and were continued past, or None."""
    if not result.failed_steps:
        return None
    places = ", ".join(
        f"line {e.position.line} ({e.code})" if e.position else e.code for e in result.failed_steps
    )
    count = len(result.failed_steps)
    return f"{count} step{'s' if count != 1 else ''} failed and the task went on: {places}"

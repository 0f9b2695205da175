"""Every error amlses raises, and the exit code each one maps to.

The hierarchy::

    AmlError                    anything a user can act on; never shown as a traceback
    ├── UsageError              bad command-line use                          exit 2
    ├── TaskError               the task is invalid (``check`` found errors)  exit 2
    │   └── AmlSyntaxError      the task text cannot be read
    └── StepError               a step failed while running                   exit 1
        ├── ExpressionError     a ``%…%`` or condition could not be evaluated
        ├── SessionError        an SES session was misused (unknown, ended, reopened)
        ├── AwsError            AWS answered with an error (code, message, request id)
        └── UnknownOutcome      a send whose outcome is unknown: SES may have accepted it
                                (code ``Unknown``); never sent again automatically

    Interrupted                 the run was stopped by Ctrl-C or SIGTERM      exit 130 / 143

    BreakLoop, GotoLabel, StopTask   control-flow signals (not errors): raised by steps deep in
                                     the tree, caught by the loop, body or run that owns them
    Signalled (KeyboardInterrupt)    SIGTERM delivered as an interrupt, with its number

Each error renders as one paragraph: ``file:line: <ELEMENT ACTIVITY="…">: message``, followed by
the source line when it is known.  Rendering goes through :mod:`amlses.redact`, so a secret that
slipped into a message is masked at the last moment as well.

The loop and jump signals live here, at the bottom, as Robot Framework keeps ``BreakLoop`` in
``robot/errors.py``: the handlers that raise them and the runner that catches them both import
downward, so neither needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .secrets import mask_secret_attributes
from .source import Position

#: the widest source line an error echoes (the vendor samples stay under it); a longer one is
#: cut around the column it points at
ECHO_WIDTH = 160

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_INVALID = 2


class AmlError(Exception):
    """Base of every error amlses reports to a user.

    ``position`` points into the task file, ``step`` names the step (``<AMAWSSES
    ACTIVITY="verify_identity">``) and ``source_line`` is the line's text, shown under the
    message.  All are optional so that API users can raise errors without a task file.
    """

    exit_code = EXIT_TASK_FAILED
    #: a short machine-readable code, used by ``AM_ERRORS`` and the ``AMError`` dataset
    code = "AmlError"

    def __init__(
        self,
        message: str,
        *,
        position: Position | None = None,
        step: str | None = None,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: set once a step's On Error policy has dealt with it, so outer blocks pass it on
        self.handled = False
        self.position = position
        self.step = step
        self.source_line = source_line

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only constructor arguments need this to survive pickling.
        return (_rebuild, (type(self), self.__dict__))

    def located(
        self,
        position: Position | None,
        step: str | None = None,
        source_line: str | None = None,
    ) -> AmlError:
        """Fill in where the error happened, keeping what is already known (innermost wins)."""
        if self.position is None:
            self.position = position
        if self.step is None:
            self.step = step
        if self.source_line is None:
            self.source_line = source_line
        return self

    def render(self) -> str:
        """The one-paragraph text shown to a user (not yet redacted)."""
        head = f"{self.position}: " if self.position else ""
        step = f"{self.step}: " if self.step else ""
        text = f"{head}{step}{self.message}"
        if self.source_line is not None and self.source_line.strip():
            column = self.position.column if self.position else 1
            text += f"\n    {echo_line(self.source_line, column)}"
        return text

    def __str__(self) -> str:
        return self.render()


def failure_text(error: BaseException, what: str = "the command") -> tuple[str, int]:
    """The one paragraph a command prints for ``error``, and the exit code it ends with.

    An :class:`AmlError` renders itself; anything else is amlses's own bug, said so in one
    paragraph (never a traceback) with exit code 1.  ``what`` names what to send with a report.
    """
    if isinstance(error, AmlError):
        return error.render(), error.exit_code
    text = (
        f"internal error: {type(error).__name__}: {error}. This is a bug in amlses; "
        f"please report it with {what} that caused it."
    )
    return text, EXIT_TASK_FAILED


def echo_line(line: str, column: int = 1, width: int = ECHO_WIDTH) -> str:
    """A task line as an error shows it: secrets masked, blanks trimmed, at most ``width``
    characters around ``column`` (1-based, in ``line``) with "…" where it was cut.

    Masking comes first: cutting first could split ``SECRETKEY="…"`` so that the masking no
    longer recognised it.  A task saved with many steps on one line would otherwise drown the
    message in thousands of characters.
    """
    masked = mask_secret_attributes(line).rstrip()
    text = masked.lstrip()
    if len(text) <= width:
        return text
    # masking may shorten the text before the column a little: close enough for a window
    at = min(max(column - 1 - (len(masked) - len(text)), 0), len(text))
    start = max(0, min(at - width // 3, len(text) - (width - 1)))
    end = start + width - (1 if start else 0)
    if end < len(text):
        end -= 1
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _rebuild(cls: type[AmlError], state: dict[str, object]) -> AmlError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class UsageError(AmlError):
    """The command line was wrong (missing file, bad ``--var``)."""

    exit_code = EXIT_INVALID
    code = "UsageError"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of the static check: an error (run refuses the task) or a warning."""

    message: str
    position: Position | None
    step: str | None = None
    source_line: str | None = None
    severity: str = "error"

    def render(self) -> str:
        where = ""
        if self.position is not None:
            where = f"{self.position.file}:{self.position.line}:{self.position.column}: "
        step = f"{self.step}: " if self.step else ""
        text = f"{where}{self.severity}: {step}{self.message}"
        if self.source_line is not None and self.source_line.strip():
            column = self.position.column if self.position else 1
            text += f"\n    {echo_line(self.source_line, column)}"
        return text


class TaskError(AmlError):
    """The task is invalid: the static check found at least one error.

    ``problems`` holds every finding (errors and warnings), so a user fixes them all at once.
    """

    exit_code = EXIT_INVALID
    code = "TaskError"

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0] if errors else problems[0]
        super().__init__(
            first.message, position=first.position, step=first.step, source_line=first.source_line
        )
        self.problems = problems

    def render(self) -> str:
        errors = sum(1 for p in self.problems if p.severity == "error")
        lines = [p.render() for p in self.problems]
        lines.append(f"{errors} error{'s' if errors != 1 else ''}: the task was not run.")
        return "\n".join(lines)


class AmlSyntaxError(TaskError):
    """The task text is not AML that can be read: a bad tag, an unbalanced block, a DTD.

    The parser recovers and goes on, so ``problems`` lists every syntax error of the file.
    """

    code = "SyntaxError"


class StepError(AmlError):
    """A step failed at run time.  ``__cause__`` keeps the underlying exception."""

    code = "StepError"


class ExpressionError(StepError):
    """A ``%…%`` reference or a condition could not be evaluated."""

    code = "ExpressionError"


class SessionError(StepError):
    """An SES session was used before ``create_session``, after ``end_session``, or reopened."""

    code = "SessionError"


class AwsError(StepError):
    """AWS (or the emulator) answered with an error, or could not be reached.

    ``code`` is the AWS error code (``MessageRejected``, ``Throttling``, …) so that
    ``AM_ERRORS`` can match it; ``request_id`` helps AWS support find the request.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        position: Position | None = None,
        step: str | None = None,
        source_line: str | None = None,
    ) -> None:
        text = f"AWS error {code}"
        if operation:
            text += f" from {operation}"
        text += f": {message}" if message else ""
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text, position=position, step=step, source_line=source_line)
        self.code = code
        self.aws_message = message
        self.request_id = request_id
        self.operation = operation
        #: the HTTP status of AWS's answer (None when no answer came): a 4xx proves a request
        #: was refused, a 5xx does not (the service may have acted before failing)
        self.status = status


class UnknownOutcome(StepError):
    """A send whose outcome is unknown: the request left, but no answer says what SES did.

    A read timeout, a connection dropped mid-request, a 5xx answer, a run stopped while the
    request was in flight: SES may well have accepted the message.  Resending could mail the
    recipient twice, so amlses never does it automatically — not botocore, not ``AM_RETRY``;
    the user decides.  ``code`` is ``Unknown`` so ``AM_ERRORS`` and ``If - Last step`` can
    match it.
    """

    code = "Unknown"


class Signalled(KeyboardInterrupt):
    """A termination signal (SIGTERM) delivered the way Ctrl-C is, so every layer that already
    stops cleanly on an interrupt does so for SIGTERM too; ``signum`` says which it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: the signal number of Ctrl-C (SIGINT on every platform Python runs on)
SIGINT = 2


class Interrupted(AmlError):
    """The run was stopped by Ctrl-C (SIGINT) or SIGTERM: not a failure of the task.

    The exit code follows the shell's convention, 128 + the signal's number: 130 for Ctrl-C,
    143 for SIGTERM.  The message says where the run was (``interrupted at task.aml:12 (pass
    418 of 100000)``) so the user knows how far it got.
    """

    code = "Interrupted"

    def __init__(
        self, message: str, *, signum: int = SIGINT, position: Position | None = None
    ) -> None:
        super().__init__(message, position=position)
        self.signum = signum
        self.exit_code = 128 + signum

    def render(self) -> str:
        """The message alone: it names the place itself (``interrupted at task.aml:12 …``)."""
        return self.message


class BreakLoop(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a break step (or ``AM_ONERROR="BREAK"``); the innermost loop catches it."""


class GotoLabel(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a goto step; the innermost body holding the label goes on from there."""

    def __init__(self, label: str, position: Position | None = None) -> None:
        super().__init__(label)
        self.label = label
        self.position = position


class StopTask(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a stop step: ends the whole run (subtasks included) with ``status``."""

    def __init__(self, status: str, error: AmlError | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.error = error

"""Flow and helper steps: labels and goto, stop, subtasks, wait, messages and logs.

They are the small steps a real SES task uses around ``<AMAWSSES>`` (spec ``aml-core.md`` §4,
aml-reference.md §6).  There is no UI here, so every dialog and log step prints through the
run's reporter with a level (info to stdout, warning and error to stderr), and a wait sleeps
through the injected ``RunOptions.sleep`` so tests and dry runs never wait.

Goto and stop are control signals, not errors: :class:`~amlses.errors.GotoLabel` is caught
by the innermost body that holds the label (so a jump can leave loops and ifs), and
:class:`~amlses.errors.StopTask` ends the run with its status (``api.run`` turns it into the
result's status; the CLI exits 0 only for ``success``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import GotoLabel, StepError, StopTask
from ..expr import substitute
from ..lang.nodes import Step
from ..values import to_text
from .registry import activity, element, unsupported
from .spec import CHOICE, NAME, NUMBER, Args, Attr

if TYPE_CHECKING:
    from ..runtime.context import Context

element("AMPAUSE", legacy_attr="ACTION")
unsupported("AMSHOWDIALOG", "input", "needs a desktop")
unsupported("AMSHOWDIALOG", "custom", "needs a desktop")
unsupported("AMINPUTBOX", None, "needs a desktop")
unsupported("AMWAIT", "pixel", "needs a desktop")
unsupported("AMSCRIPT", None, "runs Automate's BASIC script engine")
unsupported("AMTASK", "trigger", "needs an Automate server")

# -- labels and goto -------------------------------------------------------------------------

# The Label - Goto page's parameter table says LABEL="…" while its sample writes LABELNAME="…"
# (https://hstechdocs.helpsystems.com/manuals/automate/automate_desktop/current/Content/
# Task_Builder/Actions_Activities/Label/Label_-_Goto.htm): both spellings are accepted.
_LABEL = Attr("LABELNAME", NAME, required=True, aliases=("LABEL",), doc="the label's name")


@activity("AMLABEL", "", _LABEL, aliases=("create",), label="define", label_attr="LABELNAME")
def label_create(context: Context, step: Step, args: Args) -> str:
    """Label - Create: a target for goto and ``AM_ONERROR="GOTO"``; running it does nothing.

    The runner finds labels itself (it indexes each body once), so this handler only reports.
    """
    return f"label {args['LABELNAME']}"


@activity("AMLABEL", "goto", _LABEL, label="goto", label_attr="LABELNAME")
def label_goto(context: Context, step: Step, args: Args) -> str:
    """Label - Goto: go on after the named label (``<AMGOTO>`` in AutoMate 5–9).

    The innermost body holding the label catches the jump, so a goto can leave a loop or an
    If (forward or backward) but never enter one; the runner counts jumps against
    ``--max-iterations`` so a backward goto cannot loop forever.
    """
    label = args.text("LABELNAME")
    context.reporter.step(step, f"go to {label}", 0.0)
    raise GotoLabel(label, step.position)


activity(
    "AMGOTO", "", _LABEL, doc="go on after a label (legacy)", label="goto", label_attr="LABELNAME"
)(label_goto)

# -- stop and subtasks -----------------------------------------------------------------------

_STOP_ATTRS = (
    Attr(
        "STATUSTYPE",
        CHOICE,
        default="aborted",
        choices=("success", "error", "aborted"),
        doc="how the task ends (Automate's default: aborted)",
    ),
    Attr("ERRORNUMBER", NUMBER, minimum=1, doc="the error code with ERROR (0 is reserved)"),
    Attr("ERRORTEXT", doc="the error message, with ERROR"),
)


@activity("AMTASK", "stop", *_STOP_ATTRS)
def task_stop(context: Context, step: Step, args: Args) -> str:
    """Task - Stop: end the whole run now with STATUSTYPE (``<AMSTOPTASK>`` in AutoMate 8).

    ``ERROR`` ends it as failed with ERRORNUMBER as the error's code and ERRORTEXT as its
    message (exit code 1, the message on stderr); ``ABORTED`` (Automate's default) exits 1
    with a warning saying where; ``SUCCESS`` exits 0.  A stop inside a subtask ends the whole
    run: Automate does not document otherwise, and ending is the safe reading.
    """
    status = args.text("STATUSTYPE")
    error = None
    if status == "error":
        number = args.number("ERRORNUMBER")
        if number is None:
            raise StepError(
                'STATUSTYPE="ERROR" needs ERRORNUMBER: the error code the task ends with'
            )
        text = args.text("ERRORTEXT").strip()
        error = StepError(
            f"the task was stopped with error {number}" + (f": {text}" if text else "")
        )
        error.code = str(number)
        context.runner.locate(error, step)
        error.handled = True
    context.reporter.step(step, f"task stopped: {status.upper()}", 0.0)
    if status == "aborted":
        context.reporter.message(f"{step.position}: the task was stopped: ABORTED", "warning")
    raise StopTask(status, error)


activity("AMSTOPTASK", "", *_STOP_ATTRS, doc="end the task (legacy)")(task_stop)

_TASKFILE = Attr(
    "TASKFILE", required=True, subtask=True, doc="the .aml file to run, relative to this task"
)


@activity("AMTASK", "", _TASKFILE, aliases=("start",))
def task_start(context: Context, step: Step, args: Args) -> str:
    """Task - Start subtask: run another task file and wait for it, sharing every variable,
    dataset and session (``<AMSTARTTASK>`` in older versions).

    Automate's pages write full Windows paths; on other systems backslashes are read as
    folder separators, so ``sub\\cleanup.aml`` next to the task works everywhere, and a
    relative path is taken from this task's own folder (a subtask's, inside a subtask).  A
    missing or unreadable file is a step failure (so ``AM_ONERROR`` applies), not a usage
    error; so is a subtask that would run itself again, or nest more than 32 deep.
    """
    path = args.text("TASKFILE").strip()
    if os.sep == "/":
        path = path.replace("\\", "/")
    context.runner.run_subtask(path, step)
    return f"subtask {path} done"


activity("AMSTARTTASK", "", _TASKFILE, doc="run a subtask (legacy)")(task_start)

# -- wait ------------------------------------------------------------------------------------

_SECONDS = {"milliseconds": 0.001, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
_WAIT_ATTRS = (
    Attr("SCALAR", NUMBER, required=True, minimum=0, doc="how long"),
    Attr("MEASURE", CHOICE, default="seconds", choices=tuple(_SECONDS), doc="the unit"),
)


@activity("AMWAIT", "", *_WAIT_ATTRS)
def wait_duration(context: Context, step: Step, args: Args) -> str:
    """Wait - For duration: pause the task (``<AMPAUSE ACTION="waitfor">`` in BPA 9).

    The sleep is ``RunOptions.sleep``, injected so tests and benchmarks need not wait.
    """
    amount, measure = args.number("SCALAR", 0), args.text("MEASURE")
    context.options.sleep(amount * _SECONDS[measure])
    return f"waited {amount} {measure}"


activity("AMPAUSE", "waitfor", *_WAIT_ATTRS, doc="pause the task (legacy)")(wait_duration)

# -- messages and logs -------------------------------------------------------------------------

_MESSAGE_ATTRS = (
    Attr("MESSAGE", aliases=("MESSAGETEXT",), doc="the text; the older form writes it as text"),
    Attr("WINDOWTITLE", doc="accepted; there is no window"),
    Attr("POSITION", doc="accepted; there is no window"),
    Attr("ICON", doc="accepted; there is no window"),
)


@activity("AMSHOWDIALOG", "", *_MESSAGE_ATTRS)
def dialog_message(context: Context, step: Step, args: Args) -> str:
    """Dialog - Message: print the message (stdout); nothing waits for a click.

    Also ``<AMSHOWDIALOG>text</AMSHOWDIALOG>`` and the AutoMate 7 ``<AMMESSAGEBOX>``.  Input
    and custom dialogs need a desktop, so they are not registered: ``check`` names them.
    """
    context.reporter.message(_text(context, step, args, "MESSAGE"), "info")
    return "printed"


activity("AMMESSAGEBOX", "", *_MESSAGE_ATTRS, doc="print a message (legacy)")(dialog_message)

_EVENT_LEVELS = {"information": "info", "warning": "warning", "error": "error"}


@activity(
    "AMEVENTLOG",
    "",
    Attr("MESSAGE", required=True, doc="the text to log"),
    Attr("TYPE", CHOICE, default="information", choices=tuple(_EVENT_LEVELS), doc="its level"),
)
def event_log_write(context: Context, step: Step, args: Args) -> str:
    """Event Log - Write: print the message with its level instead of writing the Windows
    event log (information to stdout, warning and error to stderr)."""
    context.reporter.message(args.text("MESSAGE"), _EVENT_LEVELS[args.text("TYPE")])
    return "printed"


# AutoMate 8 names the levels User Message (default), Verbose, Warning and Error but shows only
# LOGLEVEL="verbose" as markup; the spellings of "User Message" are inferred.
_LOG_LEVELS = {
    "usermessage": "info",
    "user_message": "info",
    "user": "info",
    "verbose": "info",
    "warning": "warning",
    "error": "error",
}


@activity(
    "AMWRITETOLOG",
    "",
    Attr("TEXT", doc="the text to log"),
    Attr("LOGLEVEL", CHOICE, default="usermessage", choices=tuple(_LOG_LEVELS), doc="its level"),
)
def write_to_log(context: Context, step: Step, args: Args) -> str:
    """Write to log: print the text with its level (there is no Automate event log here)."""
    context.reporter.message(_text(context, step, args, "TEXT"), _LOG_LEVELS[args.text("LOGLEVEL")])
    return "printed"


def _text(context: Context, step: Step, args: Args, name: str) -> str:
    """An attribute's text, else the element's text body (evaluated), else ""."""
    if name in args.given:
        return args.text(name)
    if step.text:
        return to_text(substitute(step.text, context, step.position))
    return ""

"""The AML core steps around the SES action: If, Loop, Break (spec ``aml-core.md`` §4).

Block handlers get the block node and drive the runner over its body; a loop catches
:class:`~amlses.errors.BreakLoop`.  Loop state lives on the dataset (its current row) or in
the handler's own counter, so a ``%DS.Field%`` read anywhere inside the body sees the row the
loop is on, and two nested dataset loops each keep their own dataset's row.

Every loop calls the runner's guard and the reporter's progress on each pass, so a runaway
loop ends with a clear error and a long one shows that it is alive.  Automate has no
"continue" step (aml-reference.md §1 found none), so amlses does not invent one.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from ..errors import BreakLoop, StepError
from ..expr import condition
from ..lang.grammar import SavedTask
from ..lang.nodes import Block, Step
from ..runtime.datasets import Dataset
from ..values import to_text
from .registry import activity, element, foreign, saved_task, unsupported
from .spec import BOOL, CHOICE, NAME, NUMBER, RAW, VARIABLE, Args, Attr, StaticCheck

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..runtime.context import Context
    from ..values import Value

element("AMLOOP", legacy_attr="TYPE", end_tags=("AMENDLOOP",))
# AutoMate 7 and AWE write If - Last step without an ACTIVITY: <AMIF LASTSTEP="failedwithcode"
# RESULTCODE="20074, 20089"> (https://www.networkautomation.com/automate/urc/resources/livedocs/
# am/7/Technical_Reference/Actions/Flow/If_Last_Step.htm, and the sample of
# https://hstechdocs.helpsystems.com/manuals/globalscape/awe/actions/if/if_last_step.htm).
element("AMIF", divider="AMELSE", end_tags=("AMENDIF",), implied=(("LASTSTEP", "last_step"),))
# AutoMate 5-7 had one element per loop kind, each closed by </AMLOOP>: "<AMLOOPEXPRESSION …>
# (block of steps to loop) </AMLOOP>" (https://hstechdocs.helpsystems.com/manuals/globalscape/
# archive/eft6/mergedProjects/awe/Actions/Loop/Loop_Expression.htm); <AMLOOPDATASET
# DATASET="myresults"> in the SQL Query sample of the same manual (its end is cut off there:
# </AMLOOP> is inferred from Loop Expression).
element("AMLOOPEXPRESSION", closed_by=("AMLOOP",))
element("AMLOOPDATASET", closed_by=("AMLOOP",))

# A file saved by the Task Builder: <AMTASK><AMTASKHEAD><TASKINFO TASKVERSION="…" />
# </AMTASKHEAD><AMFUNCTION NAME="Main" …> steps </AMFUNCTION></AMTASK>.  AutoMate 8 documents
# task functions as AMFUNCTION elements with an ACCESS attribute (https://hstechdocs.
# helpsystems.com/manuals/globalscape/am8/basic_scripting/functions___events.htm); no stored
# page shows a step that calls one, so such a step is refused rather than guessed at.
saved_task(SavedTask(wrapper="AMTASK", head="AMTASKHEAD", function="AMFUNCTION"))
unsupported(
    "AMFUNCTION",
    None,
    "is a task-function step (no Automate page shows how a step calls a function; amlses "
    "runs only the Main function of a saved task)",
)

#: the AWS actions Automate has besides SES, by the rest of their element name (AMAWSS3: the
#: Amazon S3 action, https://hstechdocs.helpsystems.com/manuals/globalscape/awe10/actions/
#: amazon_s3/s3_-_put_object.htm); any other AMAWS… element is still an AWS action
AWS_SERVICES = {
    "S3": "Amazon S3",
    "SQS": "Amazon SQS",
    "SNS": "Amazon SNS",
    "EC2": "Amazon EC2",
    "DYNAMODB": "Amazon DynamoDB",
}


def _aws_action(name: str) -> str | None:
    """Which AWS action an ``AMAWS…`` element is; None for a misspelt ``AMAWSSES``
    (``AMAWSSESS``, ``AMAWSSE``), which deserves a "did you mean" instead."""
    service = name.removeprefix("AMAWS")
    if service in AWS_SERVICES:
        return f"{AWS_SERVICES[service]} action"
    if difflib.SequenceMatcher(None, service, "SES").ratio() >= 0.75:
        return None
    return f"AWS {service} action"


foreign("AMAWS", _aws_action, prefix=True)
# FTP: <AMFTP ACTIVITY="logon" …> (https://hstechdocs.helpsystems.com/manuals/automate/
# automate_desktop/current/Content/Task_Builder/Actions_Activities/FTP/FTP_-_Logon.htm),
# AWE 10's <AMFTPLOGIN …> (…/globalscape/awe10/actions/ftp/ftp_-_log_on.htm); databases:
# <AMDATABASE ACTIVITY="sql_query" …> (…/automate_desktop/current/Content/Task_Builder/
# Actions_Activities/Database/Database_-_SQL_Query.htm), AutoMate 8's <AMSQLQUERY …>
# (…/globalscape/am8/actions/action_execute_sql_query.htm).
foreign("AMFTP", lambda name: "FTP action")
foreign("AMFTPLOGIN", lambda name: "FTP - Log on action")
foreign("AMDATABASE", lambda name: "Database action")
foreign("AMSQLQUERY", lambda name: "SQL Query action")
for _loop in ("windows", "processes"):
    unsupported("AMLOOP", _loop, "needs a desktop")
# Loop - Array is documented (<AMLOOP TYPE="ARRAY" ARRAY="myarray" RESULTVARIABLE=…
# DIRECTION="vertical" DATASET=…>, https://hstechdocs.helpsystems.com/manuals/globalscape/am8/
# actions/loop_array_action.htm), but amlses has no array variables to walk: no step creates
# one, and Split's list lives only inside an expression.
unsupported("AMLOOP", "array", "walks an array variable (amlses has no array variables)")
for _test in ("window_exists", "pixel_exists", "process_running"):
    unsupported("AMIF", _test, "needs a desktop")

#: DELIMITER option values of Loop - List (AWE 10 loop_list.htm); anything else is the
#: delimiter itself ("a custom character")
LIST_DELIMITERS = {
    "comma": ",",
    "new_line": "\n",
    "semi-colon": ";",
    "space": " ",
    "tab": "\t",
}


# -- If ------------------------------------------------------------------------------------


def branch(context: Context, step: Step, result: bool) -> str:
    """Run an If block's body when ``result`` is true, else its AMELSE branch.

    Every If activity ends here (File System conditions too), so all of them treat AMELSE
    and the step line alike.
    """
    assert isinstance(step, Block)
    outcome = "true" if result else "false"
    context.runner.enter(step, outcome)
    if result:
        context.runner.run_body(step.body)
    elif step.orelse is not None:
        context.runner.run_body(step.orelse)
    return outcome


@activity(
    "AMIF",
    "",
    Attr("EXPRESSION", RAW, required=True, doc="the condition"),
    Attr("USECOMPLEXUI", BOOL, default=False, doc="YES: EXPRESSION is a full BASIC expression"),
    block=True,
)
def if_condition(context: Context, step: Step, args: Args) -> str:
    """If - Condition: run the body when EXPRESSION is true, else the AMELSE branch."""
    attribute = step.get("EXPRESSION")
    result = condition(
        args.text("EXPRESSION"),
        context,
        attribute.position if attribute else step.position,
        complex=args.flag("USECOMPLEXUI"),
    )
    return branch(context, step, result)


def _check_last_step(checker: StaticCheck, step: Step) -> None:
    """``LASTSTEP="failedwithcode"`` means nothing without the codes to compare with."""
    mode = step.value("LASTSTEP").strip().lower()
    if mode == "failedwithcode" and not step.value("RESULTCODE").strip():
        checker.problem(_NEEDS_RESULTCODE, (step.get("LASTSTEP") or step).position, step)


_NEEDS_RESULTCODE = (
    'LASTSTEP="failedwithcode" needs RESULTCODE: the error codes to match, '
    'e.g. RESULTCODE="MessageRejected,Throttling"'
)


@activity(
    "AMIF",
    "last_step",
    Attr(
        "LASTSTEP",
        CHOICE,
        default="succeeded",
        choices=("succeeded", "failed", "failedwithcode"),
        doc="what the previous step must have done",
    ),
    Attr("RESULTCODE", doc="comma-separated error codes, for failedwithcode"),
    block=True,
    check=_check_last_step,
)
def if_last_step(context: Context, step: Step, args: Args) -> str:
    """If - Last step: branch on how the previous step ended (after AM_ONERROR="CONTINUE").

    The runner keeps the error of a step that failed and was continued past in
    ``context.last_error`` and clears it after any step that succeeds, so "the last step" is
    the step just before this one.  Codes match the error's code case-insensitively: AWS
    codes such as ``MessageRejected`` and amlses's own (``Timeout``, ``StepError``).
    """
    error = context.last_error
    wanted = args["LASTSTEP"]
    if wanted == "succeeded":
        result = error is None
    elif wanted == "failed":
        result = error is not None
    else:
        written = args.text("RESULTCODE")
        codes = {code.strip().lower() for code in written.split(",") if code.strip()}
        if not codes:
            raise StepError(_NEEDS_RESULTCODE)
        result = error is not None and error.code.lower() in codes
    return branch(context, step, result)


@activity(
    "AMIF",
    "contains_text",
    Attr("TEXT", default="", doc="the text to search in"),
    Attr("SUBSTRING", required=True, doc="the text (or, with USERE, the pattern) to find"),
    Attr(
        "ACTION",
        CHOICE,
        default="contain",
        choices=("contain", "not_contain", "start_with", "end_with"),
        doc="the test",
    ),
    Attr("USECASE", BOOL, default=False, doc="YES: case-sensitive (default: any case)"),
    Attr("USERE", BOOL, default=False, doc="YES: SUBSTRING is a regular expression"),
    Attr("FOUNDTEXTVARIABLE", NAME, output=VARIABLE, doc="receives the text found ('' when none)"),
    Attr("INDEXVARIABLE", NAME, output=VARIABLE, doc="receives the 1-based position found"),
    block=True,
)
def if_contains_text(context: Context, step: Step, args: Args) -> str:
    """If - Contains text: test TEXT for SUBSTRING (contain, not_contain, start_with, end_with).

    Automate does not document its default for "case sensitive"; amlses compares in any case
    unless ``USECASE="YES"``, because identities (``Alice@Example.com``) are case-insensitive
    where SES is concerned.  ``USERE`` patterns use Python's ``re``, which agrees with .NET's
    regular expressions on everything an identity test needs.  The result variables are
    created when absent (Automate requires them to exist; amlses is friendlier).
    """
    action = args.text("ACTION")
    found = _find_text(
        args.text("TEXT"), args.text("SUBSTRING"), action, args.flag("USECASE"), args.flag("USERE")
    )
    if args.text("FOUNDTEXTVARIABLE"):
        context.set_variable(args.text("FOUNDTEXTVARIABLE"), found[1] if found else "", create=True)
    if args.text("INDEXVARIABLE"):
        context.set_variable(args.text("INDEXVARIABLE"), found[0] + 1 if found else 0, create=True)
    result = found is None if action == "not_contain" else found is not None
    return branch(context, step, result)


def _find_text(
    text: str, substring: str, action: str, case: bool, regex: bool
) -> tuple[int, str] | None:
    """Where the test finds ``substring`` in ``text``: (0-based index, text found), or None.

    Plain text is searched as an escaped pattern too, so that case-insensitive matching
    reports indices into the original text (lower-casing can change a text's length).
    """
    pattern = substring if regex else re.escape(substring)
    if action == "end_with":
        pattern = f"(?:{pattern})\\Z"
    try:
        compiled = re.compile(pattern, 0 if case else re.IGNORECASE)
    except re.error as exc:
        raise StepError(
            f'SUBSTRING="{substring}" is not a valid regular expression: {exc}'
        ) from None
    match = compiled.match(text) if action == "start_with" else compiled.search(text)
    return (match.start(), match.group(0)) if match else None


# -- Loop ----------------------------------------------------------------------------------


def _passes(
    context: Context, step: Step, values: Iterable[Value], total: int | None, variable: str | None
) -> None:
    """Run a loop's body once per value (put in ``variable`` when given) until a Break.

    Shared by the counter and list loops: guard and progress on every pass, so no loop kind
    can forget either.
    """
    assert isinstance(step, Block)
    runner = context.runner
    try:
        for count, value in enumerate(values, start=1):
            runner.guard(step, count)
            context.reporter.progress(step, count, total)
            if variable:
                context.set_variable(variable, value, create=True)
            runner.run_body(step.body)
    except BreakLoop:
        pass


@activity(
    "AMLOOP",
    "",
    Attr("FROM", NUMBER, doc="the first index (default 1)"),
    Attr("TO", NUMBER, doc="the last index (default 1)"),
    Attr("STEP", NUMBER, default=1, doc="added to the index on each pass; negative counts down"),
    Attr("TOTALLOOPS", NUMBER, minimum=0, doc="legacy: FROM=1 TO=n; ignored with FROM or TO"),
    Attr("RESULTVARIABLE", NAME, output=VARIABLE, doc="receives the current index"),
    loop=True,
)
def loop_range(context: Context, step: Step, args: Args) -> str:
    """Loop - Range: run the body for each index from FROM to TO (both included) by STEP.

    ``TOTALLOOPS="n"`` is the older spelling of ``FROM="1" TO="n"`` and is ignored when FROM
    or TO is given (AutoMate 9 action_Loop.htm).  The indices are worked out once, before the
    first pass, so a body that changes RESULTVARIABLE does not change the number of passes.
    """
    stride = args.number("STEP", 1)
    if stride == 0:
        attribute = step.get("STEP")
        raise StepError(
            "STEP must not be 0: the index would never reach TO",
            position=attribute.position if attribute else None,
        )
    if "FROM" in args.given or "TO" in args.given or "TOTALLOOPS" not in args.given:
        first = args.number("FROM", 1)
        last = args.number("TO", 1)
    else:
        first, last = 1, args.number("TOTALLOOPS", 0)
    indices = range(first, last + (1 if stride > 0 else -1), stride)
    assert isinstance(step, Block)
    context.runner.enter(step, f"{first} to {last} step {stride}: {_count(len(indices), 'pass')}")
    _passes(context, step, indices, len(indices), args.text("RESULTVARIABLE"))
    return "done"


@activity(
    "AMLOOP",
    "list",
    Attr("LIST", doc="the items, separated by DELIMITER; empty: no passes"),
    Attr(
        "DELIMITER",
        default="comma",
        doc="comma, new_line, semi-colon, space, tab, or the delimiter itself",
    ),
    Attr("SORT", CHOICE, default="none", choices=("none", "ascending", "descending")),
    Attr("RESULTVARIABLE", NAME, required=True, output=VARIABLE, doc="receives the item"),
    loop=True,
)
def loop_list(context: Context, step: Step, args: Args) -> str:
    """Loop - List: run the body once per item of LIST.

    Items are trimmed and empty ones skipped, an amlses decision: an address list typed as
    ``"a@example.com, b@example.com"`` or ending in a delimiter (or read from a Windows text
    with ``\\r\\n``) should not produce " b@example.com" or an empty identity.  SORT's option
    values beyond ``none`` are cut off in the stored AWE 10 page; ``ascending`` and
    ``descending`` are inferred.
    """
    delimiter = args.text("DELIMITER")
    separator = LIST_DELIMITERS.get(delimiter.lower(), delimiter)
    if not separator:
        raise StepError(
            "DELIMITER is empty: give comma, new_line, semi-colon, space, tab or a character"
        )
    items = [item.strip() for item in args.text("LIST").split(separator)]
    items = [item for item in items if item]
    if args["SORT"] != "none":
        items.sort(key=str.lower, reverse=args["SORT"] == "descending")
    assert isinstance(step, Block)
    context.runner.enter(step, _count(len(items), "item"))
    _passes(context, step, items, len(items), args.text("RESULTVARIABLE"))
    return "done"


_EXPRESSION_ATTRS = (
    Attr("EXPRESSION", RAW, required=True, doc="a BASIC expression; bare names are variables"),
    Attr("CONDITION", CHOICE, default="while", choices=("while", "until")),
)


@activity("AMLOOP", "expression", *_EXPRESSION_ATTRS, loop=True)
def loop_expression(context: Context, step: Step, args: Args) -> str:
    """Loop - Expression: run the body while (or until) EXPRESSION is true.

    EXPRESSION is re-evaluated before every pass as a full BASIC expression, the way the
    vendor's samples write it (``EXPRESSION="mycounter=5"``, names without ``%``).  Whether
    Automate tests "until" before or after a pass is not documented; amlses tests before, so
    an "until" that is already true runs no pass, like a "while" that is already false.
    """
    assert isinstance(step, Block)
    attribute = step.get("EXPRESSION")
    position = attribute.position if attribute else step.position
    text, until = args.text("EXPRESSION"), args["CONDITION"] == "until"
    context.runner.enter(step, f"{args['CONDITION']} {text}")
    count = 0
    try:
        while condition(text, context, position, complex=True) != until:
            count += 1
            context.runner.guard(step, count)
            context.reporter.progress(step, count, None)
            context.runner.run_body(step.body)
    except BreakLoop:
        pass
    return "done"


_DATASET_ATTRS = (
    Attr("DATASET", NAME, required=True, doc="the dataset to walk"),
    Attr("FROM", NUMBER, minimum=0, doc="first row (1-based)"),
    Attr("TO", NUMBER, minimum=0, doc="last row; absent or 0: the last row"),
    Attr("SORT", CHOICE, default="unsorted", choices=("unsorted", "ascending", "descending")),
    Attr("SORTEDCOLUMN", doc="the column to sort by (name or 1-based number)"),
)


@activity("AMLOOP", "dataset", *_DATASET_ATTRS, loop=True)
def loop_dataset(context: Context, step: Step, args: Args) -> str:
    """Loop - Dataset: run the body once per row, moving the dataset's current row."""
    assert isinstance(step, Block)
    name = args.text("DATASET")
    dataset = context.datasets.get(name.lower())
    if dataset is None:
        known = ", ".join(sorted(d.name for d in context.datasets.values())) or "none yet"
        raise StepError(f'dataset "{name}" does not exist (datasets so far: {known})')
    rows = _row_numbers(dataset, args)
    context.runner.enter(step, f"{len(rows)} of {len(dataset)} rows of {dataset.name}")
    try:
        for count, row in enumerate(rows, start=1):
            context.runner.guard(step, count)
            context.reporter.progress(step, count, len(rows))
            dataset.current_row = row
            context.runner.run_body(step.body)
    except BreakLoop:
        pass
    return "done"


def _count(number: int, noun: str) -> str:
    plural = "passes" if noun == "pass" else f"{noun}s"
    return f"{number} {noun if number == 1 else plural}"


def _row_numbers(dataset: Dataset, args: Args) -> list[int]:
    """The 1-based row numbers a dataset loop visits, in order (FROM/TO, SORT)."""
    last = len(dataset)
    first = max(args.number("FROM", 1), 1)
    to = args.number("TO", 0)
    end = min(to, last) if to else last
    rows = list(range(first, end + 1))
    order = args["SORT"]
    if order != "unsorted":
        column = _sort_column(dataset, args.text("SORTEDCOLUMN"))
        rows.sort(
            key=lambda r: _sort_key(dataset.rows[r - 1][column]),
            reverse=order == "descending",
        )
    return rows


def _sort_column(dataset: Dataset, wanted: str | None) -> int:
    if not wanted:
        raise StepError("SORT needs SORTEDCOLUMN: the column to sort by")
    if wanted.isdigit() and 1 <= int(wanted) <= len(dataset.columns):
        return int(wanted) - 1
    for index, column in enumerate(dataset.columns):
        if column.lower() == wanted.lower():
            return index
    raise StepError(
        f'SORTEDCOLUMN "{wanted}" is not a column of {dataset.name} ({", ".join(dataset.columns)})'
    )


def _sort_key(value: object) -> tuple[int, float, str]:
    text = to_text(value)  # type: ignore[arg-type]
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


activity(
    "AMLOOPEXPRESSION",
    "",
    *_EXPRESSION_ATTRS,
    doc="loop while/until EXPRESSION (AutoMate 7)",
    loop=True,
)(loop_expression)
# the AutoMate 5-7 attributes of <AMLOOPDATASET> are not shown; those of Loop Dataset are assumed
activity("AMLOOPDATASET", "", *_DATASET_ATTRS, doc="each row of DATASET (AutoMate 7)", loop=True)(
    loop_dataset
)


# Break has "no general parameters" and "breaks out of a Loop or If statement" (AutoMate 8,
# http://www.networkautomation.com/automate/urc/resources/livedocs/am/8/Technical_Reference/
# Actions/Loop/action_Break.htm), but every stored copy strips its markup: both candidate
# spellings are accepted, and amlses's break leaves the innermost *loop* (inferred).
@activity("AMLOOP", "break", doc="leave the innermost loop", needs_loop=True)
def loop_break(context: Context, step: Step, args: Args) -> str:
    """Break: leave the innermost loop (``<AMLOOP ACTIVITY="break" />`` or ``<AMBREAK />``)."""
    raise BreakLoop()


activity("AMBREAK", "", doc="leave the innermost loop", needs_loop=True)(loop_break)

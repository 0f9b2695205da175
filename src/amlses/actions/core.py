"""The AML core steps around the SES action: If, Loop, Break (spec ``aml-core.md`` §4).

Block handlers get the block node and drive the runner over its body; a loop catches
:class:`~amlses.runtime.BreakLoop`.  Loop state lives on the dataset (its current row), so a
``%DS.Field%`` read anywhere inside the body sees the row the loop is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..datasets import Dataset
from ..errors import StepError
from ..expressions import condition, to_text
from ..nodes import Block, Step
from ..runtime import BreakLoop
from . import activity, element
from .spec import BOOL, CHOICE, NAME, NUMBER, RAW, Args, Attr

if TYPE_CHECKING:
    from ..runtime import Context

element("AMLOOP", legacy_attr="TYPE")


@activity(
    "AMIF",
    "",
    Attr("EXPRESSION", RAW, required=True, doc="the condition"),
    Attr("USECOMPLEXUI", BOOL, default=False, doc="YES: EXPRESSION is a full BASIC expression"),
    block=True,
)
def if_condition(context: Context, step: Step, args: Args) -> str:
    """If - Condition: run the body when EXPRESSION is true, else the AMELSE branch."""
    assert isinstance(step, Block)
    attribute = step.get("EXPRESSION")
    result = condition(
        args["EXPRESSION"],
        context,
        attribute.position if attribute else step.position,
        complex=bool(args["USECOMPLEXUI"]),
    )
    context.runner.enter(step, "true" if result else "false")
    if result:
        context.runner.run_body(step.body)
    elif step.orelse is not None:
        context.runner.run_body(step.orelse)
    return "true" if result else "false"


@activity(
    "AMLOOP",
    "dataset",
    Attr("DATASET", NAME, required=True, doc="the dataset to walk"),
    Attr("FROM", NUMBER, minimum=0, doc="first row (1-based)"),
    Attr("TO", NUMBER, minimum=0, doc="last row; absent or 0: the last row"),
    Attr("SORT", CHOICE, default="unsorted", choices=("unsorted", "ascending", "descending")),
    Attr("SORTEDCOLUMN", doc="the column to sort by (name or 1-based number)"),
    block=True,
)
def loop_dataset(context: Context, step: Step, args: Args) -> str:
    """Loop - Dataset: run the body once per row, moving the dataset's current row."""
    assert isinstance(step, Block)
    name = str(args["DATASET"])
    dataset = context.datasets.get(name.lower())
    if dataset is None:
        known = ", ".join(sorted(d.name for d in context.datasets.values())) or "none yet"
        raise StepError(f'dataset "{name}" does not exist (datasets so far: {known})')
    rows = _row_numbers(dataset, args)
    context.runner.enter(step, f"{len(rows)} of {len(dataset)} rows of {dataset.name}")
    try:
        for count, row in enumerate(rows, start=1):
            context.runner.guard(step, count)
            dataset.current_row = row
            context.runner.run_body(step.body)
    except BreakLoop:
        pass
    return "done"


def _row_numbers(dataset: Dataset, args: Args) -> list[int]:
    """The 1-based row numbers a dataset loop visits, in order (FROM/TO, SORT)."""
    last = len(dataset)
    first = max(int(args["FROM"] or 1), 1)
    to = int(args["TO"] or 0)
    end = min(to, last) if to else last
    rows = list(range(first, end + 1))
    order = args["SORT"]
    if order != "unsorted":
        column = _sort_column(dataset, args["SORTEDCOLUMN"])
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


@activity("AMLOOP", "break", doc="leave the innermost loop")
def loop_break(context: Context, step: Step, args: Args) -> str:
    """Break: leave the innermost loop (``<AMLOOP ACTIVITY="break" />`` or ``<AMBREAK />``)."""
    raise BreakLoop()


activity("AMBREAK", "", doc="leave the innermost loop")(loop_break)

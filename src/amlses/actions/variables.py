"""Variable steps: create, set, increment and decrement (spec ``aml-core.md`` §2).

Automate writes them two ways, and both run here: the 10/11 form ``<AMVARIABLE ACTIVITY="…">``
and the AutoMate 5–9 elements ``<AMSET>``, ``<AMINCREMENTVARIABLE>``, ``<AMDECREMENTVARIABLE>``
that the vendor's own samples still contain.  The older forms carry the value as the element's
text (``<AMVARIABLE NAME="x">1</AMVARIABLE>``); the parser keeps it as ``step.text``.

Names are case-insensitive (the :class:`~amlses.runtime.context.Context` folds them).  A value that
looks like a number becomes one under ``TYPE="auto"`` only when nothing is lost by it, so the
text ``007`` (a ZIP code, an account number) and ``1.50`` stay text: both still compare and add
as numbers, because AML's operators read numeric text as numbers anyway.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import StepError
from ..expr import substitute
from ..lang.nodes import Step
from ..values import Value, shortened, to_text
from .registry import activity
from .spec import BOOL, CHOICE, NAME, NUMBER, VARIABLE, Args, Attr

if TYPE_CHECKING:
    from ..runtime.context import Context, Variable

#: Automate: "alphanumeric characters, must start with a letter" (Variable - Create page);
#: the underscore is allowed because the vendor's own examples use it (``var_FilePath``)
_VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _value(context: Context, step: Step, args: Args) -> Value:
    """The value a step assigns: VALUE when written, else the element's text body.

    A text body is evaluated here (attributes were evaluated by ``bind``); a body that is
    exactly one ``%expr%`` keeps its type, like an attribute.
    """
    if "VALUE" in args.given:
        given = args["VALUE"]
        return "" if given is None else given
    if step.text:
        return substitute(step.text, context, step.position)
    return ""


def auto_typed(value: Value) -> Value:
    """``TYPE="auto"``: numeric text becomes a number when it reads back as the same text.

    ``"42"`` → 42 and ``"2.5"`` → 2.5, but ``"007"``, ``"1.50"`` and ``"1e3"`` stay text, so a
    value is never shown differently from how it was written.
    """
    if not isinstance(value, str):
        return value
    number: Value
    if _INTEGER.fullmatch(value):
        number = int(value)
    elif _DECIMAL.fullmatch(value):
        number = float(value)
    else:
        return value
    return number if to_text(number) == value else value


def _shown(value: Value) -> str:
    return shortened(to_text(value))


@activity(
    "AMVARIABLE",
    "",
    Attr("NAME", NAME, required=True, output=VARIABLE, doc="the variable to create"),
    Attr("VALUE", doc="the initial value; the older form writes it as the element's text"),
    Attr("TYPE", CHOICE, default="auto", choices=("auto", "text"), doc="auto: detect numbers"),
    Attr("READONLY", BOOL, default=False, doc="YES: later steps cannot change it"),
    Attr("ISPARAMETER", BOOL, default=False, doc="YES: create only if absent (--var wins)"),
    Attr("PRIVATE", BOOL, default=False, doc="accepted; amlses subtasks see every variable"),
    Attr("SECURE", BOOL, default=False, doc="YES: the value is masked in every output"),
    aliases=("create",),
    assigns=("NAME", "VALUE"),
)
def variable_create(context: Context, step: Step, args: Args) -> str:
    """Variable - Create: create a variable, or with ISPARAMETER keep one given from outside.

    ``ISPARAMETER="YES"`` creates the variable only if it does not exist yet, which is how a
    value passed with ``amlses run --var name=value`` wins over the task's default (Automate's
    own ``AMTask.exe /v:name=value`` precedent).  Creating a variable that exists replaces its
    value, unless it is read-only: a task constant stays constant.  ``SECURE`` values are
    added to the redactor, so they are masked wherever amlses prints.
    """
    name = args.text("NAME")
    if not _VALID_NAME.fullmatch(name):
        raise StepError(
            f'"{name}" is not a valid variable name: use letters, digits and "_", starting '
            "with a letter"
        )
    key = name.lower()
    current = context.variables.get(key)
    if current is not None and args.flag("ISPARAMETER"):
        current.readonly = current.readonly or args.flag("READONLY")
        if args.flag("SECURE"):
            context.redactor.add(to_text(current.value))
        return f"{current.name} = {_shown(current.value)} (given)"
    if current is not None and current.readonly:
        raise StepError(f'variable "{current.name}" is read-only and cannot be created again')
    value = _value(context, step, args)
    value = to_text(value) if args["TYPE"] == "text" else auto_typed(value)
    if current is not None and key in {given.lower() for given in context.options.variables}:
        context.warn_once(
            f"parameter:{key}",
            f'{step.position}: --var {name} is replaced by this step; add ISPARAMETER="YES" '
            "to let the command line set it",
        )
    if args.flag("SECURE"):
        context.redactor.add(to_text(value))
    context.define_variable(name, value, readonly=args.flag("READONLY"))
    return f"{name} = {_shown(value)}"


_SET_ATTRS = (
    Attr(
        "VARIABLENAME",
        NAME,
        required=True,
        aliases=("NAME",),
        output=VARIABLE,
        doc="the variable to set",
    ),
    Attr("VALUE", doc="the new value; the older form writes it as the element's text"),
)


@activity("AMVARIABLE", "set", *_SET_ATTRS, assigns=("VARIABLENAME", "VALUE"))
def variable_set(context: Context, step: Step, args: Args) -> str:
    """Variable - Set: give an existing variable a new value.

    The 10/11 markup was not found in any stored Automate page (aml-reference.md §3.1); amlses
    accepts the inferred ``<AMVARIABLE ACTIVITY="set" VARIABLENAME="x" VALUE="…" />`` (``NAME``
    too) and the documented AutoMate 5–9 ``<AMSET VARIABLENAME="x">value</AMSET>``.  The
    variable must exist, as in Automate, so a misspelt name fails instead of creating a new
    one.  Numbers are kept as numbers as under ``TYPE="auto"``.
    """
    name = args.text("VARIABLENAME")
    value = auto_typed(_value(context, step, args))
    context.set_variable(name, value)
    return f"{name} = {_shown(value)}"


activity(
    "AMSET",
    "",
    *_SET_ATTRS,
    doc="set an existing variable (legacy)",
    assigns=("VARIABLENAME", "VALUE"),
)(variable_set)

_COUNTER_ATTRS = (
    Attr("RESULTVARIABLE", NAME, required=True, output=VARIABLE, doc="the variable to change"),
    Attr("AMOUNT", NUMBER, default=1, doc="how much to add or take away"),
)


@activity("AMVARIABLE", "increment", *_COUNTER_ATTRS)
def variable_increment(context: Context, step: Step, args: Args) -> str:
    """Variable - Increment: add AMOUNT (default 1) to a variable holding a number."""
    return _add(context, args.text("RESULTVARIABLE"), args.number("AMOUNT", 1))


@activity("AMVARIABLE", "decrement", *_COUNTER_ATTRS)
def variable_decrement(context: Context, step: Step, args: Args) -> str:
    """Variable - Decrement: take AMOUNT (default 1) from a variable holding a number."""
    return _add(context, args.text("RESULTVARIABLE"), -args.number("AMOUNT", 1))


activity("AMINCREMENTVARIABLE", "", *_COUNTER_ATTRS, doc="add to a variable (legacy)")(
    variable_increment
)
activity("AMDECREMENTVARIABLE", "", *_COUNTER_ATTRS, doc="take from a variable (legacy)")(
    variable_decrement
)


def _add(context: Context, name: str, amount: int) -> str:
    """Add ``amount`` to variable ``name``: blank counts as 0 (Automate's rule), and any
    other non-number is an error naming the value, never a silent 0."""
    variable = context.variables.get(name.lower())
    if variable is None:
        raise StepError(
            f'variable "{name}" does not exist: create it first with <AMVARIABLE NAME="{name}" />'
        )
    number = _number(variable)
    context.set_variable(name, number + amount)
    return f"{variable.name} = {_shown(number + amount)}"


def _number(variable: Variable) -> int | float:
    value = variable.value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise StepError(f'variable "{variable.name}" holds {to_text(value)}, not a number')
    if isinstance(value, int | float):
        return value
    text = value.strip()
    if not text:
        return 0
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    raise StepError(
        f'variable "{variable.name}" holds "{_shown(value)}", which is not a number, so it '
        "cannot be incremented or decremented"
    )

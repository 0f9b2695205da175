"""Environment variables: ``<AMENVVARS ACTIVITY="set|append|get|delete|list">`` and the older
``<AMSETENVIRONMENT>``, ``<AMAPPENDENVIRONMENT>``, ``<AMREMOVEENVIRONMENT>``.

The markup is the vendor's (the README's "Files and environment variables" lists each page):
Environment Variables - Set (AWE, ``set_environment_variable.htm``: NAME, TYPE, VALUE,
OVERWRITE) and - Append (Automate 11, ``Envir_Vars_Append.htm``: NAME, VALUE, TYPE,
RESULTVARIABLE); the AWE 6 forms ``<AMSETENVIRONMENT … CREATEIFNOTEXIST>``,
``<AMAPPENDENVIRONMENT>`` and ``<AMREMOVEENVIRONMENT NAME TYPE>``. Get, Delete and List are
named on AutoMate 9's overview page; their ``ACTIVITY`` values and attributes are inferred from
Set and Append.

TYPE is the scope: ``user`` (Automate's default), ``machine`` (``system`` is accepted for it)
or ``process``.  User and machine variables live in the Windows registry and outlast the run;
there is no registry here, so amlses sets every variable in its own process environment
(``os.environ``) and says so once per scope.  A variable set by a task is seen by the rest of
the run, its subtasks and the AWS SDK (``AWS_REGION`` set by a task reaches the next session
created), and it is **not restored** when the run ends: Automate does not restore them
either, and ``amlses run`` is a process of its own.  Names are matched without regard to case
when they already exist, as on Windows (``Temp`` finds ``TEMP``).

The pages' wording on scopes is .NET's ``EnvironmentVariableTarget``, so Automate wraps
``Environment.GetEnvironmentVariable``/``SetEnvironmentVariable``: reading a variable that is
not set gives "" and deleting one is not an error, as there.  Values of variables whose names
look secret (``…SECRET…``, ``…TOKEN…``, ``…PASSWORD…``, ``…_KEY``) are masked in all output.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ..errors import StepError
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..values import shortened
from .registry import activity, element
from .spec import BOOL, CHOICE, DATASET, NAME, VARIABLE, Args, Attr

if TYPE_CHECKING:
    from ..runtime.context import Context

element("AMENVVARS")

_SCOPE = Attr(
    "TYPE",
    CHOICE,
    default="user",
    choices=("user", "machine", "system", "process"),
    doc="user (default), machine or process; all set this process's environment here",
)
_NAME = Attr("NAME", required=True, doc="the environment variable")
_SECRET_NAME = re.compile(r"SECRET|PASSW|PWD|TOKEN|CREDENTIAL|PRIVATE|(?:^|_)KEY$", re.IGNORECASE)


def _key(name: str) -> str:
    """The name as the environment holds it: an existing variable of any case, else ``name``.

    Names that the operating system cannot hold are refused here, with the reason.
    """
    name = name.strip()
    if not name or "=" in name or "\0" in name:
        raise StepError(f'"{name}" is not a valid environment variable name (no "=" allowed)')
    if name in os.environ:
        return name
    lowered = name.lower()
    for existing in os.environ:
        if existing.lower() == lowered:
            return existing
    return name


def _scope(context: Context, step: Step, args: Args) -> None:
    """Warn once per scope that user and machine variables cannot persist here."""
    scope = args.text("TYPE")
    if scope == "process":
        return
    context.warn_once(
        f"environment-scope:{scope}",
        f'{step.position}: TYPE="{scope.upper()}" environment variables are kept in the '
        "Windows registry, which amlses does not have: this one is set for the rest of this "
        'run only (as TYPE="PROCESS"), nothing is stored for later runs',
    )


def _guard(context: Context, name: str, value: str) -> None:
    """Mask the value of a variable whose name says it is a secret, everywhere from now on."""
    if _SECRET_NAME.search(name):
        context.redactor.add(value)


def _set(context: Context, step: Step, args: Args, *, overwrite: bool, create: bool) -> str:
    _scope(context, step, args)
    key = _key(args.text("NAME"))
    value = args.text("VALUE")
    if "\0" in value:
        raise StepError(f'the value for environment variable "{key}" contains a NUL character')
    exists = key in os.environ
    if exists and not overwrite:
        raise StepError(
            f'environment variable "{key}" is already set and OVERWRITE="NO" keeps it; '
            'remove OVERWRITE="NO" to replace it'
        )
    if not exists and not create:
        raise StepError(
            f'environment variable "{key}" is not set and CREATEIFNOTEXIST="NO" does not create it'
        )
    _guard(context, key, value)
    os.environ[key] = value
    return f"{key} = {shortened(value)}"


_VALUE = Attr("VALUE", default="", doc="the new value")


@activity(
    "AMENVVARS",
    "set",
    _NAME,
    _SCOPE,
    _VALUE,
    Attr("OVERWRITE", BOOL, default=True, doc="NO: an existing variable is an error"),
)
def environment_set(context: Context, step: Step, args: Args) -> str:
    """Environment Variables - Set: set (or create) an environment variable.

    ``OVERWRITE="NO"`` keeps an existing value "however, a runtime error will occur" (the
    AWE page), so the step fails then.
    """
    return _set(context, step, args, overwrite=args.flag("OVERWRITE"), create=True)


@activity(
    "AMSETENVIRONMENT",
    "",
    _NAME,
    _SCOPE,
    _VALUE,
    Attr("CREATEIFNOTEXIST", BOOL, default=True, doc="NO: a variable not set is an error"),
    doc="set an environment variable (legacy)",
)
def environment_set_legacy(context: Context, step: Step, args: Args) -> str:
    """Set Environment Variable (AWE 6): set a variable; ``CREATEIFNOTEXIST="NO"`` only
    changes one that exists (the default YES, creating it, is inferred)."""
    return _set(context, step, args, overwrite=True, create=args.flag("CREATEIFNOTEXIST"))


_APPEND_ATTRS = (
    _NAME,
    _SCOPE,
    Attr("VALUE", required=True, doc="the text to append"),
    Attr("RESULTVARIABLE", NAME, output=VARIABLE, doc="receives the resulting value"),
)


@activity("AMENVVARS", "append", *_APPEND_ATTRS)
def environment_append(context: Context, step: Step, args: Args) -> str:
    """Environment Variables - Append: add VALUE to the end of a variable's value.

    A variable that is not set is created with VALUE (the AWE 6 page says so).  The page
    marks RESULTVARIABLE required; amlses accepts it absent, and creates it when missing.
    """
    _scope(context, step, args)
    key = _key(args.text("NAME"))
    value = os.environ.get(key, "") + args.text("VALUE")
    _guard(context, key, value)
    os.environ[key] = value
    if args.text("RESULTVARIABLE"):
        context.set_variable(args.text("RESULTVARIABLE"), value, create=True)
    return f"{key} = {shortened(value)}"


activity("AMAPPENDENVIRONMENT", "", *_APPEND_ATTRS, doc="append to an environment variable")(
    environment_append
)


@activity(
    "AMENVVARS",
    "get",
    _NAME,
    _SCOPE,
    Attr("RESULTVARIABLE", NAME, required=True, output=VARIABLE, doc="receives the value"),
)
def environment_get(context: Context, step: Step, args: Args) -> str:
    """Environment Variables - Get: put a variable's value ("" when not set) in RESULTVARIABLE.

    Read from this process's environment whatever TYPE says (there is nothing else here); no
    warning, since reading changes nothing.
    """
    key = _key(args.text("NAME"))
    value = os.environ.get(key)
    _guard(context, key, value or "")
    context.set_variable(args.text("RESULTVARIABLE"), value or "", create=True)
    return f"{key} is not set" if value is None else f"{key} = {shortened(value)}"


@activity("AMENVVARS", "delete", _NAME, _SCOPE, aliases=("remove",))
def environment_delete(context: Context, step: Step, args: Args) -> str:
    """Environment Variables - Delete: remove a variable (one not set is not an error)."""
    _scope(context, step, args)
    key = _key(args.text("NAME"))
    if os.environ.pop(key, None) is None:
        return f"{key} was not set"
    return f"{key} removed"


activity("AMREMOVEENVIRONMENT", "", _NAME, _SCOPE, doc="remove an environment variable")(
    environment_delete
)


@activity(
    "AMENVVARS",
    "list",
    _SCOPE,
    Attr("RESULTDATASET", NAME, required=True, output=DATASET, doc="receives Name and Value"),
)
def environment_list(context: Context, step: Step, args: Args) -> str:
    """Environment Variables - List: a dataset of every variable (Name, Value), by name.

    Secret-looking values are masked in what amlses prints, as everywhere; the dataset itself
    holds the real values for the task to use.
    """
    rows = sorted(os.environ.items(), key=lambda item: item[0].lower())
    for name, value in rows:
        _guard(context, name, value)
    dataset = Dataset(args.text("RESULTDATASET"), ("Name", "Value"), rows)
    context.store_dataset(step, dataset)
    return f"{len(rows)} variables -> {dataset.name}"

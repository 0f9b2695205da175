"""Declarative attribute and activity specs: one description drives conversion, ``check``,
the parser's block grammar, labels, secret handling and output.

Each activity declares its attributes (name, type, default, required, aliases, option values,
what they create) and what kind of step it is (a block, a loop, a step that needs a loop, a
label or a jump, an assignment, an optional static-check hook).  At run time
:meth:`Activity.bind` evaluates ``%…%`` and converts every value from those specs into typed
:class:`Args`; ``amlses check`` validates the same specs statically.  No handler reads raw
attributes itself, so a misspelt attribute can never be silently ignored.  Whether an attribute
is secret is not declared here but read from the one list in :mod:`amlses.secrets`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

from ..errors import StepError
from ..expr import substitute
from ..lang.nodes import Attribute, Step
from ..secrets import SECRET_ATTRIBUTES, USERINFO_ATTRIBUTES, userinfo_password
from ..source import Position
from ..values import Value, to_text

if TYPE_CHECKING:
    from ..files import PathMap
    from ..runtime.context import Context

TEXT = "text"
NUMBER = "number"  # a whole number
BOOL = "bool"  # YES/NO
CHOICE = "choice"  # one of Attr.choices, case-insensitive
NAME = "name"  # a variable/dataset/session name: %…% allowed, no type conversion
RAW = "raw"  # kept as written (expressions evaluated by the handler itself, e.g. EXPRESSION)

#: what an attribute's value names, for ``check`` to know what later steps may read
DATASET = "dataset"
VARIABLE = "variable"

_TRUE = {"yes", "true", "1", "on"}
_FALSE = {"no", "false", "0", "off", ""}


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute an activity accepts."""

    name: str
    kind: str = TEXT
    required: bool = False
    default: Value | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    doc: str = ""
    extension: bool = False  # an amlses addition Automate does not have
    #: DATASET or VARIABLE when the value names something the step creates
    output: str = ""
    #: the value is a task file this step runs (its secrets are registered before the run)
    subtask: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def secret(self) -> bool:
        """Whether the value is a secret: decided by the one list in :mod:`amlses.secrets`."""
        return self.name in SECRET_ATTRIBUTES


def describe_choices(choices: tuple[str, ...]) -> str:
    return ", ".join(f'"{choice}"' for choice in choices)


def convert(attr: Attr, value: Value) -> Value:
    """Convert an evaluated value to the attribute's type; raise ValueError with a reason."""
    if attr.kind in (TEXT, NAME, RAW):
        return value if isinstance(value, str) else to_text(value)
    text = to_text(value).strip()
    if attr.kind == NUMBER:
        if isinstance(value, bool):
            raise ValueError(f"{attr.name} must be a whole number, not {text}")
        try:
            number = int(float(text)) if text and float(text).is_integer() else int(text)
        except ValueError:
            raise ValueError(f'{attr.name} must be a whole number, not "{text}"') from None
        if attr.minimum is not None and number < attr.minimum:
            raise ValueError(f"{attr.name} must be at least {attr.minimum}, not {number}")
        if attr.maximum is not None and number > attr.maximum:
            raise ValueError(f"{attr.name} must be at most {attr.maximum}, not {number}")
        return number
    if attr.kind == BOOL:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f'{attr.name} must be YES or NO, not "{text}"')
    if attr.kind == CHOICE:
        lowered = text.lower()
        if lowered in attr.choices:
            return lowered
        hint = suggest(lowered, attr.choices)
        raise ValueError(
            f'{attr.name}="{text}" is not one of {describe_choices(attr.choices)}{hint}'
        )
    raise AssertionError(f"unknown attribute kind {attr.kind}")


def closest(word: str, candidates: Any) -> str | None:
    """The candidate closest to ``word`` (any case), or None when nothing is close."""
    lowered = {str(c).lower(): str(c) for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def suggest(word: str, candidates: Any) -> str:
    """A ' (did you mean "X"?)' suffix for ``word``, or ""."""
    close = closest(word, candidates)
    return f' (did you mean "{close}"?)' if close else ""


class Args(Mapping[str, "Value | None"]):
    """The bound, converted attributes of one step, keyed by the spec's canonical name.

    Absent optional attributes map to their default (or ``None``); ``given`` says whether the
    step wrote an attribute at all, for the few activities where that matters.  The typed
    accessors say what a handler expects, so no handler needs ``str(...)`` or a cast: the spec
    already converted the value, and an accessor only states its type.
    """

    def __init__(self, values: dict[str, Value | None], given: frozenset[str]) -> None:
        self._values = values
        self.given = given

    def __getitem__(self, key: str) -> Value | None:
        return self._values[key.upper()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, name: str) -> str:
        """A text, NAME or CHOICE attribute; "" when absent without a default."""
        value = self._values[name.upper()]
        if value is None:
            return ""
        return value if isinstance(value, str) else to_text(value)

    @overload
    def number(self, name: str) -> int | None: ...

    @overload
    def number(self, name: str, default: int) -> int: ...

    def number(self, name: str, default: int | None = None) -> int | None:
        """A NUMBER attribute; ``default`` (else None) when absent without a spec default."""
        value = self._values[name.upper()]
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(f"{name} is not a number attribute")  # a spec/handler mismatch

    def flag(self, name: str) -> bool:
        """A BOOL attribute (YES/NO); False when absent without a default."""
        return bool(self._values[name.upper()])


Handler = Callable[["Context", Step, Args], Any]


class StaticCheck(Protocol):
    """What an activity's static-check hook may use of ``amlses check`` (:class:`~amlses.check.
    Checker`): report a problem, the session names opened so far in the task, the run's path
    map, and whether the check is ``thorough`` (``amlses check`` also looks at the files and
    data a step names; a run finds those at the step, where an earlier step may create them)."""

    sessions: set[str]
    path_map: PathMap | None
    thorough: bool

    def problem(
        self, message: str, position: Position, step: Step | None, severity: str = "error"
    ) -> None:
        """Report a problem at ``position``."""


#: an activity's own static check, run by ``amlses check`` after the generic attribute checks
CheckHook = Callable[[StaticCheck, Step], None]


@dataclass(frozen=True, slots=True)
class Activity:
    """One ``ACTIVITY`` of an element (or the element itself when it has no activities)."""

    element: str
    name: str
    attrs: tuple[Attr, ...]
    handler: Handler
    doc: str = ""
    extension: bool = False
    block: bool = False  # runs a body (AMIF / AMLOOP): the handler drives the runner
    #: a block that repeats its body: a break inside it is in a loop, and its expressions are
    #: always full BASIC (the vendor's loop samples write ``EXPRESSION="mycounter=5"``)
    loop: bool = False
    #: only meaningful inside a loop (break): ``check`` refuses it elsewhere
    needs_loop: bool = False
    #: "define" for a label target, "goto" for a jump; the label's attribute is ``label_attr``
    label: str = ""
    label_attr: str = ""
    #: (name attribute, value attribute) of a step that stores a value in a variable, for the
    #: loader's secret tracking (a variable later used as SECRETKEY is masked from the start)
    assigns: tuple[str, str] | None = None
    check: CheckHook | None = None
    #: sends mail: a timeout leaves its outcome unknown, so AM_RETRY must not repeat it
    sends: bool = False
    _index: dict[str, Attr] = field(default_factory=dict, compare=False, repr=False)
    _defaults: dict[str, Value | None] = field(default_factory=dict, compare=False, repr=False)
    _required: tuple[Attr, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for attr in self.attrs:
            self._defaults[attr.name] = attr.default
            for name in attr.names:
                self._index[name] = attr
        object.__setattr__(self, "_required", tuple(a for a in self.attrs if a.required))

    def attr(self, name: str) -> Attr | None:
        """The spec for attribute ``name`` or one of its aliases (any case)."""
        return self._index.get(name.upper())

    @property
    def secrets(self) -> tuple[Attr, ...]:
        """The attributes of this activity whose values are secrets."""
        return tuple(a for a in self.attrs if a.secret)

    def label_of(self, step: Step) -> str | None:
        """The label a label or goto step names (as written), or None for other steps."""
        if not self.label:
            return None
        attr = self.attr(self.label_attr)
        found = self.lookup(step, attr) if attr is not None else None
        return found.value if found is not None else ""

    def lookup(self, step: Step, attr: Attr) -> Attribute | None:
        """The attribute of ``step`` that supplies ``attr`` (first spelling found)."""
        for name in attr.names:
            found = step.get(name)
            if found is not None:
                return found
        return None

    def supplied(self, step: Step) -> dict[str, tuple[Attr, Attribute]]:
        """The declared attributes ``step`` writes, by canonical name (first spelling wins).

        Walks the step's own attributes, not the spec's, so the cost follows what the step
        writes rather than everything the activity could accept.
        """
        found: dict[str, tuple[Attr, Attribute]] = {}
        for attribute in step.attributes:
            attr = self._index.get(attribute.name)
            if attr is not None and attr.name not in found:
                found[attr.name] = (attr, attribute)
        return found

    def _plan(self, context: Context, step: Step) -> tuple[tuple[Attr, Attribute], ...]:
        """What :meth:`supplied` says, worked out once per step and run (loops repeat steps)."""
        cached = context.plans.get(id(step))
        if cached is not None and cached[0] is step:
            return cached[1]  # type: ignore[no-any-return]
        plan = tuple(self.supplied(step).values())
        context.plans[id(step)] = (step, plan)
        return plan

    def bind(self, context: Context, step: Step) -> Args:
        """Evaluate and convert every declared attribute of ``step``.

        Raises StepError (ExpressionError for a bad ``%…%``) naming the attribute.
        """
        values = dict(self._defaults)
        given: set[str] = set()
        for attr, attribute in self._plan(context, step):
            given.add(attr.name)
            raw = attribute.value
            if attr.kind == RAW:
                values[attr.name] = raw
                continue
            value = substitute(raw, context, attribute.position) if "%" in raw else raw
            if attr.secret:
                # Literal tokens were decrypted by the loader; one that arrives through a
                # %variable% is decrypted here, and its plain value masked from now on.
                value = context.options.vault.reveal(to_text(value), attr.name)
                context.redactor.add(value)
            elif attr.name in USERINFO_ATTRIBUTES:
                context.redactor.add(userinfo_password(to_text(value)))
            if attr.required and to_text(value).strip() == "":
                raise StepError(
                    f"the required attribute {attr.name} is empty", position=attribute.position
                )
            try:
                values[attr.name] = convert(attr, value)
            except ValueError as exc:
                raise StepError(str(exc), position=attribute.position) from None
        for attr in self._required:
            if attr.name not in given:
                raise StepError(f"the required attribute {attr.name} is missing")
        return Args(values, frozenset(given))

"""Declarative attribute specs: one description drives both conversion and ``check``.

Each activity declares its attributes (name, type, default, required, secret, aliases, option
values).  At run time :meth:`Activity.bind` evaluates ``%…%`` and converts every value from
those specs; ``amlses check`` validates the same specs statically.  No handler reads raw
attributes itself, so a misspelt attribute can never be silently ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StepError
from ..expressions import Value, substitute, to_text
from ..nodes import Attribute, Step

if TYPE_CHECKING:
    from ..runtime import Context

TEXT = "text"
NUMBER = "number"  # a whole number
BOOL = "bool"  # YES/NO
CHOICE = "choice"  # one of Attr.choices, case-insensitive
NAME = "name"  # a variable/dataset/session name: %…% allowed, no type conversion
RAW = "raw"  # kept as written (expressions evaluated by the handler itself, e.g. EXPRESSION)

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
    secret: bool = False
    minimum: int | None = None
    maximum: int | None = None
    doc: str = ""
    extension: bool = False  # an amlses addition Automate does not have

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


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


class Args(Mapping[str, Value]):
    """The bound, converted attributes of one step, keyed by the spec's canonical name.

    Absent optional attributes map to their default (or ``None``); ``given`` says whether the
    step wrote an attribute at all, for the few activities where that matters.
    """

    def __init__(self, values: dict[str, Value | None], given: frozenset[str]) -> None:
        self._values = values
        self.given = given

    def __getitem__(self, key: str) -> Any:
        return self._values[key.upper()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


Handler = Callable[["Context", Step, Args], Any]


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
            if attr.secret and isinstance(value, str):
                context.redactor.add(value)
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

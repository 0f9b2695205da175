"""The action registry: element name + ACTIVITY -> :class:`~amlses.actions.spec.Activity`.

It is the only place that knows elements.  Handler modules register their activities at import
(like Jinja's ``FILTERS``) through :func:`activity`; the runner dispatches through :func:`find`,
never through an if-chain; ``check``, the parser's :func:`grammar`, labels, output and the
loader's secret tracking all read what the activities declare here.  Steps amlses knows of but
cannot run are declared with :func:`unsupported`, so ``check`` names them instead of calling
them unknown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..lang.grammar import Grammar
from ..lang.nodes import Step
from ..runtime.onerror import POLICY_ATTRIBUTES
from .spec import Activity, Attr, CheckHook, Handler, closest, suggest

#: attributes every step accepts: Automate's Error Causes / On Error tabs (aml-core.md §5)
COMMON_ATTRS: tuple[Attr, ...] = (
    *(Attr(name, doc=doc) for name, doc in POLICY_ATTRIBUTES.items()),
    Attr("DESCRIPTION", doc="free text shown with the step"),
)


@dataclass
class Element:
    """An AML element (``AMAWSSES``) and its activities.

    ``legacy_attr`` names an older selector read when ``ACTIVITY`` is absent (``TYPE`` on
    ``AMLOOP``).  The activity named "" is the one used when the step names none.  A block
    element may name a ``divider`` (``AMELSE`` starts an If's other branch) and legacy
    ``end_tags`` that close it (``AMENDIF``).
    """

    name: str
    activities: dict[str, Activity] = field(default_factory=dict)
    legacy_attr: str | None = None
    extension: bool = False
    divider: str | None = None
    end_tags: tuple[str, ...] = ()
    #: a static check for every step of this element (after the activity's own)
    check: CheckHook | None = None

    def activity_of(self, step: Step) -> str:
        """The lower-cased activity a step selects (ACTIVITY, else the legacy attribute)."""
        chosen = step.activity
        if not chosen and self.legacy_attr:
            chosen = step.value(self.legacy_attr).strip().lower()
        return chosen

    def written_activity(self, step: Step) -> str:
        """The activity as the step writes it (for step lines): ACTIVITY or the legacy one."""
        written = step.value("ACTIVITY")
        if not written and self.legacy_attr:
            written = step.value(self.legacy_attr)
        return written


ELEMENTS: dict[str, Element] = {}
#: (element, activity or None for all) -> why amlses cannot run it
UNSUPPORTED: dict[tuple[str, str | None], str] = {}


class UnknownStep(LookupError):
    """The step's element or activity is not known; ``str()`` says what is, with a hint."""


def element(
    name: str,
    *,
    legacy_attr: str | None = None,
    extension: bool = False,
    divider: str | None = None,
    end_tags: tuple[str, ...] = (),
    check: CheckHook | None = None,
) -> Element:
    """Declare an element (idempotent: later declarations add what they name)."""
    key = name.upper()
    found = ELEMENTS.get(key)
    if found is None:
        found = ELEMENTS[key] = Element(key, legacy_attr=legacy_attr, extension=extension)
    found.legacy_attr = found.legacy_attr or legacy_attr
    found.divider = found.divider or divider
    found.end_tags = found.end_tags or end_tags
    found.check = found.check or check
    _grammar.cache_clear()
    return found


def activity(
    element_name: str,
    name: str,
    *attrs: Attr,
    doc: str = "",
    extension: bool = False,
    block: bool = False,
    loop: bool = False,
    needs_loop: bool = False,
    label: str = "",
    label_attr: str = "",
    assigns: tuple[str, str] | None = None,
    check: CheckHook | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``<ELEMENT ACTIVITY="name">``.

    The keywords declare what kind of step it is (see :class:`~amlses.actions.spec.Activity`);
    everything that must know about elements reads them from here.
    """

    def register(handler: Handler) -> Handler:
        target = element(element_name)
        spec = Activity(
            target.name,
            name,
            (*attrs, *COMMON_ATTRS),
            handler,
            doc=doc or (handler.__doc__ or "").strip().splitlines()[0],
            extension=extension,
            block=block or loop,
            loop=loop,
            needs_loop=needs_loop,
            label=label,
            label_attr=label_attr,
            assigns=assigns,
            check=check,
        )
        for key in (name, *aliases):
            target.activities[key.lower()] = spec
        _grammar.cache_clear()
        return handler

    return register


def unsupported(element_name: str, activity_name: str | None, reason: str) -> None:
    """Declare an Automate step amlses knows of but cannot run, and why (``needs a desktop``)."""
    UNSUPPORTED[(element_name.upper(), activity_name)] = reason


def unsupported_reason(step: Step) -> str | None:
    """Why a step amlses knows of cannot run here, or None."""
    return UNSUPPORTED.get((step.name, step.activity)) or UNSUPPORTED.get((step.name, None))


def find(step: Step) -> Activity:
    """The activity a step runs; raise :class:`UnknownStep` with a "did you mean"."""
    target = ELEMENTS.get(step.name)
    if target is None:
        close = closest(step.name, ELEMENTS)
        hint = f" (did you mean <{close}>?)" if close else ""
        raise UnknownStep(f"unknown element <{step.name}>{hint}")
    chosen = target.activity_of(step)
    found = target.activities.get(chosen)
    if found is not None:
        return found
    names = sorted(a for a in target.activities if a)
    if not chosen:
        raise UnknownStep(f"<{step.name}> needs an ACTIVITY: one of {', '.join(names)}")
    if not names:
        raise UnknownStep(f'unknown activity "{chosen}" of <{step.name}>, which takes no ACTIVITY')
    hint = suggest(chosen, names)
    known = "" if hint else f"; known activities: {', '.join(names)}"
    raise UnknownStep(f'unknown activity "{chosen}" of <{step.name}>{hint}{known}')


def find_or_none(step: Step) -> Activity | None:
    """The activity a step runs, or None when it is unknown (check reports those)."""
    try:
        return find(step)
    except UnknownStep:
        return None


def label_defined(step: Step) -> str | None:
    """The label a step defines (``<AMLABEL LABELNAME="x" />``), or None."""
    spec = find_or_none(step)
    if spec is None or spec.label != "define":
        return None
    return spec.label_of(step)


def is_known_attribute(spec: Activity, name: str, element_spec: Element) -> bool:
    """Whether ``name`` is accepted on a step of this activity."""
    upper = name.upper()
    if upper == "ACTIVITY" or (element_spec.legacy_attr and upper == element_spec.legacy_attr):
        return True
    return spec.attr(upper) is not None


def describe(step: Step) -> str:
    """``AMAWSSES verify_identity``: the element and activity of a step, for a step line."""
    target = ELEMENTS.get(step.name)
    written = target.written_activity(step) if target else step.value("ACTIVITY")
    return f"{step.name} {written}".strip()


def activities() -> Iterator[Activity]:
    """Every registered activity once (aliases are not repeated)."""
    seen: set[int] = set()
    for target in ELEMENTS.values():
        for spec in target.activities.values():
            if id(spec) not in seen:
                seen.add(id(spec))
                yield spec


def grammar() -> Grammar:
    """The block grammar the parser needs, from what the activities declare."""
    return _grammar()


@functools.cache
def _grammar() -> Grammar:
    blocks = {spec.element for spec in activities() if spec.block}
    inline = {
        (target.name, key)
        for target in ELEMENTS.values()
        if target.name in blocks
        for key, spec in target.activities.items()
        if not spec.block
    }
    dividers = {t.divider: t.name for t in ELEMENTS.values() if t.divider}
    end_tags = {tag: t.name for t in ELEMENTS.values() for tag in t.end_tags}
    return Grammar(frozenset(blocks), frozenset(inline), dividers, end_tags)

"""The action registry: element name + ACTIVITY -> :class:`~amlses.actions.spec.Activity`.

Actions register themselves at import (like Jinja's ``FILTERS``) through :func:`activity`;
the runner dispatches through :func:`find`, never through an if-chain, and ``check`` reads the
same specs.  Importing this package imports every built-in action module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..nodes import Step
from ..onerror import POLICY_ATTRIBUTES
from .spec import Activity, Attr, Handler, closest, suggest

#: attributes every step accepts: Automate's Error Causes / On Error tabs (aml-core.md §5)
COMMON_ATTRS: tuple[Attr, ...] = (
    *(Attr(name, doc=doc) for name, doc in POLICY_ATTRIBUTES.items()),
    Attr("DESCRIPTION", doc="free text shown with the step"),
)


@dataclass
class Element:
    """An AML element (``AMAWSSES``) and its activities.

    ``legacy_attr`` names an older selector read when ``ACTIVITY`` is absent (``TYPE`` on
    ``AMLOOP``).  The activity named "" is the one used when the step names none.
    """

    name: str
    activities: dict[str, Activity] = field(default_factory=dict)
    legacy_attr: str | None = None
    extension: bool = False

    def activity_of(self, step: Step) -> str:
        """The lower-cased activity a step selects (ACTIVITY, else the legacy attribute)."""
        chosen = step.activity
        if not chosen and self.legacy_attr:
            chosen = step.value(self.legacy_attr).strip().lower()
        return chosen


ELEMENTS: dict[str, Element] = {}


class UnknownStep(LookupError):
    """The step's element or activity is not known; ``str()`` says what is, with a hint."""


def element(name: str, *, legacy_attr: str | None = None, extension: bool = False) -> Element:
    """Declare an element (idempotent)."""
    key = name.upper()
    if key not in ELEMENTS:
        ELEMENTS[key] = Element(key, legacy_attr=legacy_attr, extension=extension)
    return ELEMENTS[key]


def activity(
    element_name: str,
    name: str,
    *attrs: Attr,
    doc: str = "",
    extension: bool = False,
    block: bool = False,
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``<ELEMENT ACTIVITY="name">``."""

    def register(handler: Handler) -> Handler:
        target = element(element_name)
        spec = Activity(
            target.name,
            name,
            (*attrs, *COMMON_ATTRS),
            handler,
            doc=doc or (handler.__doc__ or "").strip().splitlines()[0],
            extension=extension,
            block=block,
        )
        for key in (name, *aliases):
            target.activities[key.lower()] = spec
        return handler

    return register


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


def is_known_attribute(spec: Activity, name: str, element_spec: Element) -> bool:
    """Whether ``name`` is accepted on a step of this activity."""
    upper = name.upper()
    if upper == "ACTIVITY" or (element_spec.legacy_attr and upper == element_spec.legacy_attr):
        return True
    return spec.attr(upper) is not None


def _load_builtin_actions() -> None:
    from . import core, flow, mail, ses, variables  # noqa: F401  (registration happens at import)


_load_builtin_actions()

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

from ..lang.grammar import Grammar, SavedTask
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
    ``AMLOOP``); ``implied`` maps an attribute to the activity a step that writes it but no
    selector means (``<AMIF LASTSTEP="failed">`` is If - Last step in AutoMate 7 and AWE).
    The activity named "" is the one used when the step names none.  A block element may name
    a ``divider`` (``AMELSE`` starts an If's other branch), legacy ``end_tags`` that close it
    (``AMENDIF``) and other elements whose end closes it (``closed_by``: the AutoMate 7
    ``<AMLOOPEXPRESSION>`` ends at ``</AMLOOP>``).
    """

    name: str
    activities: dict[str, Activity] = field(default_factory=dict)
    legacy_attr: str | None = None
    extension: bool = False
    divider: str | None = None
    end_tags: tuple[str, ...] = ()
    closed_by: tuple[str, ...] = ()
    implied: tuple[tuple[str, str], ...] = ()
    #: a static check for every step of this element (after the activity's own)
    check: CheckHook | None = None

    def activity_of(self, step: Step) -> str:
        """The lower-cased activity a step selects: ACTIVITY, else the legacy attribute, else
        the activity an ``implied`` attribute stands for."""
        chosen = step.activity
        if not chosen and self.legacy_attr:
            chosen = step.value(self.legacy_attr).strip().lower()
        if not chosen and step.get("ACTIVITY") is None:
            chosen = next((act for attr, act in self.implied if step.get(attr) is not None), "")
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
#: other Automate actions, by element name or (``prefix=True``) name prefix -> what they are
FOREIGN: dict[tuple[str, bool], Callable[[str], str | None]] = {}
#: the wrapper of a saved task file, once a handler module declares it
_SAVED: list[SavedTask] = []


class UnknownStep(LookupError):
    """The step's element or activity is not known; ``str()`` says what is, with a hint."""


def element(
    name: str,
    *,
    legacy_attr: str | None = None,
    extension: bool = False,
    divider: str | None = None,
    end_tags: tuple[str, ...] = (),
    closed_by: tuple[str, ...] = (),
    implied: tuple[tuple[str, str], ...] = (),
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
    found.closed_by = found.closed_by or tuple(n.upper() for n in closed_by)
    found.implied = found.implied or tuple((a.upper(), act.lower()) for a, act in implied)
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
    sends: bool = False,
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
            sends=sends,
        )
        for key in (name, *aliases):
            target.activities[key.lower()] = spec
        _grammar.cache_clear()
        return handler

    return register


def unsupported(element_name: str, activity_name: str | None, reason: str) -> None:
    """Declare an Automate step amlses knows of but cannot run, and why (``needs a desktop``)."""
    UNSUPPORTED[(element_name.upper(), activity_name)] = reason


def foreign(name: str, what: Callable[[str], str | None], *, prefix: bool = False) -> None:
    """Declare another Automate action (``AMFTP``), or a family of them by ``prefix``
    (``AMAWS``), that amlses does not run: ``what(element)`` says which action it is.

    An element amlses registers always wins over a family, so ``AMAWSSES`` stays the SES
    action while ``AMAWSS3`` is named as S3 instead of being offered "did you mean AMAWSSES".
    ``what`` returns None for a name that is no such action after all (a typo of one amlses
    runs), which then gets the usual "did you mean".
    """
    FOREIGN[(name.upper(), prefix)] = what


def foreign_action(name: str) -> str | None:
    """What another Automate action an unregistered element is, or None."""
    what = FOREIGN.get((name, False))
    if what is None:
        what = next(
            (w for (p, is_prefix), w in FOREIGN.items() if is_prefix and name.startswith(p)), None
        )
    return what(name) if what is not None else None


def saved_task(saved: SavedTask) -> None:
    """Declare the wrapper of a saved task file (``<AMTASK><AMTASKHEAD>…<AMFUNCTION>``)."""
    _SAVED[:] = [saved]
    _grammar.cache_clear()


def unsupported_reason(step: Step) -> str | None:
    """Why a step amlses knows of cannot run here, or None (the activity read as the element
    selects it, so the legacy ``TYPE="ARRAY"`` finds what ``ACTIVITY="array"`` would)."""
    target = ELEMENTS.get(step.name)
    chosen = target.activity_of(step) if target is not None else step.activity
    return UNSUPPORTED.get((step.name, chosen)) or UNSUPPORTED.get((step.name, None))


def find(step: Step) -> Activity:
    """The activity a step runs; raise :class:`UnknownStep` with a "did you mean"."""
    target = ELEMENTS.get(step.name)
    if target is None:
        what = foreign_action(step.name)
        if what is not None:
            raise UnknownStep(
                f"<{step.name}> is Automate's {what}, which is not part of amlses "
                "(amlses runs the SES action)"
            )
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
    closed_by = {t.name: t.closed_by for t in ELEMENTS.values() if t.closed_by}
    saved = _SAVED[0] if _SAVED else None
    return Grammar(frozenset(blocks), frozenset(inline), dividers, end_tags, closed_by, saved)

"""``amlses doc``: the reference of every element, activity and attribute, read from the registry.

A newcomer's first question is "what can I write?", and a hand-written table would drift from
the code the day someone adds an activity.  So everything here is computed from
:mod:`amlses.actions` at call time — the activities each handler module registers, their
attribute specs, the steps declared unsupported — into plain frozen dataclasses.  The text
renderers and ``--json`` both read those same objects, so the two outputs cannot disagree
either.

A few things the registry states only indirectly are worked out here, from what it does state:

* an activity's *aliases* are the other keys its element registers it under (``copy`` for the
  File System default activity, ``remove`` for ``delete``);
* a *legacy form* is a step that runs the same handler as another element's activity
  (``<AMSET>`` runs Variable - Set, ``<AMLOOPEXPRESSION>`` runs Loop - Expression).  Of the steps
  sharing a handler, the current form is the one documented by the handler's own docstring (a
  legacy registration passes its own ``doc=``), and, failing that, the one on the element with
  the most activities;
* the one-line doc is the registry's, except that when the registry cut the docstring's first
  line mid-sentence the whole first paragraph is used, and reST ``literals`` become plain text.

The common error-handling attributes (``registry.COMMON_ATTRS``) are left out of each table
and named once, since every step takes them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass

from . import actions
from .actions.registry import UNSUPPORTED, foreign_action
from .actions.spec import BOOL, CHOICE, NAME, NUMBER, RAW, Activity, Attr, closest, suggest
from .errors import UsageError
from .values import to_text

#: how each attribute kind reads in a table (CHOICE and NUMBER add their choices and bounds)
_KIND_TEXT = {BOOL: "YES/NO", NAME: "name", RAW: "as written"}
#: what the table says for an activity written without ACTIVITY (the element's default)
NO_ACTIVITY = "(no ACTIVITY)"


@dataclass(frozen=True)
class AttrDoc:
    """One attribute row: everything a table (or a tool) shows about it."""

    name: str
    aliases: tuple[str, ...]
    #: the kind (text, number, YES/NO, choice, name, as written) with choices and bounds
    type: str
    kind: str
    choices: tuple[str, ...]
    minimum: int | None
    maximum: int | None
    #: the default as text ("" when there is none)
    default: str
    required: bool
    secret: bool
    #: an amlses addition: Automate does not accept it (on this activity)
    extension: bool
    #: "dataset" or "variable" when the value names something the step creates
    creates: str
    doc: str


@dataclass(frozen=True)
class ActivityDoc:
    """One activity: its one-line doc, what kind of step it is, and its attributes."""

    element: str
    #: the activity as ``ACTIVITY=`` writes it; "" for the element's default activity
    name: str
    #: the other ``ACTIVITY`` values that select it ("" among them: it is the default)
    aliases: tuple[str, ...]
    default: bool
    doc: str
    extension: bool
    block: bool
    loop: bool
    needs_loop: bool
    #: for a legacy form, the current step it stands for (``AMVARIABLE set``), else ""
    legacy_of: str
    attributes: tuple[AttrDoc, ...]

    @property
    def label(self) -> str:
        """How the activity is written in a listing: its name, else its first alias."""
        return self.name or next((a for a in self.aliases if a), NO_ACTIVITY)


@dataclass(frozen=True)
class ElementDoc:
    """One element with its activities, and the older ways of writing it."""

    name: str
    extension: bool
    #: the older attribute that selects the activity when ACTIVITY is absent (AMLOOP's TYPE)
    legacy_selector: str
    #: attributes that select an activity by being written (``LASTSTEP`` means last_step)
    implied: tuple[tuple[str, str], ...]
    #: older end tags that close the block (``AMENDLOOP``)
    end_tags: tuple[str, ...]
    activities: tuple[ActivityDoc, ...]


@dataclass(frozen=True)
class Refused:
    """A step amlses knows of and refuses to run, with why."""

    element: str
    #: "" when the whole element is refused
    activity: str
    reason: str


@dataclass(frozen=True)
class Reference:
    """What ``amlses doc`` lists: every element, the refused steps, the common attributes."""

    elements: tuple[ElementDoc, ...]
    refused: tuple[Refused, ...]
    common_attributes: tuple[AttrDoc, ...]


# -- building the reference from the registry ------------------------------------------------


def _plain(text: str) -> str:
    """reST literals as plain text: ``MODE="folder"`` reads as MODE="folder" in a terminal."""
    return text.replace("``", "")


def _one_line(spec: Activity) -> str:
    """The activity's one-line doc; the docstring's first paragraph when the registry's line
    stops mid-sentence (it takes the docstring's first line, which may wrap)."""
    doc = spec.doc.strip()
    paragraph = " ".join(inspect.cleandoc(spec.handler.__doc__ or "").split("\n\n")[0].split())
    if doc and not doc.endswith((".", ")", ":")) and paragraph.startswith(doc):
        doc = paragraph
    return _plain(doc)


def _type_of(attr: Attr) -> str:
    if attr.kind == CHOICE:
        return "one of " + "|".join(attr.choices)
    if attr.kind == NUMBER:
        if attr.minimum is not None and attr.maximum is not None:
            return f"number {attr.minimum}..{attr.maximum}"
        if attr.minimum is not None:
            return f"number >= {attr.minimum}"
        if attr.maximum is not None:
            return f"number <= {attr.maximum}"
        return "number"
    return _KIND_TEXT.get(attr.kind, attr.kind)


def _default_of(attr: Attr) -> str:
    if attr.default is None:
        return ""
    if attr.kind == BOOL and isinstance(attr.default, bool):
        return "YES" if attr.default else "NO"
    return to_text(attr.default)


def attr_doc(attr: Attr, *, extension: bool = False) -> AttrDoc:
    """The row for ``attr``; ``extension`` marks it as amlses-only whatever it declares (every
    attribute of an extension activity is one Automate would not accept there)."""
    return AttrDoc(
        name=attr.name,
        aliases=attr.aliases,
        type=_type_of(attr),
        kind=attr.kind,
        choices=attr.choices,
        minimum=attr.minimum,
        maximum=attr.maximum,
        default=_default_of(attr),
        required=attr.required,
        secret=attr.secret,
        extension=attr.extension or extension,
        creates=attr.output,
        doc=_plain(attr.doc),
    )


def _first_line(spec: Activity) -> str:
    """The first line of the handler's docstring: the registry's doc when none was given."""
    lines = (spec.handler.__doc__ or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _current_forms() -> dict[int, Activity]:
    """For each legacy activity (by ``id``), the current activity running the same handler."""
    by_handler: dict[object, list[Activity]] = {}
    for spec in actions.activities():
        by_handler.setdefault(spec.handler, []).append(spec)
    current: dict[int, Activity] = {}
    for specs in by_handler.values():
        if len(specs) < 2:
            continue
        own = {id(spec): spec.doc.strip() == _first_line(spec) for spec in specs}
        primary = max(
            specs,
            key=lambda s: (
                own[id(s)],
                len(set(map(id, actions.ELEMENTS[s.element].activities.values()))),
            ),
        )
        current.update({id(spec): primary for spec in specs if spec is not primary})
    return current


def _step_name(spec: Activity) -> str:
    """``AMVARIABLE set``, ``AMTASK start``: a step as a listing labels it."""
    keys = [k for k, found in actions.ELEMENTS[spec.element].activities.items() if found is spec]
    return f"{spec.element} {spec.name.lower() or next((k for k in keys if k), '')}".strip()


def _activity_doc(spec: Activity, current: dict[int, Activity]) -> ActivityDoc:
    target = actions.ELEMENTS[spec.element]
    keys = [key for key, found in target.activities.items() if found is spec]
    extension = spec.extension or target.extension
    primary = current.get(id(spec))
    return ActivityDoc(
        element=spec.element,
        name=spec.name.lower(),
        aliases=tuple(key for key in keys if key != spec.name.lower() and key),
        default="" in keys,
        doc=_one_line(spec),
        extension=extension,
        block=spec.block,
        loop=spec.loop,
        needs_loop=spec.needs_loop,
        legacy_of=_step_name(primary) if primary is not None else "",
        attributes=tuple(
            attr_doc(attr, extension=extension)
            for attr in spec.attrs
            if attr not in actions.COMMON_ATTRS
        ),
    )


def _unique(specs: Iterable[Activity]) -> list[Activity]:
    seen: set[int] = set()
    found = []
    for spec in specs:
        if id(spec) not in seen:
            seen.add(id(spec))
            found.append(spec)
    return found


def _element_doc(name: str, current: dict[int, Activity]) -> ElementDoc:
    target = actions.ELEMENTS[name]
    return ElementDoc(
        name=target.name,
        extension=target.extension,
        legacy_selector=target.legacy_attr or "",
        implied=target.implied,
        end_tags=target.end_tags,
        activities=tuple(
            _activity_doc(spec, current) for spec in _unique(target.activities.values())
        ),
    )


def common_attributes() -> tuple[AttrDoc, ...]:
    """The attributes every step takes (Automate's error handling, and DESCRIPTION)."""
    return tuple(attr_doc(attr) for attr in actions.COMMON_ATTRS)


def reference() -> Reference:
    """Everything amlses runs and refuses, elements sorted by name."""
    current = _current_forms()
    return Reference(
        elements=tuple(_element_doc(name, current) for name in sorted(actions.ELEMENTS)),
        refused=tuple(
            Refused(element, activity or "", reason)
            for (element, activity), reason in sorted(
                UNSUPPORTED.items(), key=lambda item: (item[0][0], item[0][1] or "")
            )
        ),
        common_attributes=common_attributes(),
    )


def _element_key(name: str) -> str:
    """``<amawsses>``, ``AMAWSSES``, ``amawsses`` all name AMAWSSES."""
    return name.strip().strip("<>/").strip().upper()


def element_doc(name: str) -> ElementDoc:
    """The element ``name`` (any case); UsageError with a hint for an unknown one."""
    key = _element_key(name)
    if key not in actions.ELEMENTS:
        reason = UNSUPPORTED.get((key, None))
        if reason is not None:
            raise UsageError(f"amlses does not run <{key}>: it {reason}")
        what = foreign_action(key)
        if what is not None:
            raise UsageError(f"<{key}> is Automate's {what}, which is not part of amlses")
        close = closest(key, actions.ELEMENTS)
        hint = f' (did you mean "{close}"?)' if close else ""
        raise UsageError(f'unknown element "{name}"{hint}; `amlses doc` lists every element')
    return _element_doc(key, _current_forms())


def activity_doc(element: str, activity: str) -> ActivityDoc:
    """The activity ``activity`` of ``element`` (both any case; "" is the default activity)."""
    found = element_doc(element)
    key = activity.strip().lower()
    for candidate in found.activities:
        if key == candidate.name or key in candidate.aliases:
            return candidate
    reason = UNSUPPORTED.get((found.name, key))
    if reason is not None:
        raise UsageError(f'amlses does not run <{found.name} ACTIVITY="{key}">: it {reason}')
    names = sorted(n for a in found.activities for n in (a.name, *a.aliases) if n)
    if not names:
        raise UsageError(f'unknown activity "{activity}" of <{found.name}>: it takes no ACTIVITY')
    if not key:
        raise UsageError(f"<{found.name}> needs an ACTIVITY: one of {', '.join(names)}")
    hint = suggest(key, names)
    known = "" if hint else f"; its activities: {', '.join(names)}"
    raise UsageError(f'unknown activity "{activity}" of <{found.name}>{hint}{known}')


# -- rendering -------------------------------------------------------------------------------


def to_json(document: Reference | ElementDoc | ActivityDoc) -> str:
    """The same objects the text shows, as one JSON document (for editors and other tools).

    ``kind`` says which of the three it is; an element or activity carries the common
    attributes too, as its text ends by naming them.
    """
    kind = {Reference: "reference", ElementDoc: "element", ActivityDoc: "activity"}
    payload: dict[str, object] = {"kind": kind[type(document)], **dataclasses.asdict(document)}
    if not isinstance(document, Reference):
        payload["common_attributes"] = [dataclasses.asdict(a) for a in common_attributes()]
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _other_spellings(activity: ActivityDoc) -> list[str]:
    """The ACTIVITY values that select ``activity`` besides its label."""
    return [a for a in (activity.name, *activity.aliases) if a and a != activity.label]


def _marks(activity: ActivityDoc) -> str:
    marks = []
    if activity.extension:
        marks.append("amlses extension")
    if activity.legacy_of:
        marks.append(f"legacy form of {activity.legacy_of}")
    if activity.default and activity.label != NO_ACTIVITY:
        marks.append("the default: ACTIVITY may be left out")
    marks += [f"also ACTIVITY={alias}" for alias in _other_spellings(activity)]
    return f"  [{'; '.join(marks)}]" if marks else ""


def _element_head(element: ElementDoc) -> str:
    notes = []
    if element.extension:
        notes.append("amlses extension")
    if element.legacy_selector:
        notes.append(f"older steps select the activity with {element.legacy_selector}=")
    notes += [f"{attr}= alone means {act}" for attr, act in element.implied]
    if element.end_tags:
        notes.append("also closed by " + ", ".join(f"<{tag}>" for tag in element.end_tags))
    return f"<{element.name}>" + (f"  ({'; '.join(notes)})" if notes else "")


def _activity_lines(element: ElementDoc) -> list[str]:
    width = max(len(a.label) for a in element.activities)
    return [f"  {a.label:<{width}}  {a.doc}{_marks(a)}" for a in element.activities]


def _common_note(common: tuple[AttrDoc, ...]) -> str:
    names = ", ".join(attr.name for attr in common)
    return f"Every step also takes the common attributes: {names}."


def render_reference(document: Reference) -> str:
    """The listing: each element and its activities, one line each, then the refused steps."""
    lines = ["Elements and activities amlses runs (amlses doc ELEMENT [ACTIVITY] for attributes):"]
    for element in document.elements:
        lines += ["", _element_head(element), *_activity_lines(element)]
    if document.refused:
        lines += ["", "Steps amlses refuses:"]
        labels = [
            f"<{r.element}" + (f' ACTIVITY="{r.activity}"' if r.activity else "") + ">"
            for r in document.refused
        ]
        width = max(map(len, labels))
        lines += [
            f"  {label:<{width}}  {r.reason}"
            for label, r in zip(labels, document.refused, strict=True)
        ]
    lines += ["", _common_note(document.common_attributes)]
    return "\n".join(lines)


def render_element(element: ElementDoc, common: tuple[AttrDoc, ...]) -> str:
    """One element's activities; with a single activity, its attribute table as well."""
    if len(element.activities) == 1:
        head = _element_head(element)
        table = render_activity(element.activities[0], common)
        return table if head == f"<{element.name}>" else f"{head}\n{table}"
    lines = [_element_head(element), *_activity_lines(element)]
    lines += ["", f"amlses doc {element.name} ACTIVITY shows an activity's attributes."]
    if any(activity.label == NO_ACTIVITY for activity in element.activities):
        lines.append(f"amlses doc {element.name} '' shows the one a step without ACTIVITY runs.")
    return "\n".join(lines)


_COLUMNS = ("ATTRIBUTE", "TYPE", "DEFAULT", "REQUIRED", "SECRET", "FROM", "MEANING")


def _row(attr: AttrDoc) -> tuple[str, ...]:
    name = " / ".join((attr.name, *attr.aliases))
    meaning = attr.doc
    if attr.creates:
        meaning = f"{meaning} (creates a {attr.creates})".lstrip()
    return (
        name,
        attr.type,
        attr.default,
        "required" if attr.required else "",
        "secret" if attr.secret else "",
        "amlses" if attr.extension else "Automate",
        meaning,
    )


def render_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        lines.append(f"{'  '.join(cells)}  {row[-1]}".rstrip())
    return lines


def render_activity(activity: ActivityDoc, common: tuple[AttrDoc, ...]) -> str:
    """An activity's heading, its kind of step, and its attribute table."""
    title = f"<{activity.element}>"
    if activity.label != NO_ACTIVITY:
        title = f'<{activity.element} ACTIVITY="{activity.label}">'
    lines = [f"{title}  {activity.doc}"]
    facts = []
    if activity.extension:
        facts.append("An amlses extension: Automate cannot run it.")
    if activity.legacy_of:
        facts.append(f"The older form of {activity.legacy_of}.")
    if activity.loop:
        facts.append("A loop: its body runs once per pass.")
    elif activity.block:
        facts.append("A block: it holds a body of steps.")
    if activity.needs_loop:
        facts.append("Allowed only inside a loop.")
    if activity.default and activity.label != NO_ACTIVITY:
        facts.append("The default activity: ACTIVITY may be left out.")
    facts += [f"Also selected by ACTIVITY={alias}." for alias in _other_spellings(activity)]
    if facts:
        lines.append(" ".join(facts))
    lines.append("")
    if activity.attributes:
        lines += render_table([_COLUMNS, *map(_row, activity.attributes)])
    else:
        lines.append("No attributes of its own.")
    lines += ["", _common_note(common)]
    return "\n".join(lines)

"""The task tree the parser builds and the checker and runner walk.

The tree is deliberately generic: a :class:`Step` is one AML tag with its attributes, and a
:class:`Block` is a step with a body (``AMIF``, ``AMLOOP``).  What a step *means* is decided by
the action registry (:mod:`amlses.actions.registry`), so a new action never needs a new node class.
Nodes are frozen and compare by value, so parser tests can compare whole trees.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..secrets import MASK, is_secret_attribute
from ..source import Position, Source


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``NAME="value"`` pair: the name upper-cased, the value with entities decoded."""

    name: str
    value: str
    position: Position  # where the value starts (after the opening quote)
    written_name: str = field(default="", compare=False)
    name_position: Position | None = field(default=None, compare=False)

    @property
    def where(self) -> Position:
        """Where the attribute's name stands (for "unknown attribute" and the like)."""
        return self.name_position or self.position


@dataclass(frozen=True, slots=True)
class Step:
    """One AML step: an element such as ``<AMAWSSES ACTIVITY="list_identities" … />``.

    ``name`` is upper-cased (AML names are case-insensitive); ``text`` is the element's text
    body for the older forms that carry their value there (``<AMSET …>value</AMSET>``).
    """

    name: str
    attributes: tuple[Attribute, ...]
    position: Position
    text: str | None = None
    # name -> attribute, built once: steps in a loop are looked up thousands of times
    _index: dict[str, Attribute] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {a.name: a for a in reversed(self.attributes)})

    def get(self, name: str) -> Attribute | None:
        """The attribute called ``name`` (any case), or None."""
        return self._index.get(name.upper())

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether the step writes any of ``names`` (upper-case): one set test, not N lookups."""
        return not names.isdisjoint(self._index)

    def value(self, name: str, default: str = "") -> str:
        """The raw (unevaluated) value of attribute ``name``, or ``default``."""
        attribute = self.get(name)
        return attribute.value if attribute is not None else default

    @property
    def activity(self) -> str:
        """The lower-cased ``ACTIVITY`` of the step; "" when absent."""
        return self.value("ACTIVITY").strip().lower()

    @property
    def label(self) -> str:
        """How messages name the step: ``<AMAWSSES ACTIVITY="verify_identity">``."""
        activity = self.get("ACTIVITY")
        if activity is not None:
            return f'<{self.name} ACTIVITY="{activity.value}">'
        return f"<{self.name}>"

    def echo(self) -> str:
        """The step written back as AML with secret attribute values masked."""
        parts = [self.name]
        for attribute in self.attributes:
            value = MASK if is_secret_attribute(attribute.name) else attribute.value
            value = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            parts.append(f'{attribute.name}="{value}"')
        return "<" + " ".join(parts) + " />"


@dataclass(frozen=True, slots=True)
class Block(Step):
    """A step with a body: ``AMIF`` (``orelse`` after ``AMELSE``) or ``AMLOOP``.

    ``end`` is where the block was closed, in either form (``</AMIF>`` or
    ``<AMIF ACTIVITY="end" />``); ``else_position`` is where ``AMELSE`` stood, if anywhere.
    """

    body: tuple[Step, ...] = ()
    orelse: tuple[Step, ...] | None = None
    end: Position | None = None
    else_position: Position | None = None


@dataclass(frozen=True, slots=True)
class Function:
    """One ``<AMFUNCTION NAME="…">`` of a saved task file: its name, where it starts, its steps.

    Only the Main function runs (Automate starts a task there); the others are kept so that
    ``check`` can say they exist and ``--json`` can list them.
    """

    name: str
    position: Position
    body: tuple[Step, ...] = ()
    #: whether this is the function that runs (the first one named Main, in any case)
    runs: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """A parsed task file: its source (for error lines) and its top-level steps.

    A file saved by the Task Builder wraps its steps in ``<AMTASK>``: ``body`` is then the Main
    function's steps, ``header`` the attributes of its ``<AMTASKHEAD>`` and the elements in it
    (``TASKVERSION``), and ``functions`` every function in file order.  A bare step list has
    an empty header and no functions.
    """

    source: Source
    body: tuple[Step, ...]
    header: Mapping[str, str] = field(default_factory=dict, compare=False)
    functions: tuple[Function, ...] = ()

    def walk(self) -> Iterator[Step]:
        """Every step in document order, blocks before their bodies."""
        return walk(self.body)


def walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step of ``steps`` and of their bodies, in document order."""
    for step in steps:
        yield step
        if isinstance(step, Block):
            yield from walk(step.body)
            if step.orelse is not None:
                yield from walk(step.orelse)


def depth(steps: tuple[Step, ...]) -> int:
    """How deep blocks nest in ``steps`` (0: no block), without recursion: a tree the parser
    recovered from a refused file may nest thousands deep."""
    deepest = 0
    pending: list[tuple[Step, int]] = [(step, 1) for step in steps]
    while pending:
        step, level = pending.pop()
        if isinstance(step, Block):
            deepest = max(deepest, level)
            pending.extend((inner, level + 1) for inner in step.body)
            pending.extend((inner, level + 1) for inner in step.orelse or ())
    return deepest

"""Where things are in a task file.

Every node, attribute and error carries a :class:`Position` so that a message can say
``task.aml:12:5`` and show the offending line.  :class:`Source` keeps the text of a task file
so the line can be looked up when an error is rendered, long after parsing is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column inside a named file."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def shifted(self, text: str, offset: int) -> Position:
        """The position ``offset`` characters into ``text``, which starts at this position.

        Used to point at a ``%ref%`` inside an attribute value rather than at the attribute.
        """
        before = text[:offset]
        newlines = before.count("\n")
        if newlines:
            return Position(self.file, self.line + newlines, offset - before.rfind("\n"))
        return Position(self.file, self.line, self.column + offset)


@dataclass(frozen=True, slots=True)
class Source:
    """The name and full text of a task file."""

    name: str
    text: str
    _lines: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lines", tuple(self.text.splitlines()))

    def line(self, number: int) -> str:
        """The text of line ``number`` (1-based), or "" when out of range."""
        if 1 <= number <= len(self._lines):
            return self._lines[number - 1]
        return ""

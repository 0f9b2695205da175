"""What the parser must know about elements to build blocks: which ones open a body.

The parser sits below the action registry and never names an element itself.  The registry
builds a :class:`Grammar` from what each activity declares (``block=True``, an else marker, a
legacy closer, the elements of a saved task file) and the loader hands it to the parser, so a
new block element is one handler module, not a parser change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SavedTask:
    """The wrapper Automate's Task Builder writes around the steps of a saved task file.

    ``<WRAPPER><HEAD><INFO … /></HEAD><FUNCTION NAME="Main"> … </FUNCTION></WRAPPER>``: the
    head's attributes describe the task (``TASKVERSION``), each function holds steps, and
    Automate starts a task at its ``main`` function.  Names are upper-case.
    """

    wrapper: str
    head: str
    function: str
    name_attr: str = "NAME"
    main: str = "MAIN"


@dataclass(frozen=True)
class Grammar:
    """The block structure of AML as the registry declares it.

    ``blocks`` are the elements whose steps open a body (closed by ``</NAME>`` or
    ``<NAME ACTIVITY="end" />``), except the ``inline`` (element, activity) pairs, which are
    plain steps of a block element (``<AMLOOP ACTIVITY="break" />``).  A step of a block element
    whose activity is unknown still opens a body, so the file's structure is read right and
    ``check`` can name the unknown activity at its line.  ``dividers`` maps a marker that starts
    the other branch to the block it divides (``AMELSE`` -> ``AMIF``); ``end_tags`` maps legacy
    closers to the block they end (``AMENDIF`` -> ``AMIF``); ``closed_by`` maps a legacy block
    element to the other elements whose end closes it (``AMLOOPEXPRESSION`` is closed by
    ``</AMLOOP>``).  ``saved`` names the elements of a saved task file's wrapper, if any.
    """

    blocks: frozenset[str] = frozenset()
    inline: frozenset[tuple[str, str]] = frozenset()
    dividers: Mapping[str, str] = field(default_factory=dict)
    end_tags: Mapping[str, str] = field(default_factory=dict)
    closed_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    saved: SavedTask | None = None

    def opens(self, name: str, activity: str) -> bool:
        """Whether a step ``<name ACTIVITY="activity">`` opens a body."""
        return name in self.blocks and (name, activity) not in self.inline

    def closes(self, closer: str, opened: str) -> bool:
        """Whether the end of ``closer`` (``</AMLOOP>``) closes an open ``opened`` block."""
        return closer == opened or closer in self.closed_by.get(opened, ())

    def end_of(self, opened: str) -> str:
        """The element whose end tag a message should suggest for an open ``opened`` block."""
        others = self.closed_by.get(opened, ())
        return others[0] if others else opened

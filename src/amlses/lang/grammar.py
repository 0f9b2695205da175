"""What the parser must know about elements to build blocks: which ones open a body.

The parser sits below the action registry and never names an element itself.  The registry
builds a :class:`Grammar` from what each activity declares (``block=True``, an else marker, a
legacy closer) and the loader hands it to the parser, so a new block element is one handler
module, not a parser change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grammar:
    """The block structure of AML as the registry declares it.

    ``blocks`` are the elements whose steps open a body (closed by ``</NAME>`` or
    ``<NAME ACTIVITY="end" />``), except the ``inline`` (element, activity) pairs, which are
    plain steps of a block element (``<AMLOOP ACTIVITY="break" />``).  A step of a block element
    whose activity is unknown still opens a body, so the file's structure is read right and
    ``check`` can name the unknown activity at its line.  ``dividers`` maps a marker that starts
    the other branch to the block it divides (``AMELSE`` -> ``AMIF``); ``end_tags`` maps legacy
    closers to the block they end (``AMENDIF`` -> ``AMIF``).
    """

    blocks: frozenset[str] = frozenset()
    inline: frozenset[tuple[str, str]] = frozenset()
    dividers: Mapping[str, str] = field(default_factory=dict)
    end_tags: Mapping[str, str] = field(default_factory=dict)

    def opens(self, name: str, activity: str) -> bool:
        """Whether a step ``<name ACTIVITY="activity">`` opens a body."""
        return name in self.blocks and (name, activity) not in self.inline

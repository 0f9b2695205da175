"""What an evaluation reads: the :class:`Scope` names resolve through, and the clock.

Names are resolved through a scope into *value tokens*: a value is never pasted into the
expression text and parsed again, so an identity holding quotes, spaces, ``%`` or ``&`` cannot
change what an expression means.  The tree nodes, the built-in functions and the evaluator all
receive an :class:`Env`, so it sits below all of them.
"""

from __future__ import annotations

import datetime
from typing import Protocol, TypeAlias

from ..values import Fail, Value

#: what an expression node gives: a value, or the list only Split makes (never a final result)
Result: TypeAlias = Value | tuple[str, ...]


class Scope(Protocol):
    """Where names in expressions come from: the run's variables and dataset fields.

    ``resolve`` receives a name as written (``count``, ``IDList.Type``) and raises ``KeyError``
    when it does not exist; matching names case-insensitively is the scope's job.  A scope may
    also offer ``now() -> datetime`` so that ``Now()``, ``Date()`` and ``Time()`` use an injected
    clock (the runtime and tests do); without it the local clock is read.
    """

    def resolve(self, name: str) -> Value: ...


class Env:
    """What one evaluation reads: the scope, and the clock (the scope's ``now`` if it has one)."""

    __slots__ = ("scope", "_now")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._now: datetime.datetime | None = None

    def now(self) -> datetime.datetime:
        if self._now is None:  # one reading per evaluation, so Now() agrees with itself
            clock = getattr(self.scope, "now", None)
            moment = clock() if callable(clock) else datetime.datetime.now()
            if not isinstance(moment, datetime.datetime):
                raise Fail("the scope's clock did not give a date")
            self._now = moment.replace(microsecond=0, tzinfo=None)
        return self._now

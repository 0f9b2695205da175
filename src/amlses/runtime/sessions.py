"""Named SES sessions of one task run, and the host-based clients beside them.

A session has an explicit lifecycle (open -> ended), so misuse fails in one sentence that
names the session and the line involved (spec ``ses-action.md`` §4.3).  Host-based steps get a
:class:`~amlses.ses.SesSession` per distinct connection from the same cache, so a loop of
host-based steps costs what a session costs (§4.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SessionError
from ..source import Position

if TYPE_CHECKING:
    from ..aws.clients import ClientCache
    from ..aws.connection import Connection
    from ..ses import SesSession

DEFAULT_SESSION = "SESSession1"


@dataclass
class NamedSession:
    """A session opened by ``create_session``: its name, where, and whether it has ended."""

    name: str
    session: SesSession
    opened_at: Position | None
    ended_at: Position | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class Sessions:
    """The named sessions and host-based sessions of one run.

    Names are case-insensitive, like every AML name.
    """

    def __init__(self, cache: ClientCache) -> None:
        self.cache = cache
        self._named: dict[str, NamedSession] = {}
        self._host_based: dict[Connection, SesSession] = {}

    def open(self, name: str, connection: Connection, position: Position | None) -> SesSession:
        """Open session ``name``; reopening one that is open is an error."""
        from ..ses import SesSession

        key = name.lower()
        current = self._named.get(key)
        if current is not None and current.is_open:
            where = f" at {current.opened_at}" if current.opened_at else ""
            raise SessionError(
                f'session "{name}" is already open (created{where}); end it with '
                f'<AMAWSSES ACTIVITY="end_session" SESSION="{name}" /> or choose another name'
            )
        session = SesSession(connection, cache=self.cache)
        self._named[key] = NamedSession(name, session, position)
        return session

    def get(self, name: str) -> SesSession:
        """The open session ``name``; an unknown or ended session is an error."""
        current = self._named.get(name.lower())
        if current is None:
            raise SessionError(
                f'session "{name}" does not exist: create it first with '
                f'<AMAWSSES ACTIVITY="create_session" SESSION="{name}" … />'
            )
        if not current.is_open:
            raise SessionError(f'session "{name}" was ended at {current.ended_at}')
        return current.session

    def end(self, name: str, position: Position | None) -> None:
        """End session ``name`` (it must be open)."""
        self.get(name)
        current = self._named[name.lower()]
        current.session.close()
        current.ended_at = position

    def host_based(self, connection: Connection) -> SesSession:
        """The session for a host-based step's own connection settings (cached)."""
        session = self._host_based.get(connection)
        if session is None:
            from ..ses import SesSession

            session = self._host_based[connection] = SesSession(connection, cache=self.cache)
        return session

    def close_all(self) -> None:
        """Close whatever is still open when the task ends (quietly, spec §4.3)."""
        for current in self._named.values():
            if current.is_open:
                current.session.close()
        for session in self._host_based.values():
            session.close()
        self._host_based.clear()

    def open_names(self) -> list[str]:
        return [s.name for s in self._named.values() if s.is_open]

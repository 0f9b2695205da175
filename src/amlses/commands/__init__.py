"""Commands of the amlses CLI beyond run/check/secrets, one module each.

:data:`COMMANDS` names them: module name, then the name of the click command in it.  The CLI
adds each one at start-up (:func:`amlses.cli._add_commands`); a new command is one module here
and one line below, and no edit of ``cli.py``.
"""

from __future__ import annotations

from typing import Final

#: (module of this package, click command in it), in the order ``amlses --help`` lists them
COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("doc", "doc"),
    ("emulator", "emulator"),
    ("journal", "journal"),
    ("stats", "stats"),
    ("smtp_password", "smtp_password"),
)

"""The actions: the registry (:mod:`.registry`), attribute specs (:mod:`.spec`) and one handler
module per family of steps (``core``, ``flow``, ``variables``, ``ses``, ``mail``, ``bulk`` …).

Importing this package imports every handler module in it, so the registry is complete before
anything looks a step up; a new element or activity is one new module here plus its tests.
The registry's functions are re-exported, so callers write ``actions.find(step)``.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from .registry import (
    COMMON_ATTRS,
    ELEMENTS,
    Element,
    UnknownStep,
    activities,
    describe,
    find,
    find_or_none,
    grammar,
    is_known_attribute,
    label_defined,
    unsupported_reason,
)

__all__ = [
    "COMMON_ATTRS",
    "ELEMENTS",
    "Element",
    "UnknownStep",
    "activities",
    "describe",
    "find",
    "find_or_none",
    "grammar",
    "is_known_attribute",
    "label_defined",
    "unsupported_reason",
]

#: modules of this package that hold no handlers
_NOT_HANDLERS = frozenset({"registry", "spec"})


def _load_handlers() -> None:
    """Import every handler module (registration happens at import)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_HANDLERS and not info.name.startswith("_"):
            import_module(f"{__name__}.{info.name}")


_load_handlers()

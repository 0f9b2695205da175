"""``amlses.__version__``: the installed distribution's version, read from its metadata.

The version is written once, in ``pyproject.toml``; reading it back from the installed metadata
keeps ``amlses.__version__``, ``amlses --version`` and the package index in agreement.  A
source tree that was never installed has no metadata, so it reports ``0+unknown`` (a valid PEP
440 local version that sorts below every release) instead of failing to import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: what ``__version__`` is when amlses runs from a source tree that was never installed
UNKNOWN = "0+unknown"


def _installed_version() -> str:
    try:
        return version("amlses")
    except PackageNotFoundError:
        return UNKNOWN


__version__ = _installed_version()

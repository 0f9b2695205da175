"""Lazy re-exports for package ``__init__`` files (PEP 562).

``amlses``, ``amlses.aws``, ``amlses.mail`` and ``amlses.runtime`` re-export names from their
submodules so that public paths stay short, but importing a package must not import everything
in it: ``amlses --help`` must not load botocore, and a handler importing
``amlses.runtime.context`` must not drag in the runner above it.  A package hands its name map to
:func:`exports` and gets back its module ``__getattr__`` and ``__dir__``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module


def exports(
    package: str, names: Mapping[str, str], namespace: dict[str, object]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map each exported name
    to the module holding it (relative to the package, or absolute).  A name is imported on
    first use and then kept in ``namespace`` (the package's globals), so it is looked up once.
    """

    def __getattr__(name: str) -> object:  # noqa: N807 (the PEP 562 hook's own name)
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *names})

    return __getattr__, __dir__

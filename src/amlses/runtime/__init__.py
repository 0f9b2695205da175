"""Running a task: the run's :class:`Context` and settings, its datasets and SES sessions, step
error policies, and the :class:`Runner` that walks the tree.

``amlses.runtime`` is a public import path (``from amlses.runtime import RunOptions``).  Its
names are re-exported lazily (PEP 562) so that importing one submodule — the action handlers
import :mod:`.context` — never drags in the runner, which sits above the handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:
    from ..errors import BreakLoop, GotoLabel, StopTask
    from .context import (
        DEFAULT_MAX_ITERATIONS,
        MAX_SUBTASK_DEPTH,
        Context,
        NullReporter,
        Reporter,
        RunOptions,
        StepRunner,
        Variable,
    )
    from .datasets import Dataset
    from .runner import Runner, run, run_with_timeout

_EXPORTS = {
    "BreakLoop": "amlses.errors",
    "GotoLabel": "amlses.errors",
    "StopTask": "amlses.errors",
    "DEFAULT_MAX_ITERATIONS": "amlses.runtime.context",
    "MAX_SUBTASK_DEPTH": "amlses.runtime.context",
    "Context": "amlses.runtime.context",
    "NullReporter": "amlses.runtime.context",
    "Reporter": "amlses.runtime.context",
    "RunOptions": "amlses.runtime.context",
    "StepRunner": "amlses.runtime.context",
    "Variable": "amlses.runtime.context",
    "Dataset": "amlses.runtime.datasets",
    "Runner": "amlses.runtime.runner",
    "run": "amlses.runtime.runner",
    "run_with_timeout": "amlses.runtime.runner",
}

__all__ = [
    "BreakLoop",
    "Context",
    "DEFAULT_MAX_ITERATIONS",
    "Dataset",
    "GotoLabel",
    "MAX_SUBTASK_DEPTH",
    "NullReporter",
    "Reporter",
    "RunOptions",
    "Runner",
    "StepRunner",
    "StopTask",
    "Variable",
    "run",
    "run_with_timeout",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())

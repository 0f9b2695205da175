"""amlses: run Automate (AML) tasks that drive Amazon SES, and the same SES operations from Python.

The public API is re-exported here, and the export list is pinned by ``tests/test_api.py`` so
that a change to it is always deliberate.  Names are resolved on first use (PEP 562): importing
amlses loads neither boto3 nor moto, so ``amlses --help`` and ``amlses check`` start fast.
"""

from typing import TYPE_CHECKING

from .lazy import exports

_EXPORTS = {
    **dict.fromkeys(("RunResult", "check", "load", "parse", "run", "run_file"), ".api"),
    **dict.fromkeys(
        (
            "AmlError",
            "AmlSyntaxError",
            "AwsError",
            "ExpressionError",
            "Problem",
            "SessionError",
            "StepError",
            "TaskError",
            "UsageError",
        ),
        ".errors",
    ),
    "RunOptions": ".runtime.context",
    # not in __all__ (tests/test_api.py pins it), but importable as amlses.__version__
    "__version__": ".version",
    **dict.fromkeys(
        ("ClientCache", "Connection", "Identity", "SendDataPoint", "SendQuota", "SesSession"),
        ".ses",
    ),
}

if TYPE_CHECKING:
    from .api import RunResult, check, load, parse, run, run_file
    from .errors import (
        AmlError,
        AmlSyntaxError,
        AwsError,
        ExpressionError,
        Problem,
        SessionError,
        StepError,
        TaskError,
        UsageError,
    )
    from .runtime.context import RunOptions
    from .ses import ClientCache, Connection, Identity, SendDataPoint, SendQuota, SesSession
    from .version import __version__ as __version__

__all__ = [
    "AmlError",
    "AmlSyntaxError",
    "AwsError",
    "ClientCache",
    "Connection",
    "ExpressionError",
    "Identity",
    "Problem",
    "RunOptions",
    "RunResult",
    "SendDataPoint",
    "SendQuota",
    "SesSession",
    "SessionError",
    "StepError",
    "TaskError",
    "UsageError",
    "check",
    "load",
    "parse",
    "run",
    "run_file",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())

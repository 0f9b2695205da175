"""Step error handling: Automate's Error Causes and On Error tabs, as step attributes.

Every step may carry (spec ``aml-core.md`` §5): ``AM_ERRORS`` (only these codes count as
errors), ``AM_TIMEOUT``/``AM_TIMEOUTSCALE``, ``AM_RETRY``/``AM_RETRYDELAY`` (retry the whole
step, on top of MAXERRORRETRY's request retries), ``AM_SETVAR="Var;value"``, ``AM_RUNTASK``,
and the after-error choice ``AM_ONERROR="STOP|CONTINUE|BREAK|GOTO"`` (+ ``AM_ONERRORLABEL``).

The attribute name of the after-error choice is not in any stored Automate page: the community
convention ``AM_ONERROR`` is accepted (case-insensitively) and documented as inferred.
``AM_EMAIL`` and ``AM_WRITETOEVENTLOG`` are accepted; amlses cannot send that mail or write the
Windows event log, so it logs what it would have done.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AmlError, StepError
from ..expr import Scope, substitute
from ..lang.nodes import Step
from ..values import to_text

ACTIONS = ("stop", "continue", "break", "goto")
_SCALES = {"milliseconds": 0.001, "ms": 0.001, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
#: On Error attributes amlses cannot carry out here; accepted with a warning
UNAVAILABLE = {
    "AM_EMAIL": "send an e-mail about the error",
    "AM_WRITETOEVENTLOG": "write the error to the Windows event log",
}
#: every error-handling attribute a step accepts, with what it means
POLICY_ATTRIBUTES: dict[str, str] = {
    "AM_ERRORS": "only these error codes count as errors",
    "AM_TIMEOUT": "the step fails when it runs longer",
    "AM_TIMEOUTSCALE": "unit of AM_TIMEOUT",
    "AM_RETRY": "retry the whole step this many times",
    "AM_RETRYDELAY": "milliseconds between step retries",
    "AM_SETVAR": "Var;value set on error",
    "AM_ONERROR": "STOP, CONTINUE, BREAK or GOTO after an error",
    "AM_ONERRORLABEL": "label for AM_ONERROR=GOTO",
    "AM_RUNTASK": "task to run on error",
    **{name: "not available in amlses" for name in UNAVAILABLE},
}


_POLICY_NAMES = frozenset(POLICY_ATTRIBUTES)


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """What a step does about its own errors; :data:`DEFAULT` when it sets nothing."""

    errors: frozenset[str] | None = None  # None: every error counts
    timeout: float | None = None  # seconds
    retries: int = 0
    retry_delay: float = 0.0  # seconds
    set_variable: tuple[str, str] | None = None
    action: str = "stop"
    label: str = ""
    run_task: str = ""
    unavailable: tuple[str, ...] = ()

    def counts(self, error: AmlError) -> bool:
        """Whether ``error`` is an error for this step (``AM_ERRORS`` filters by code)."""
        return self.errors is None or error.code.lower() in self.errors


DEFAULT = ErrorPolicy()


def policy_of(step: Step, scope: Scope) -> ErrorPolicy:
    """Read a step's error policy; ``%…%`` in the values is evaluated now.

    Raises StepError for a malformed value (``check`` reports the literal ones earlier).
    """
    if not step.has_any(_POLICY_NAMES):  # most steps: nothing to read
        return DEFAULT

    def value(name: str) -> str:
        attribute = step.get(name)
        if attribute is None:
            return ""
        raw = attribute.value
        return (
            to_text(substitute(raw, scope, attribute.position)).strip()
            if "%" in raw
            else (raw.strip())
        )

    problems = policy_problems({name: value(name) for name in POLICY_ATTRIBUTES})
    if problems:
        raise StepError(problems[0][1])
    codes = value("AM_ERRORS")
    setvar = value("AM_SETVAR")
    name, _, assigned = setvar.partition(";")
    action = value("AM_ONERROR").lower() or "stop"
    label = value("AM_ONERRORLABEL")
    if action.startswith("goto") and not label:
        label = action.partition(":")[2].strip()  # also accept AM_ONERROR="GOTO:label"
    return ErrorPolicy(
        errors=frozenset(c.strip().lower() for c in codes.split(",") if c.strip()) or None,
        timeout=_seconds(value("AM_TIMEOUT"), value("AM_TIMEOUTSCALE")),
        retries=int(value("AM_RETRY") or 0),
        retry_delay=int(value("AM_RETRYDELAY") or 0) / 1000,
        set_variable=(name.strip(), assigned) if name.strip() else None,
        action=action.partition(":")[0],
        label=label,
        run_task=value("AM_RUNTASK"),
        unavailable=tuple(n for n in UNAVAILABLE if value(n)),
    )


def policy_problems(values: dict[str, str]) -> list[tuple[str, str]]:
    """(attribute, message) for every malformed policy value; used by run and ``check``."""
    found: list[tuple[str, str]] = []
    for name in ("AM_RETRY", "AM_RETRYDELAY", "AM_TIMEOUT"):
        text = values.get(name, "")
        if text and "%" not in text and not text.isdigit():
            found.append((name, f'{name} must be a whole number, not "{text}"'))
    scale = values.get("AM_TIMEOUTSCALE", "").lower()
    if scale and "%" not in scale and scale not in _SCALES:
        found.append(
            (
                "AM_TIMEOUTSCALE",
                f'AM_TIMEOUTSCALE="{scale}" is not one of milliseconds, seconds, minutes, hours',
            )
        )
    action = values.get("AM_ONERROR", "").lower().partition(":")[0]
    if action and "%" not in action and action not in ACTIONS:
        found.append(
            (
                "AM_ONERROR",
                f'AM_ONERROR="{values["AM_ONERROR"]}" is not one of STOP, CONTINUE, BREAK, GOTO',
            )
        )
    has_label = values.get("AM_ONERRORLABEL") or values.get("AM_ONERROR", "").partition(":")[2]
    if action == "goto" and not has_label:
        found.append(("AM_ONERROR", "AM_ONERROR=GOTO needs AM_ONERRORLABEL: the label to go to"))
    setvar = values.get("AM_SETVAR", "")
    if setvar and ";" not in setvar and "%" not in setvar:
        found.append(("AM_SETVAR", f'AM_SETVAR takes "Variable;value", not "{setvar}"'))
    return found


def _seconds(amount: str, scale: str) -> float | None:
    if not amount:
        return None
    return int(amount) * _SCALES.get(scale.lower() or "seconds", 1.0)

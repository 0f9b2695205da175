"""The static check: every problem of a task at once, without any network call.

It reads the same attribute specs the runner binds with, so whatever ``check`` accepts the
runner understands, and whatever the runner would reject on an attribute, ``check`` reports
first — with ``file:line:column`` and the source line (spec ``aml-core.md`` §6).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import actions
from .actions.spec import BOOL, CHOICE, NUMBER, RAW, Activity, Attr, convert, suggest
from .errors import Problem
from .expressions import problems as expression_problems
from .expressions import references
from .nodes import Attribute, Block, Step, Task
from .onerror import POLICY_ATTRIBUTES, UNAVAILABLE, policy_problems
from .source import Position

#: datasets and variables Automate itself provides to every task
SYSTEM_NAMES = frozenset({"amerror", "amtrigger", "amtask"})
#: attributes that name (rather than read) a dataset a step produces
DATASET_OUTPUTS = ("RESULTDATASET", "STATISTICSDATASET")
#: attributes that name a variable a step writes
VARIABLE_OUTPUTS = ("RESULTVARIABLE", "NAME", "VARIABLENAME", "FOUNDTEXTVARIABLE", "INDEXVARIABLE")
#: Automate steps amlses knows but cannot run, by (element, activity or None for any): why
UNSUPPORTED = {
    ("AMSHOWDIALOG", "input"): "needs a desktop",
    ("AMSHOWDIALOG", "custom"): "needs a desktop",
    ("AMINPUTBOX", None): "needs a desktop",
    ("AMLOOP", "windows"): "needs a desktop",
    ("AMLOOP", "processes"): "needs a desktop",
    ("AMIF", "window_exists"): "needs a desktop",
    ("AMIF", "pixel_exists"): "needs a desktop",
    ("AMIF", "process_running"): "needs a desktop",
    ("AMWAIT", "pixel"): "needs a desktop",
    ("AMSCRIPT", None): "runs Automate's BASIC script engine",
    ("AMTASK", "trigger"): "needs an Automate server",
}


class Checker:
    """Walks a task in document order, collecting :class:`Problem` objects."""

    def __init__(self, task: Task, variables: Iterable[str] = ()) -> None:
        self.task = task
        self.problems: list[Problem] = []
        self.sessions: set[str] = set()
        self.names: set[str] = {name.lower() for name in variables} | set(SYSTEM_NAMES)

    def problem(
        self, message: str, position: Position, step: Step | None, severity: str = "error"
    ) -> None:
        self.problems.append(
            Problem(
                message,
                position,
                step=step.label if step is not None else None,
                source_line=self.task.source.line(position.line),
                severity=severity,
            )
        )

    def check(self) -> list[Problem]:
        self.visit(self.task.body, loops=0)
        self.check_jumps()
        return self.problems

    def check_jumps(self) -> None:
        """Every goto (step or AM_ONERROR=GOTO) must name a label that exists in the task."""
        labels = {
            step.value("LABELNAME", step.value("LABEL")).lower()
            for step in self.task.walk()
            if step.name == "AMLABEL" and step.activity in ("", "create")
        }
        for step in self.task.walk():
            targets: list[tuple[str, Attribute | None]] = []
            if (step.name == "AMLABEL" and step.activity == "goto") or step.name == "AMGOTO":
                attribute = step.get("LABELNAME") or step.get("LABEL")
                targets.append((attribute.value if attribute else "", attribute))
            action = step.get("AM_ONERROR")
            if action is not None and action.value.strip().lower().startswith("goto"):
                attribute = step.get("AM_ONERRORLABEL")
                label = attribute.value if attribute else action.value.partition(":")[2]
                targets.append((label.strip(), attribute or action))
            for label, attribute in targets:
                if label and "%" not in label and label.lower() not in labels:
                    known = ", ".join(sorted(labels)) or "none"
                    self.problem(
                        f'goto to label "{label}", which no <AMLABEL LABELNAME="…" /> creates '
                        f"(labels: {known}){suggest(label, labels)}",
                        attribute.position if attribute else step.position,
                        step,
                    )

    def note_extensions(self, step: Step, spec: Activity) -> None:
        """Say where a task uses amlses extensions: it will not run in Automate as written."""
        if spec.extension:
            self.problem(
                f"{spec.name or step.name} is an amlses extension: Automate cannot run this step",
                step.position,
                step,
                severity="note",
            )
        for attribute in step.attributes:
            attr = spec.attr(attribute.name)
            if attr is not None and attr.extension and not spec.extension:
                self.problem(
                    f"{attr.name} is an amlses extension: Automate does not know this attribute",
                    attribute.where,
                    step,
                    severity="note",
                )

    def check_policy(self, step: Step) -> None:
        """Malformed error-handling attributes (AM_RETRY, AM_ONERROR, …), and unavailable ones."""
        values = {name: step.value(name) for name in POLICY_ATTRIBUTES if step.get(name)}
        if not values:
            return
        for name, message in policy_problems(values):
            attribute = step.get(name)
            self.problem(message, attribute.position if attribute else step.position, step)
        for name, what in UNAVAILABLE.items():
            if name in values:
                self.problem(
                    f"{name} is accepted but not available in amlses: it would {what}; "
                    "the run logs it instead",
                    step.get(name).position,  # type: ignore[union-attr]
                    step,
                    severity="warning",
                )

    def visit(self, steps: Iterable[Step], loops: int) -> None:
        for step in steps:
            spec = self.visit_step(step, loops)
            if spec is not None:  # before a body: a loop's RESULTVARIABLE is read inside it
                self.record_outputs(step, spec)
            if isinstance(step, Block):
                inner = loops + (1 if step.name == "AMLOOP" else 0)
                self.visit(step.body, inner)
                if step.orelse is not None:
                    self.visit(step.orelse, inner)

    def visit_step(self, step: Step, loops: int) -> Activity | None:
        try:
            spec = actions.find(step)
        except actions.UnknownStep as exc:
            self.problem(self.unsupported(step) or str(exc), step.position, None)
            return None
        element = actions.ELEMENTS[step.name]
        self.check_attributes(step, spec, element)
        self.check_policy(step)
        if step.name == "AMIF" and step.activity == "last_step":
            self.check_last_step(step)
        self.note_extensions(step, spec)
        if spec.handler is actions.core.loop_break and loops == 0:
            self.problem(
                "break outside a loop: it must stand inside an <AMLOOP>", step.position, step
            )
        if step.name == "AMAWSSES":
            self.check_ses(step)
        return spec

    def check_attributes(self, step: Step, spec: Activity, element: actions.Element) -> None:
        for attribute in step.attributes:
            if not actions.is_known_attribute(spec, attribute.name, element):
                known = [a.name for a in spec.attrs] + [
                    alias for a in spec.attrs for alias in a.aliases
                ]
                self.problem(
                    f"unknown attribute {attribute.written_name or attribute.name} for "
                    f"{step.label}{suggest(attribute.name, known)}",
                    attribute.where,
                    step,
                )
        supplied = spec.supplied(step)
        for attr in spec.attrs:
            if attr.name not in supplied:
                if attr.required:
                    self.problem(
                        f"the required attribute {attr.name} is missing", step.position, step
                    )
                continue
            first = supplied[attr.name][1]
            if attr.aliases:
                spellings = [a for a in (step.get(n) for n in attr.names) if a is not None]
                if len({a.value for a in spellings}) > 1:
                    names = " and ".join(f'{a.name}="{a.value}"' for a in spellings)
                    self.problem(
                        f"{names} are two spellings of one attribute with different values",
                        spellings[1].where,
                        step,
                    )
            self.check_value(step, attr, first)

    def check_value(self, step: Step, attr: Attr, attribute: Attribute) -> None:
        value = attribute.value
        if attr.required and not value.strip():
            self.problem(f"the required attribute {attr.name} is empty", attribute.position, step)
        kind = "condition" if attr.kind == RAW else "text"
        complex_mode = step.name == "AMLOOP" or (  # a loop EXPRESSION is always full BASIC
            step.value("USECOMPLEXUI").strip().lower() in ("yes", "true", "1")
        )
        for message, offset in expression_problems(value, kind=kind, complex=complex_mode):
            self.problem(message, attribute.position.shifted(value, offset), step)
        for name, offset in references(value, kind=kind, complex=complex_mode):
            if not self.is_known(name):
                self.problem(
                    f'"{name}" is read here but no earlier step creates it: a variable in the '
                    "expression does not exist or is misspelled",
                    attribute.position.shifted(value, offset),
                    step,
                )
        if attr.kind in (NUMBER, BOOL, CHOICE) and "%" not in value and value.strip():
            try:
                convert(attr, value)
            except ValueError as exc:
                self.problem(str(exc), attribute.position, step)

    def is_known(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in self.names or lowered.partition(".")[0] in self.names

    def unsupported(self, step: Step) -> str | None:
        """Why a step amlses knows of cannot run here (rather than "unknown element"), or None."""
        reason = UNSUPPORTED.get((step.name, step.activity)) or UNSUPPORTED.get((step.name, None))
        if reason is None:
            return None
        return f"{step.label} {reason} and is not supported by amlses"

    def record_outputs(self, step: Step, spec: Activity) -> None:
        """Remember the datasets and variables this step creates, for later references."""
        for name in (*DATASET_OUTPUTS, "RESULTDATSET", *VARIABLE_OUTPUTS):
            attribute = step.get(name)
            if attribute is not None and attribute.value and spec.attr(name) is not None:
                self.names.add(attribute.value.lower())

    def check_last_step(self, step: Step) -> None:
        """``LASTSTEP="failedwithcode"`` means nothing without the codes to compare with."""
        mode = step.value("LASTSTEP").strip().lower()
        if mode == "failedwithcode" and not step.value("RESULTCODE").strip():
            self.problem(
                'LASTSTEP="failedwithcode" needs RESULTCODE: the error codes to match, '
                'e.g. RESULTCODE="MessageRejected,Throttling"',
                (step.get("LASTSTEP") or step).position,
                step,
            )

    def check_ses(self, step: Step) -> None:
        activity = step.activity
        session = step.value("SESSION", "SESSession1")
        provider = step.value("PROVIDER").strip().lower()
        if activity == "create_session":
            self.sessions.add(session.lower())
        elif activity == "end_session" or provider == "session_based":
            if "%" not in session and session.lower() not in self.sessions:
                self.problem(
                    f'session "{session}" is used before any create_session opens it',
                    (step.get("SESSION") or step).position,
                    step,
                )
        elif step.get("SESSION") is not None and provider in ("", "host_based", "host"):
            self.problem(
                'SESSION is ignored without PROVIDER="session_based": this step connects with '
                "its own ACCESSKEY/SECRETKEY",
                step.position,
                step,
                severity="warning",
            )
        if activity == "email_statistics" and not (
            step.get("RESULTDATASET") or step.get("RESULTDATSET") or step.get("STATISTICSDATASET")
        ):
            self.problem(
                "give RESULTDATASET (the quota), STATISTICSDATASET, or both", step.position, step
            )
        if (
            step.value("SIGNVERSION").strip() == "2"
            or step.value("SIGNMETHOD").strip().lower() == "hmacsha1"
        ):
            self.problem(
                "SIGNVERSION/SIGNMETHOD ask for a legacy signature and are ignored: SES accepts "
                "only Signature Version 4 since 2020-10-01",
                step.position,
                step,
                severity="warning",
            )
        if (step.get("PROXYUSER") or step.get("PROXYUSERNAME")) and not step.get("PROXYHOST"):
            self.problem("a proxy user is given without PROXYHOST", step.position, step)


def check_task(task: Task, variables: Iterable[str] = ()) -> list[Problem]:
    """Every static problem of ``task`` (errors and warnings), in document order."""
    problems = Checker(task, variables).check()
    return sorted(
        problems, key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0)
    )

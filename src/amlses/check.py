"""The static check: every problem of a task at once, without any network call.

It reads the same attribute specs the runner binds with, so whatever ``check`` accepts the
runner understands, and whatever the runner would reject on an attribute, ``check`` reports
first — with ``file:line:column`` and the source line (spec ``aml-core.md`` §6).  The walk is
generic: what a step creates, whether it needs a loop, labels and jumps, and element-specific
rules (an activity's or element's ``check`` hook, such as the SES session rules) all come
from the registry, so this module names no element.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import actions
from .actions.spec import BOOL, CHOICE, NUMBER, RAW, VARIABLE, Activity, Attr, convert, suggest
from .errors import AmlError, Problem
from .expr import problems as expression_problems
from .expr import references
from .lang.nodes import Attribute, Block, Step, Task
from .runtime.onerror import POLICY_ATTRIBUTES, UNAVAILABLE, policy_problems
from .secrets import is_secret_attribute
from .source import Position

if TYPE_CHECKING:
    from .files import PathMap
    from .vault import Vault

#: datasets and variables Automate itself provides to every task
SYSTEM_NAMES = frozenset({"amerror", "amtrigger", "amtask"})


class Checker:
    """Walks a task in document order, collecting :class:`Problem` objects."""

    def __init__(
        self,
        task: Task,
        variables: Iterable[str] = (),
        *,
        given: Iterable[str] = (),
        path_map: PathMap | None = None,
        thorough: bool = False,
    ) -> None:
        self.task = task
        self.problems: list[Problem] = []
        self.sessions: set[str] = set()
        self.names: set[str] = {name.lower() for name in variables} | set(SYSTEM_NAMES)
        #: the variables the user sets (``--var``): each should name one the task knows
        self.given = tuple(given)
        #: where the task's Windows paths are here, for hooks that look for files
        #: (``None``: no map, so a Windows path is left alone)
        self.path_map = path_map
        #: also what only this machine can tell (``amlses check``): whether the files steps
        #: name exist, whether tokens open with the key here.  A run leaves that to its steps,
        #: as a file may be made by an earlier step and the task run on another machine.
        self.thorough = thorough
        #: the variables the task's steps create, as written, and every name it reads
        self.declared: dict[str, str] = {}
        self.read: set[str] = set()
        self._vault: Vault | None = None
        self._no_key = False

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
        self.note_functions()
        self.visit(self.task.body, loops=0)
        self.check_jumps()
        self.check_given()
        return self.problems

    def check_given(self) -> None:
        """A ``--var`` naming a variable the task neither creates nor reads is most likely a
        misspelling of one it does (it would be set and then never used): say so."""
        for name in self.given:
            lowered = name.lower()
            if lowered in self.declared or lowered in self.read:
                continue
            self.problems.append(  # about the task as a whole: no source line to show
                Problem(
                    f"--var {name} sets a variable the task neither creates nor reads"
                    f"{suggest(name, self.declared.values())}",
                    Position(self.task.source.name, 1, 1),
                    severity="warning",
                )
            )

    def check_tokens(self, step: Step) -> None:
        """A literal ``amlses:v1:`` token in a secret attribute must open with the key at
        hand, or the run fails before its first step: check finds it first.  Without any key
        that cannot be told, which is a warning (CI machines often hold no key)."""
        if not self.thorough:
            return  # a run opens every token before its first step anyway (reveal_task)
        for attribute in step.attributes:
            value = attribute.value
            if not (is_secret_attribute(attribute.name) and value.startswith("amlses:")):
                continue
            vault = self.vault()
            if vault is None:
                self.problem(
                    f"{attribute.written_name or attribute.name} holds an amlses token, and "
                    "there is no key to check the token with",
                    attribute.where,
                    step,
                    severity="warning",
                )
                continue
            try:
                vault.reveal(value, attribute.written_name or attribute.name)
            except AmlError as error:
                self.problem(error.message, attribute.where, step)

    def vault(self) -> Vault | None:
        """The key's vault, looked up once per check (``vault`` imports ``cryptography`` only
        to decrypt, so a task without tokens never pays for it); None without any key."""
        if self._vault is None and not self._no_key:
            from .vault import Vault, find_key

            try:
                key = find_key()
            except AmlError:  # a broken key: reveal() reports why at each token
                key = None
                self._vault = Vault()
            else:
                if key is None:
                    self._no_key = True
                else:
                    self._vault = Vault(key)
        return self._vault

    def note_functions(self) -> None:
        """A saved task with several functions runs only Main: say so where the others are."""
        functions = self.task.functions
        if len(functions) < 2:
            return
        names = ", ".join(f.name for f in functions)
        for function in functions:
            if not function.runs:
                count = len(function.body)
                self.problem(
                    f"the saved task defines the functions {names}; amlses runs only Main, so "
                    f'"{function.name}" ({count} step{"" if count == 1 else "s"}) does not run',
                    function.position,
                    None,
                    severity="note",
                )

    def check_jumps(self) -> None:
        """Every goto (step or AM_ONERROR=GOTO) must name a label that exists in the task."""
        labels = {
            label.lower()
            for label in (actions.label_defined(step) for step in self.task.walk())
            if label is not None
        }
        for step in self.task.walk():
            targets: list[tuple[str, Attribute | None]] = []
            spec = actions.find_or_none(step)
            if spec is not None and spec.label == "goto":
                attr = spec.attr(spec.label_attr)
                attribute = spec.lookup(step, attr) if attr is not None else None
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
                if spec is None:  # an unknown step: its children are its own, not steps
                    continue
                if not spec.block:
                    self.not_a_block(step)
                inner = loops + (1 if spec.loop else 0)
                self.visit(step.body, inner)
                if step.orelse is not None:
                    self.visit(step.orelse, inner)

    def not_a_block(self, step: Block) -> None:
        """A step that is no block but was written with child elements and an end tag."""
        first = step.body[0] if step.body else None
        held = f"<{first.name}> at line {first.position.line}" if first else "child elements"
        self.problem(
            f"{step.label} holds {held}, but it is not a block: write it as <{step.name} … />"
            f" and move the steps after it",
            step.position,
            step,
        )

    def visit_step(self, step: Step, loops: int) -> Activity | None:
        self.check_tokens(step)
        try:
            spec = actions.find(step)
        except actions.UnknownStep as exc:
            reason = actions.unsupported_reason(step)
            message = f"{step.label} {reason} and is not supported by amlses" if reason else None
            self.problem(message or str(exc), step.position, None)
            return None
        element = actions.ELEMENTS[step.name]
        self.check_attributes(step, spec, element)
        self.check_policy(step)
        self.note_extensions(step, spec)
        if spec.needs_loop and loops == 0:
            self.problem(
                "break outside a loop: it must stand inside an <AMLOOP>", step.position, step
            )
        for hook in (spec.check, element.check):
            if hook is not None:
                hook(self, step)
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
            self.check_value(step, spec, attr, first)

    def check_value(self, step: Step, spec: Activity, attr: Attr, attribute: Attribute) -> None:
        value = attribute.value
        if attr.required and not value.strip():
            self.problem(f"the required attribute {attr.name} is empty", attribute.position, step)
        kind = "condition" if attr.kind == RAW else "text"
        complex_mode = spec.loop or (  # a loop EXPRESSION is always full BASIC
            step.value("USECOMPLEXUI").strip().lower() in ("yes", "true", "1")
        )
        for message, offset in expression_problems(value, kind=kind, complex=complex_mode):
            self.problem(message, attribute.position.shifted(value, offset), step)
        for name, offset in references(value, kind=kind, complex=complex_mode):
            self.read.add(name.lower().partition(".")[0])
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

    def record_outputs(self, step: Step, spec: Activity) -> None:
        """Remember the datasets and variables this step creates, for later references."""
        for attr in spec.attrs:
            if not attr.output:
                continue
            for name in attr.names:
                attribute = step.get(name)
                if attribute is not None and attribute.value:
                    self.names.add(attribute.value.lower())
                    if attr.output == VARIABLE:
                        self.declared.setdefault(attribute.value.lower(), attribute.value)


def check_task(
    task: Task,
    variables: Iterable[str] = (),
    *,
    given: Iterable[str] = (),
    path_map: PathMap | None = None,
    thorough: bool = False,
) -> list[Problem]:
    """Every static problem of ``task`` (errors and warnings), in document order.

    ``variables`` are names the run knows; ``given`` those of them the user sets (``--var``),
    each warned about when the task neither creates nor reads it; ``path_map`` is the run's,
    for the hooks that look for the files a step names; ``thorough`` adds what only this
    machine can tell (:attr:`Checker.thorough`), as ``amlses check`` wants.
    """
    problems = Checker(task, variables, given=given, path_map=path_map, thorough=thorough).check()
    return sorted(
        problems, key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0)
    )

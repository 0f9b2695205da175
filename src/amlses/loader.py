"""Loading a task: read → parse → register secrets → check → reveal tokens → resolve ciphertexts.

There is one way in, used by :func:`amlses.api.run`, :func:`amlses.api.check` and every subtask
(:meth:`amlses.runtime.runner.Runner.run_subtask`) alike, so a child task is read, checked and
masked exactly like the task that runs it.

Secrets are registered with the run's redactor before anything is printed, and not only the
literal ones: a variable whose value some step uses as a secret (``SECRETKEY="%pw%"``) is a
secret too, so its literal value is registered at load time and every later value it takes is
masked as it is set (:attr:`~amlses.runtime.context.Context.secret_variables`).  The task files
a step names literally (``TASKFILE``, ``AM_RUNTASK``) are read for their secrets as well, so a
subtask's secret is masked from the first line of the run, not only once the subtask starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import actions
from .check import check_task
from .errors import AmlError, AmlSyntaxError, Problem, TaskError, UsageError
from .expr import references
from .files import (
    DecodedText,
    FileTooLargeError,
    NotTextError,
    PathMap,
    UnmappedPathError,
    decode_text,
    printable,
    read_bounded,
    resolve_task_path,
)
from .lang.nodes import Block, Step, Task, depth
from .lang.parser import MAX_DEPTH, parse_with_problems
from .redact import Redactor
from .runtime.context import MAX_SUBTASK_DEPTH, Context
from .secrets import (
    USERINFO_ATTRIBUTES,
    is_automate_ciphertext,
    is_secret_attribute,
    userinfo_password,
)
from .source import Position
from .vault import reveal_task

MAX_TASK_BYTES = 10_000_000
#: the error-handling attribute that names a task to run when a step fails
_RUN_TASK = "AM_RUNTASK"


@dataclass(frozen=True)
class LoadedTask:
    """A task that passed the check: the tree, its warnings and notes, and the names of the
    variables its steps (or its subtasks' steps) use as secrets."""

    task: Task
    warnings: list[Problem]
    secret_variables: frozenset[str]


def read_task_file(path: str | Path) -> str:
    """A task file's text: bounded, regular files only, decoded as Windows tools save it.

    The text is a :class:`~amlses.files.DecodedText` (:func:`read_task_text`), so the loader
    can still tell that a file was read as Windows-1252 (:func:`encoding_notes`).
    """
    return read_task_text(path)


def read_task_text(path: str | Path) -> DecodedText:
    """A task or subtask file's text, with the encoding it was read in.

    Refused with one :class:`UsageError` naming the file, and never quoting it: a file that
    is not there, not a regular file (a FIFO, ``/dev/zero``) or too large; one that is not
    text (binary data); and one that is text but not AML at all (its first characters are no
    ``<``), so that ``TASKFILE="/etc/shadow"`` cannot echo a line of that file in a syntax
    error.  A file that is AML but has syntax errors still shows its own lines, as usual.
    """
    shown = printable(str(path))
    try:
        data = read_bounded(path, MAX_TASK_BYTES)
    except FileTooLargeError as exc:
        raise UsageError(
            f"{shown}: the task file is {exc.size:,} bytes; amlses reads at most {MAX_TASK_BYTES:,}"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read task file {shown}: {exc.strerror or exc}") from None
    return task_text_from_bytes(data, shown)


def task_text_from_bytes(data: bytes, shown: str) -> DecodedText:
    """Task text from bytes already read (a file, or ``amlses check -``'s standard input),
    refused exactly as :func:`read_task_text` refuses a file; ``shown`` names it."""
    if len(data) > MAX_TASK_BYTES:
        raise UsageError(
            f"{shown}: the task is {len(data):,} bytes; amlses reads at most {MAX_TASK_BYTES:,}"
        )
    try:
        text = decode_text(data)
    except NotTextError as exc:
        raise UsageError(f"{shown} is not an AML task file: {exc.reason}") from None
    start = text.lstrip()[:1]
    if start and start != "<":
        raise UsageError(
            f"{shown} is not an AML task file: it does not start with an AML step "
            "(<AMVARIABLE …>, <AMAWSSES …>) or a comment"
        )
    return text


def encoding_notes(text: str, name: str) -> list[Problem]:
    """The one-line note for task text read as Windows-1252 (none for UTF-8 and UTF-16).

    Severity "note": ``amlses check`` prints it and ``amlses run`` shows it on stderr, so a
    wrongly guessed encoding is seen before its characters end up in a message.
    """
    if not isinstance(text, DecodedText) or text.note is None:
        return []
    position = Position(name, text.note_line, text.note_column)
    return [Problem(f"the task file is {text.note}", position, severity="note")]


def parse_task(text: str, name: str) -> tuple[Task, list[Problem]]:
    """Parse with the registry's block grammar; the (recovered) tree and its syntax problems."""
    return parse_with_problems(text, name, grammar=actions.grammar())


def check_text(
    text: str,
    name: str,
    variables: Iterable[str] = (),
    redactor: Redactor | None = None,
    path_map: PathMap | None = None,
) -> list[Problem]:
    """Every problem of a task text, syntax and static, errors and warnings; no network.

    With a ``redactor``, the task's secrets are registered first, for masking the problems.
    """
    return check_text_with_syntax(text, name, variables, redactor, path_map)[0]


def check_text_with_syntax(
    text: str,
    name: str,
    variables: Iterable[str] = (),
    redactor: Redactor | None = None,
    path_map: PathMap | None = None,
) -> tuple[list[Problem], list[Problem]]:
    """What :func:`check_text` returns, and which of those problems are the parser's (for
    ``amlses check --json``, whose problems say what found them: ``SyntaxError`` or
    ``TaskError``).  The check is the thorough one (:attr:`amlses.check.Checker.thorough`):
    files are looked for and tokens opened, as a run would only at its steps."""
    task, syntax = parse_task(text, name)
    if redactor is not None:
        _register_functions(task, redactor, path_map)
    names = list(variables)
    return _all_problems(task, syntax, names, names, path_map, thorough=True), syntax


def load_task(
    text: str,
    name: str,
    *,
    variables: Iterable[str] = (),
    redactor: Redactor | None = None,
    path_map: PathMap | None = None,
    given: Iterable[str] | None = None,
) -> LoadedTask:
    """Parse, register secrets and check; raise :class:`TaskError` when the task must not run.

    Secrets are registered before the check, so that even the errors of a task that never
    runs are masked when rendered through ``redactor``.  ``given`` are the variables the user
    sets (default: all of ``variables``, as for a run's ``--var``); a subtask passes none, as
    the names it is given are the run's, not the user's.
    """
    task, problems = parse_task(text, name)
    secret_names: frozenset[str] = frozenset()
    if redactor is not None:
        secret_names = _register_functions(task, redactor, path_map)
    syntax = bool(problems)
    names = list(variables)
    problems = _all_problems(task, problems, names, names if given is None else given, path_map)
    if syntax:
        raise AmlSyntaxError(problems)
    if any(p.severity == "error" for p in problems):
        raise TaskError(problems)
    return LoadedTask(task, [*encoding_notes(text, name), *problems], secret_names)


def _register_functions(task: Task, redactor: Redactor, path_map: PathMap | None) -> frozenset[str]:
    """Register the secrets of the task and of a saved task's other functions: they never run,
    but a problem in one shows its source line, which must be masked too."""
    secret_names = register_secrets(task, redactor, path_map)
    for function in task.functions:
        if not function.runs:
            register_secrets(Task(task.source, function.body), redactor, path_map)
    return secret_names


def _all_problems(
    task: Task,
    syntax: list[Problem],
    variables: Iterable[str],
    given: Iterable[str] = (),
    path_map: PathMap | None = None,
    *,
    thorough: bool = False,
) -> list[Problem]:
    """The syntax problems and the static check of the tree the parser recovered, by position.

    A structural error does not hide the rest: the check runs on the recovered tree too, so a
    stray end tag, an unknown element and an undefined variable are all reported at once.  A
    tree nested deeper than the parser allows (already an error) is not walked.  A task with
    no step at all (nothing but comments) is valid but does nothing, which is rarely meant.
    """
    if depth(task.body) > MAX_DEPTH:
        return syntax
    merged = syntax + check_task(task, variables, given=given, path_map=path_map, thorough=thorough)
    if not task.body and not any(p.severity == "error" for p in merged):
        merged.append(
            Problem("the task has no steps", Position(task.source.name, 1, 1), severity="warning")
        )
    return sorted(
        merged, key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0)
    )


def unlock_secrets(task: Task, context: Context) -> None:
    """Before the task's first step: decrypt its ``amlses:v1:`` tokens and look up what each
    literal Automate-encrypted SECRETKEY stands for (spec ``ses-action.md`` §4.9).

    Both values are registered with the run's redactor, so they are masked from the first line
    of output on.  A bad token fails here, at its attribute, before any request.  A ciphertext
    that no credential source knows is left for its step to report when it runs; ``--local``
    uses no real secret, so nothing is looked up there.
    """
    reveal_task(task, context.options.vault, context.redactor)
    if context.options.force_endpoint_url:
        return
    for step in task.walk():
        access_key, secret = step.value("ACCESSKEY").strip(), step.value("SECRETKEY")
        if not access_key or "%" in access_key or not is_automate_ciphertext(secret):
            continue
        try:
            context.redactor.add(context.resolved_secret(access_key, secret))
        except AmlError:
            continue


def load_subtask(path: str, context: Context) -> Task:
    """Read, check and unlock a subtask file for a run that is under way.

    The variables and datasets the run holds count as known to the subtask's check; the
    variables the subtask uses as secrets join the run's.
    """
    known = [*context.variables, *context.datasets]
    loaded = load_task(
        read_task_file(path),
        path,
        variables=known,
        redactor=context.redactor,
        path_map=context.options.path_map,
        given=(),
    )
    context.secret_variables |= loaded.secret_variables
    unlock_secrets(loaded.task, context)
    return loaded.task


def register_secrets(
    task: Task, redactor: Redactor, path_map: PathMap | None = None
) -> frozenset[str]:
    """Register every secret of ``task`` and of the subtasks it names, before anything runs.

    Returns the lower-cased names of the variables used as secrets (their literal values are
    registered here; the runtime masks the values they take later).  ``path_map`` finds the
    subtasks a task names by Windows path.
    """
    family = _family(task, path_map)
    secret_names = _secret_variables(family)
    for member in family:
        for step in _steps(member):
            for attribute in step.attributes:
                if is_secret_attribute(attribute.name):
                    redactor.add(attribute.value)
                elif attribute.name in USERINFO_ATTRIBUTES:
                    redactor.add(userinfo_password(attribute.value))
            if secret_names:
                _register_assignment(step, secret_names, redactor)
    return secret_names


def _steps(task: Task) -> Iterator[Step]:
    """Every step, with an explicit stack rather than :meth:`Task.walk`: this also runs on the
    tree the parser recovered from a file it refused, which may nest blocks thousands deep."""
    pending: list[Step] = list(reversed(task.body))
    while pending:
        step = pending.pop()
        yield step
        if isinstance(step, Block):
            pending.extend(reversed(step.orelse or ()))
            pending.extend(reversed(step.body))


def _secret_variables(tasks: Iterable[Task]) -> frozenset[str]:
    """The variables whose ``%name%`` appears in a secret attribute of any of ``tasks`` (or in
    one that may carry credentials, ``PROXYHOST="%proxy%"``: its whole value is masked then)."""
    names: set[str] = set()
    for task in tasks:
        for step in _steps(task):
            for attribute in step.attributes:
                carries = is_secret_attribute(attribute.name) or (
                    attribute.name in USERINFO_ATTRIBUTES
                )
                if "%" in attribute.value and carries:
                    names.update(
                        name.lower() for name, _ in references(attribute.value) if "." not in name
                    )
    return frozenset(names)


def _register_assignment(step: Step, secret_names: frozenset[str], redactor: Redactor) -> None:
    """Register the literal value a step assigns to a variable used as a secret."""
    spec = actions.find_or_none(step)
    if spec is None or spec.assigns is None:
        return
    name_attr, value_attr = spec.assigns
    attr = spec.attr(name_attr)
    found = spec.lookup(step, attr) if attr is not None else None
    if found is None or found.value.strip().lower() not in secret_names:
        return
    value = step.value(value_attr) if step.get(value_attr) is not None else (step.text or "")
    if "%" not in value:
        redactor.add(value)


def _family(task: Task, path_map: PathMap | None) -> list[Task]:
    """``task`` and the subtasks it names literally, read and parsed leniently (a subtask that
    cannot be read or parsed is left for its step to report), up to the nesting limit."""
    family = [task]
    seen = {os.path.realpath(task.source.name)}
    frontier = [(task, 0)]
    while frontier:
        current, depth = frontier.pop()
        if depth >= MAX_SUBTASK_DEPTH:
            continue
        for path in _named_subtasks(current, path_map):
            key = os.path.realpath(path)
            if key in seen:
                continue
            seen.add(key)
            try:
                child, _ = parse_task(read_task_file(path), path)
            except AmlError:
                continue
            family.append(child)
            frontier.append((child, depth + 1))
    return family


def _named_subtasks(task: Task, path_map: PathMap | None) -> Iterator[str]:
    """The literal task files ``task``'s steps run, as paths from the task's folder (a Windows
    path the map does not cover is left for its step to report)."""
    if not task.source.name or task.source.name.startswith("<"):
        return
    for step in _steps(task):
        written: list[str] = []
        spec = actions.find_or_none(step)
        if spec is not None:
            written += [
                found.value
                for attr in spec.attrs
                if attr.subtask
                for found in (spec.lookup(step, attr),)
                if found is not None
            ]
        written.append(step.value(_RUN_TASK))
        for value in written:
            if value.strip() and "%" not in value:
                try:
                    yield resolve_task_path(value, task.source.name, path_map)
                except UnmappedPathError:
                    continue

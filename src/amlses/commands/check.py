"""What ``amlses check`` finds and how it shows it: one report per TASK argument.

The ``check`` command itself lives in :mod:`amlses.cli` (it shares ``--map-path``, ``--var``
parsing and the error paragraph with ``run``); reading, checking and rendering each file is
here, so that ``cli.py`` stays one screenful of commands and under the module size limit.
Nothing here imports the CLI, so the module has no cycle with it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import AmlError
from ..files import terminal_safe

if TYPE_CHECKING:
    from ..errors import Problem
    from ..files import PathMap
    from ..redact import Redactor

__all__ = [
    "SEVERITIES",
    "STDIN_NAME",
    "CheckReport",
    "check_json",
    "check_one",
    "check_summary",
    "show_check",
]

SEVERITIES = ("error", "warning", "note")
#: the name of task text read from standard input (``amlses check -``)
STDIN_NAME = "<stdin>"


class CheckReport:
    """What ``check`` found in one TASK argument: its problems (the parser's among them), or
    the error that kept it from being read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.syntax: list[Problem] = []
        self.notes: list[Problem] = []  # the encoding note, shown before the problems
        self.error: AmlError | None = None

    def count(self, severity: str) -> int:
        found = sum(1 for p in (*self.notes, *self.problems) if p.severity == severity)
        return found + (1 if self.error is not None and severity == "error" else 0)

    @property
    def errors(self) -> int:
        return self.count("error")


def check_one(
    task: str, given: dict[str, str], path_map: PathMap, redactor: Redactor
) -> CheckReport:
    """Read and check one TASK argument; a file that cannot be read is this file's error,
    not the command's, so the other files are still checked."""
    from ..loader import (
        MAX_TASK_BYTES,
        check_text_with_syntax,
        encoding_notes,
        task_text_from_bytes,
    )

    report = CheckReport(task)
    try:
        text: str
        if task == "-":
            report.name = STDIN_NAME
            # the bytes, so a UTF-16 or Windows-1252 task decodes as from a file (click 8.5
            # deprecates get_binary_stream: read sys.stdin's buffer directly)
            buffer = getattr(sys.stdin, "buffer", None)
            data = (
                buffer.read(MAX_TASK_BYTES + 1)
                if buffer is not None
                else sys.stdin.read(MAX_TASK_BYTES + 1).encode("utf-8")
            )
            text = task_text_from_bytes(data, STDIN_NAME)
        else:
            from .. import api

            report.name = path_map.apply(task)
            text = api.load(report.name)
        report.notes = encoding_notes(text, report.name)
        report.problems, report.syntax = check_text_with_syntax(
            text, report.name, given, redactor, path_map
        )
    except AmlError as error:
        report.error = error
    return report


def _plural(count: int, word: str) -> str:
    """``1 error``, ``4 errors``: the summary line reads as a sentence."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def show_check(report: CheckReport, redactor: Redactor, *, several: bool) -> None:
    """One file's problems and its status line, as ``check`` of one file prints them."""
    if report.error is not None:
        text = f"amlses: {report.error.render()}"
        click.echo(terminal_safe(redactor(text)), err=True)
        if not several:
            sys.exit(report.error.exit_code)
        return
    for note in report.notes:
        click.echo(note.render(), err=True)
    for problem in report.problems:
        click.echo(terminal_safe(redactor(problem.render())), err=True)
    counts = {kind: report.count(kind) for kind in SEVERITIES}
    counts["note"] -= len(report.notes)  # the encoding note is not counted, as before
    tally = ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n and kind != "error")
    name = terminal_safe(report.name)
    if counts["error"]:
        errors = f"{name}: {counts['error']} error(s)" + (f", {tally}" if tally else "")
        click.echo(errors, err=True)
    else:
        click.echo(f"{name}: ok" + (f" ({tally})" if tally else ""))


def check_summary(reports: list[CheckReport]) -> None:
    """The one line after several files: how many passed, and what the others hold."""
    bad = sum(1 for r in reports if r.errors)
    parts = [
        _plural(sum(r.count(kind) for r in reports), kind)
        for kind in ("error", "warning")
        if any(r.count(kind) for r in reports)
    ]
    line = f"{len(reports)} files: {len(reports) - bad} ok"
    if bad:
        line += f", {bad} with errors"
    if parts:
        line += f" ({', '.join(parts)})"
    click.echo(line, err=bool(bad))


def check_json(reports: list[CheckReport], redactor: Redactor) -> None:
    """``check --json``: one document, problems in the shape ``run --json`` uses too."""
    import json

    files = []
    for report in reports:
        problems: list[dict[str, object]] = []
        if report.error is not None:
            problems.append(_problem_json(report, None, report.error.code, redactor))
            problems[-1]["message"] = redactor(report.error.message)
        syntax = {id(p) for p in report.syntax}
        for problem in (*report.notes, *report.problems):
            code = "SyntaxError" if id(problem) in syntax else "TaskError"
            problems.append(_problem_json(report, problem, code, redactor))
        files.append({"file": report.name, "problems": problems})
    status = "invalid" if any(r.errors for r in reports) else "ok"
    click.echo(json.dumps({"status": status, "files": files}, indent=2, ensure_ascii=False))


def _problem_json(
    report: CheckReport, problem: Problem | None, code: str, redactor: Redactor
) -> dict[str, object]:
    """One problem in the shape ``run --json`` uses too (:func:`amlses.output.problem_json`),
    masked; ``None`` stands for the error of a file that could not be read (no position)."""
    position = problem.position if problem is not None else None
    return {
        "file": position.file if position is not None else report.name,
        "line": position.line if position is not None else None,
        "column": position.column if position is not None else None,
        "severity": problem.severity if problem is not None else "error",
        "code": code,
        "message": redactor(problem.message) if problem is not None else "",
        "step": redactor(problem.step) if problem is not None and problem.step else None,
    }

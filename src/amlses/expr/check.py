"""Static checks for ``amlses check``: the problems and the variable references of a text.

:func:`problems` and :func:`references` read a text the way the runtime will (an attribute
value, a full expression, or a condition in Simple or Complex mode) but without a scope: each
program the text holds is compiled, never run, and its offsets are mapped back into the text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeAlias

from .evaluator import Program, compiled, segment_program, walk
from .failure import render
from .nodes import Name
from .scanner import inner_offsets, mapped, scan_with_problem
from .simple import side_kind, simple_split

#: how problems() and references() read a text: an attribute value, an expression, a condition
KINDS = ("text", "expression", "condition")


_Unit: TypeAlias = tuple[Program, Callable[[int], int]]


def _identity(offset: int) -> int:
    return offset


def _units(text: str, kind: str, complex: bool) -> list[_Unit]:
    """The programs a text holds for ``kind``, each with a map from its offsets to ``text``."""
    if kind == "text":
        segments, problem = scan_with_problem(text)
        units: list[_Unit] = []
        for segment in segments:
            if segment.kind == "expr":
                offsets = inner_offsets(text, segment.start + 1, segment.end - 1)
                units.append((segment_program(segment.text), functools.partial(mapped, offsets)))
        if problem is not None:
            units.append((Program(None, (problem,)), _identity))
        return units
    if kind == "condition" and not complex:
        split = simple_split(text)
        if split is not None:
            units = []
            for start, end in (split.left, split.right):
                side = text[start:end]
                read_as = side_kind(side)
                inner: list[_Unit] = []
                if read_as == "string":
                    inner = [(compiled(side, True), _identity)]
                elif read_as == "substitute":
                    inner = _units(side, "text", False)
                for program, mapper in inner:
                    units.append((program, _offset_by(mapper, start)))
            return units
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return [(compiled(text, True), _identity)]


def _offset_by(mapper: Callable[[int], int], by: int) -> Callable[[int], int]:
    return lambda offset: mapper(offset) + by


def problems(text: str, *, kind: str = "text", complex: bool = False) -> list[tuple[str, int]]:
    """Every problem that can be found without running: ``(message, offset into text)``.

    For ``amlses check``: syntax errors, unsupported operators, unknown functions, wrong
    argument counts, an unterminated ``%``, limits.  ``kind`` says how ``text`` is read: an
    attribute value with ``%…%`` parts (``"text"``), a full expression (``"expression"``), or
    an ``AMIF``/loop ``EXPRESSION`` (``"condition"``, Simple mode unless ``complex``).
    """
    found: list[tuple[str, int]] = []
    for program, mapper in _units(text, kind, complex):
        for problem in program.problems:
            found.append(render(text, problem.moved(mapper), None))
    return found


def references(text: str, *, kind: str = "text", complex: bool = False) -> list[tuple[str, int]]:
    """Every variable or ``Dataset.Field`` name ``text`` reads, as written, with its offset.

    ``amlses check`` flags the names no earlier step creates.  Parts that do not parse are
    skipped (:func:`problems` reports them); ``Now``, ``Date`` and ``Time`` are functions.
    """
    found: list[tuple[str, int]] = []
    for program, mapper in _units(text, kind, complex):
        if program.root is not None:
            for node in walk(program.root):
                if isinstance(node, Name):
                    found.append((node.name, mapper(node.offset)))
    return sorted(found, key=lambda item: item[1])

"""Compiling and running: static checks, cached programs, ``%…%`` substitution, expressions.

Loops evaluate the same text thousands of times, so each text is parsed and checked once and
the tree is cached as a :class:`Program` (exceptions are not: a cached
:class:`~amlses.expr.failure.Problem` is raised afresh).  The static checks find what is wrong
without a scope (unknown functions, wrong argument counts, Split's list used as a value); a
program with problems never runs, and :func:`~amlses.expr.problems` reports them for
``amlses check``.

:func:`substitute` is what every attribute value of every step passes through; :func:`evaluate`
runs one full expression.  Both turn a failure into an :class:`~amlses.errors.ExpressionError`
at the offending token, moved from a ``%…%`` part back into the text as written.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from ..source import Position
from ..values import Fail, Value, joined, to_text
from .builtin import value_arg
from .env import Env, Scope
from .failure import Problem, located
from .functions import FUNCTIONS
from .nodes import Call, Index, Node
from .parser import Parser
from .scanner import EMPTY, Segment, inner_offsets, mapped, scan_with_problem

#: the longest expression (one ``%…%`` part, or a whole condition) that is parsed at all
MAX_EXPRESSION_LENGTH = 10_000

# --------------------------------------------------------------------------------------------
# Static checks on a parsed tree: unknown functions, argument counts, Split's list


def _unknown_function(name: str) -> str:
    names = sorted({f.name for f in FUNCTIONS.values()})
    close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=1)
    message = f'unknown function "{name}"'
    if close:
        spelled = next(n for n in names if n.lower() == close[0])
        message += f"; did you mean {spelled}?"
    return message


_LIST_AS_VALUE = (
    "Split(...) gives a list of texts, not one value: pick an item with "
    "Split(text, delimiter)(index), or use Join, UBound or LBound"
)


def _validate(node: Node, consumer: str | None, found: list[Problem]) -> None:
    """Append the problems of ``node``'s subtree; ``consumer`` names what needs a list here
    (``UBound``, ``an index``) or is None where a value is needed."""
    gives_list = False
    known = True
    if isinstance(node, Call):
        function = FUNCTIONS.get(node.key)
        if function is None:
            known = False
            found.append(Problem(_unknown_function(node.name), node.offset))
        elif not function.low <= len(node.args) <= function.high:
            count = len(node.args)
            found.append(
                Problem(f"{function.name} takes {function.arity()}, got {count}", node.offset)
            )
        gives_list = function is not None and function.gives_list
        for i, arg in enumerate(node.args):
            wanted = function is not None and i in function.list_args
            _validate(arg, function.name if wanted and function else None, found)
    elif isinstance(node, Index):
        _validate(node.target, "an index ( )", found)
        _validate(node.index, None, found)
    else:
        for child in node.children():
            _validate(child, None, found)
    if gives_list and consumer is None:
        found.append(Problem(_LIST_AS_VALUE, node.offset))
    elif consumer is not None and not gives_list and known:
        found.append(Problem(f"{consumer} needs the list from a Split(...) call", node.offset))


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, parents first."""
    yield node
    for child in node.children():
        yield from walk(child)


# --------------------------------------------------------------------------------------------
# Compiling (cached)


@dataclass(frozen=True, slots=True)
class Program:
    """A parsed expression and its static problems; it runs only when there are none."""

    root: Node | None
    problems: tuple[Problem, ...] = ()

    def run(self, env: Env) -> Value:
        if self.problems or self.root is None:
            raise (self.problems[0] if self.problems else Problem("no expression", 0)).fail()
        return value_arg(self.root.evaluate(env))


def _too_long(text: str) -> Program | None:
    if len(text) <= MAX_EXPRESSION_LENGTH:
        return None
    message = (
        f"the expression is too long ({len(text):,} characters; "
        f"the limit is {MAX_EXPRESSION_LENGTH:,})"
    )
    return Program(None, (Problem(message, 0),))


@functools.lru_cache(maxsize=4096)
def compiled(text: str, refs: bool) -> Program:
    """Parse and check ``text`` once; loops then only evaluate the cached tree."""
    refused = _too_long(text)
    if refused is not None:
        return refused
    try:
        root = Parser(text, refs, 0, 0).parse()
    except Fail as fail:
        return Program(None, (Problem(fail.message, fail.offset or 0, fail.opened, fail.suffix),))
    found: list[Problem] = []
    _validate(root, None, found)
    return Program(root, tuple(found))


def segment_program(inner: str) -> Program:
    """The program of one ``%…%`` part (``inner`` is what is between the signs)."""
    if not inner.strip():
        return Program(None, (Problem(EMPTY, 0),))
    return compiled(inner, False)


# --------------------------------------------------------------------------------------------
# Running


def _run_segment(text: str, segment: Segment, env: Env) -> Value:
    """Evaluate one ``%…%`` part; a failure's offsets are moved from the part into ``text``."""
    try:
        return segment_program(segment.text).run(env)
    except Fail as fail:
        offsets = inner_offsets(text, segment.start + 1, segment.end - 1)
        fail.offset = mapped(offsets, fail.offset or 0)
        if fail.opened is not None:
            fail.opened = mapped(offsets, fail.opened)
        raise


def substitute_text(text: str, env: Env) -> Value:
    """:func:`substitute` without the fast path, raising ``Fail`` with offsets into ``text``."""
    segments, problem = scan_with_problem(text)
    if problem is not None:
        raise problem.fail()
    if len(segments) == 1 and segments[0].kind == "expr":
        return _run_segment(text, segments[0], env)  # a lone %x% keeps its type
    parts = [s.text if s.kind == "text" else to_text(_run_segment(text, s, env)) for s in segments]
    return joined(*parts)


def substitute(text: str, scope: Scope, position: Position | None = None) -> Value:
    """Evaluate every ``%expr%`` in an attribute value and splice the results in.

    A value that is exactly one ``%expr%`` keeps its type (``%count%`` gives an ``int``);
    anything else gives text, each value spliced with :func:`to_text`.  Text without ``%``
    comes back unchanged at once, since every attribute of every step passes through here.
    ``position`` is where the value starts in the task file; errors point at the offending
    token inside it.
    """
    if "%" not in text:
        return text
    try:
        return substitute_text(text, Env(scope))
    except Fail as fail:
        raise located(text, fail, position) from None


def evaluate(expression: str, scope: Scope, position: Position | None = None) -> Value:
    """Evaluate one full BASIC expression: bare names are variables and ``Dataset.Field``s;
    ``%…%`` parts, if any, are value tokens (as Automate resolves them before BASIC reads
    the text, a ``%`` inside a string literal must be doubled)."""
    try:
        return compiled(expression, True).run(Env(scope))
    except Fail as fail:
        raise located(expression, fail, position) from None

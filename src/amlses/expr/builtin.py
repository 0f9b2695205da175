"""What a built-in function is, how the built-ins are collected, and how they read arguments.

Each group of built-ins (:mod:`.functions`, :mod:`.dates`, :mod:`.format`) collects its
implementations in a :class:`Library` by decorating them; :data:`amlses.expr.functions.FUNCTIONS`
merges the libraries into the one table the parser, the static checks and the tree use.  The
table is built by importing the groups, not by a registration side effect, so it is complete
whenever anything can look a name up.  The argument readers are shared by every group (and by
``Split``'s index), so that a mismatch is reported in the same words wherever it happens.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..values import Fail, Value, as_date, as_number, describe, round_even, to_text
from .env import Env, Result

#: a built-in's implementation: the evaluation's environment and the evaluated arguments
Impl = Callable[[Env, list[Result]], Result]


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in: its spelling, how many arguments it takes, and which take Split's list."""

    name: str
    low: int
    high: int
    run: Impl
    list_args: frozenset[int] = frozenset()
    gives_list: bool = False

    def arity(self) -> str:
        if self.high == 0:
            return "no arguments"
        if self.low == self.high:
            return f"{self.low} argument{'s' if self.low != 1 else ''}"
        joiner = "or" if self.high == self.low + 1 else "to"
        return f"{self.low} {joiner} {self.high} arguments"


class Library:
    """A group of built-ins, registered by name (spelled as VBA spells it) with a decorator:
    ``@library("Mid", 2, 3)`` takes two or three arguments."""

    def __init__(self) -> None:
        self.functions: list[Function] = []

    def __call__(
        self,
        name: str,
        low: int,
        high: int | None = None,
        *,
        lists: Sequence[int] = (),
        gives_list: bool = False,
    ) -> Callable[[Impl], Impl]:
        def register(run: Impl) -> Impl:
            self.functions.append(
                Function(
                    name, low, low if high is None else high, run, frozenset(lists), gives_list
                )
            )
            return run

        return register


def value_arg(arg: Result) -> Value:
    """``arg`` as a value; the static check keeps Split's list from ever reaching here."""
    if isinstance(arg, tuple):  # the static check makes this unreachable; keep it loud
        raise Fail("a list from Split(...) cannot be used as a value here")
    return arg


def text_arg(arg: Result) -> str:
    return to_text(value_arg(arg))


def number_arg(arg: Result, fn: str) -> int | float:
    number = as_number(value_arg(arg))
    if number is None:
        raise Fail(f"type mismatch in {fn}: expected a number, got {describe(arg)}")
    return number


def whole_arg(arg: Result, fn: str) -> int:
    return round_even(number_arg(arg, fn))


def count_arg(arg: Result, fn: str, what: str) -> int:
    count = whole_arg(arg, fn)
    if count < 0:
        raise Fail(f"{fn} needs a {what} of 0 or more, got {count}")
    return count


def date_arg(arg: Result, fn: str) -> datetime.datetime:
    date = as_date(value_arg(arg))
    if date is None:
        raise Fail(f"type mismatch in {fn}: expected a date, got {describe(arg)}")
    return date


def compare_arg(args: list[Result], index: int, fn: str) -> bool:
    """Whether an optional VBA ``compare`` argument asks for text (case-insensitive) compare."""
    if len(args) <= index:
        return False
    mode = whole_arg(args[index], fn)
    if mode not in (0, 1):
        raise Fail(f"{fn}: compare must be 0 (binary) or 1 (text), got {mode}")
    return mode == 1

"""The expression tree: one class per kind of node, each evaluating itself.

Every node knows where it starts (an offset into the evaluated text, for errors) and how deep
its subtree is, bounded by :data:`~amlses.expr.parser.MAX_DEPTH`, so evaluation never nears
Python's recursion limit.  The parser builds these nodes, the static checks walk them, and
evaluation is a call on the root; keeping them apart from the parser lets the checks and
``references`` read the tree without knowing how it was parsed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ExpressionError
from ..values import Fail, Value, as_number, checked, describe, joined, to_text, truth
from .builtin import value_arg, whole_arg
from .env import Env, Result
from .functions import FUNCTIONS
from .operators import COMPARISON, arithmetic, compare


class Node:
    """An expression node: where it starts (an offset into the evaluated text) and how deep
    its subtree is (bounded by MAX_DEPTH, so evaluation never nears the recursion limit)."""

    __slots__ = ("offset", "depth")

    def __init__(self, offset: int, depth: int = 1) -> None:
        self.offset = offset
        self.depth = depth

    def evaluate(self, env: Env) -> Result:
        raise NotImplementedError

    def children(self) -> Sequence[Node]:
        return ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Value, offset: int) -> None:
        super().__init__(offset)
        self.value = value

    def evaluate(self, env: Env) -> Result:
        return self.value


class Name(Node):
    """A variable or ``Dataset.Field``, resolved through the scope as a value token."""

    __slots__ = ("name",)

    def __init__(self, name: str, offset: int) -> None:
        super().__init__(offset)
        self.name = name

    def evaluate(self, env: Env) -> Result:
        try:
            return env.scope.resolve(self.name)
        except KeyError:
            # Automate's wording (spec/aml-core.md §2), after the name.
            message = (
                f'unknown variable or dataset field "{self.name}": '
                "a variable in the expression does not exist or is misspelled"
            )
            raise Fail(message, self.offset) from None
        except ExpressionError as exc:  # e.g. a dataset past its last row
            raise Fail(exc.message, self.offset) from None


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: Node, offset: int) -> None:
        super().__init__(offset, operand.depth + 1)
        self.op = op
        self.operand = operand

    def children(self) -> Sequence[Node]:
        return (self.operand,)

    def evaluate(self, env: Env) -> Result:
        value = self.operand.evaluate(env)
        try:
            if self.op == "not":
                return not truth(value, "'Not'")
            number = as_number(value)
            if number is None:
                raise Fail(f"type mismatch: '{self.op}' needs a number, got {describe(value)}")
            return checked(-number if self.op == "-" else number)
        except Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise


class Chain(Node):
    """Operands joined by operators of one precedence level, evaluated left to right.

    Chains are flat (``1+2+…+1000`` is one node, not a thousand nested ones), so long
    expressions stay shallow.
    """

    __slots__ = ("level", "first", "ops", "rest", "op_offsets")

    def __init__(self, level: int, first: Node, op: str, second: Node, offset: int) -> None:
        super().__init__(first.offset, max(first.depth, second.depth) + 1)
        self.level = level
        self.first = first
        self.ops = [op]
        self.rest = [second]
        self.op_offsets = [offset]

    def append(self, op: str, operand: Node, offset: int) -> None:
        self.ops.append(op)
        self.rest.append(operand)
        self.op_offsets.append(offset)
        self.depth = max(self.depth, operand.depth + 1)

    def children(self) -> Sequence[Node]:
        return [self.first, *self.rest]

    def evaluate(self, env: Env) -> Result:
        value = self.first.evaluate(env)
        if self.level <= 2:  # Or, And: logical, both sides evaluated (as VBA does)
            word = "'Or'" if self.level == 1 else "'And'"
            result = self._truth(value, word, self.op_offsets[0])
            for operand, offset in zip(self.rest, self.op_offsets, strict=True):
                truth = self._truth(operand.evaluate(env), word, offset)
                result = (result or truth) if self.level == 1 else (result and truth)
            return result
        combine = compare if self.level == COMPARISON else arithmetic
        for op, operand, offset in zip(self.ops, self.rest, self.op_offsets, strict=True):
            right = operand.evaluate(env)
            try:
                value = combine(op, value, right)
            except Fail as fail:
                fail.offset = offset if fail.offset is None else fail.offset
                raise
        return value

    @staticmethod
    def _truth(value: Result, word: str, offset: int) -> bool:
        try:
            return truth(value, word)
        except Fail as fail:
            fail.offset = offset
            raise


class Call(Node):
    """``Name(args)``; the function exists and the arguments fit, or compile refused it."""

    __slots__ = ("name", "key", "args")

    def __init__(self, name: str, args: list[Node], offset: int) -> None:
        super().__init__(offset, max((a.depth for a in args), default=0) + 1)
        self.name = name
        self.key = name.lower()
        self.args = args

    def children(self) -> Sequence[Node]:
        return self.args

    def evaluate(self, env: Env) -> Result:
        function = FUNCTIONS[self.key]  # compile refused unknown names
        try:
            if self.key == "iif":  # only the chosen branch is evaluated
                chosen = truth(value_arg(self.args[0].evaluate(env)), "IIf")
                return self.args[1 if chosen else 2].evaluate(env)
            return function.run(env, [arg.evaluate(env) for arg in self.args])
        except Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise
        except OverflowError:
            raise Fail(f"overflow in {function.name}", self.offset) from None


class Index(Node):
    """``Split(text, delimiter)(index)``: one item of Split's list, zero-based as in VBA."""

    __slots__ = ("target", "index")

    def __init__(self, target: Node, index: Node, offset: int) -> None:
        super().__init__(offset, max(target.depth, index.depth) + 1)
        self.target = target
        self.index = index

    def children(self) -> Sequence[Node]:
        return (self.target, self.index)

    def evaluate(self, env: Env) -> Result:
        items = self.target.evaluate(env)
        index = self.index.evaluate(env)
        try:
            position = whole_arg(index, "the index")
            if not isinstance(items, tuple) or not 0 <= position < len(items):
                count = len(items) if isinstance(items, tuple) else 0
                raise Fail(
                    f"index {position} is outside the list from Split (it has {count} "
                    f"item{'s' if count != 1 else ''}, numbered from 0)"
                )
            return items[position]
        except Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise


class Template(Node):
    """A string literal holding ``%…%`` parts (Complex conditions): each part's value is
    spliced into the string, never parsed as part of the expression."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[str | Node], offset: int) -> None:
        nodes = [part for part in parts if isinstance(part, Node)]
        super().__init__(offset, max((n.depth for n in nodes), default=0) + 1)
        self.parts = parts

    def children(self) -> Sequence[Node]:
        return [part for part in self.parts if isinstance(part, Node)]

    def evaluate(self, env: Env) -> Result:
        texts = [
            p if isinstance(p, str) else to_text(value_arg(p.evaluate(env))) for p in self.parts
        ]
        return joined(*texts)

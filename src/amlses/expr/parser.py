"""The parser: tokens to a tree, operator precedence by a shunting-yard loop.

The loop is iterative; it recurses only into parentheses, arguments and ``%…%`` parts, each
counted against :data:`MAX_DEPTH`, so hostile input fails fast with a clear error and never with
a ``RecursionError``.  Operator chains of one precedence level are flat nodes, so long
expressions stay shallow.  Names are not resolved here: a name becomes a
:class:`~amlses.expr.nodes.Name` read through the scope at run time, never text pasted back.
"""

from __future__ import annotations

from .functions import BARE_FUNCTIONS
from .lexer import Lexer, Token
from .nodes import Call, Chain, Index, Literal, Name, Node, Template, Unary
from .operators import BINARY, PREFIX
from .scanner import EMPTY, Offsets, inner_offsets, mapped

#: the deepest nesting of parentheses, calls, operators and ``%…%`` parts in one expression
MAX_DEPTH = 100
_TOO_DEEP = f"the expression is nested too deeply (the limit is {MAX_DEPTH} levels)"


class Parser(Lexer):
    """Parses one expression.  ``refs`` says whether ``%…%`` parts may appear (conditions and
    :func:`~amlses.expr.evaluate`); inside a ``%…%`` part they may not, since a ``%`` there is
    literal."""

    def __init__(self, text: str, refs: bool, offsets: Offsets, depth: int) -> None:
        super().__init__(text, refs, offsets)
        self.depth = depth
        self.previous: Token | None = None
        self.token = self.lex()

    # -- helpers

    def describe(self, token: Token) -> str:
        if token.kind == "end":
            return "the end of the expression"
        written = self.text[token.start : token.end]
        return f"'{written if len(written) <= 30 else written[:27] + '...'}'"

    def advance(self) -> Token:
        self.previous, self.token = self.token, self.lex()
        return self.previous

    # -- grammar

    def parse(self) -> Node:
        node = self.expression(self.depth)
        token = self.token
        if token.kind == ")":
            raise self.fail("unexpected ')': there is no '(' to close", token.start)
        if token.kind == ",":
            raise self.fail("unexpected ',' outside a function's arguments", token.start)
        if token.kind != "end":
            raise self.fail(f"expected an operator before {self.describe(token)}", token.start)
        return node

    def expression(self, depth: int) -> Node:
        """One expression up to a token that cannot continue it (``)``, ``,``, the end).

        Operators are ordered with an explicit stack instead of one recursive function per
        precedence level, so Python's stack grows only with parentheses and calls.
        """
        if depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, self.token.start)
        operands: list[Node] = []
        pending: list[tuple[str, int, bool, int]] = []  # (operator, precedence, prefix, index)
        while True:
            while self.token.kind == "op" and self.token.value in PREFIX:
                op = self.advance()
                pending.append((str(op.value), PREFIX[str(op.value)], True, op.start))
            operands.append(self.primary(depth))
            token = self.token
            if token.kind != "op" or token.value not in BINARY:
                break
            precedence = BINARY[str(token.value)]
            while pending and pending[-1][1] >= precedence:  # all binary operators: left-assoc
                self.reduce(operands, pending)
            self.advance()
            pending.append((str(token.value), precedence, False, token.start))
        while pending:
            self.reduce(operands, pending)
        return operands[0]

    def reduce(self, operands: list[Node], pending: list[tuple[str, int, bool, int]]) -> None:
        """Apply the operator on top of ``pending``; a left-associative run of one level is
        appended to its chain rather than nested."""
        op, precedence, prefix, index = pending.pop()
        node: Node
        if prefix:
            node = Unary(op, operands.pop(), self.at(index))
        else:
            right, left = operands.pop(), operands.pop()
            if isinstance(left, Chain) and left.level == precedence:
                left.append(op, right, self.at(index))
                node = left
            else:
                node = Chain(precedence, left, op, right, self.at(index))
        if node.depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, index)
        operands.append(node)

    def primary(self, depth: int) -> Node:
        token = self.token
        if token.kind == "lit":
            self.advance()
            return Literal(token.value, self.at(token.start))  # type: ignore[arg-type]
        if token.kind == "name":
            return self.name(depth)
        if token.kind == "(":
            self.advance()
            node = self.expression(depth + 1)
            self.close(token, "the '('")
            return node
        if token.kind == "ref":
            self.advance()
            assert isinstance(token.value, tuple)
            return self.part(token.value[0], token.value[1], depth)
        if token.kind == "tmpl":
            self.advance()
            parts: list[str | Node] = []
            assert isinstance(token.value, list)
            for piece in token.value:
                if isinstance(piece, str):
                    parts.append(piece)
                else:
                    parts.append(self.part(piece[0], piece[1], depth))
            return Template(parts, self.at(token.start))
        previous = self.previous
        if token.kind == "end" and previous is None:
            raise self.fail("the expression is empty", token.start)
        if token.kind == "end":
            assert previous is not None
            raise self.fail(f"expected a value after {self.describe(previous)}", token.start)
        raise self.fail(f"expected a value before {self.describe(token)}", token.start)

    def close(self, opening: Token, what: str) -> None:
        token = self.token
        if token.kind == ")":
            self.advance()
            return
        if token.kind == "end":
            raise self.fail(f"expected ')' to close {what}", token.start, opening.start)
        raise self.fail(
            f"expected an operator or ')' before {self.describe(token)} to close {what}",
            token.start,
            opening.start,
        )

    def part(self, start: int, close: int, depth: int) -> Node:
        """A ``%…%`` part of a condition: parsed on its own, used as one value token."""
        inner = self.text[start + 1 : close].replace("%%", "%")
        if not inner.strip():
            raise self.fail(EMPTY, start)
        local = inner_offsets(self.text, start + 1, close)
        offsets: Offsets
        if isinstance(local, int) and isinstance(self.offsets, int):
            offsets = self.offsets + local
        else:
            span = range(len(inner) + 1)
            offsets = [self.at(mapped(local, k)) for k in span]
        return Parser(inner, False, offsets, depth + 1).parse()

    def name(self, depth: int) -> Node:
        """A variable, ``Dataset.Field``, ``Now``-style bare call, or ``Name(args)``; a space
        before the ``(`` is allowed (``Day (Now())`` appears in the AWE docs)."""
        token = self.advance()
        name, offset = str(token.value), self.at(token.start)
        if self.token.kind != "(":
            if "." not in name and name.lower() in BARE_FUNCTIONS:
                return Call(name, [], offset)
            return Name(name, offset)
        opening = self.advance()
        args: list[Node] = []
        if self.token.kind == ")":
            self.advance()
        else:
            while True:
                if self.token.kind == "end":
                    self.close(opening, f"the '(' of {name}")
                if self.token.kind in (",", ")"):
                    raise self.fail(
                        f"expected an argument for {name} before {self.describe(self.token)}",
                        self.token.start,
                    )
                args.append(self.expression(depth + 1))
                if self.token.kind == ",":
                    self.advance()
                    continue
                self.close(opening, f"the '(' of {name}")
                break
        node: Node = Call(name, args, offset)
        if self.token.kind == "(":  # Split(text, ",")(0)
            opening = self.advance()
            index = self.expression(depth + 1)
            self.close(opening, "the index")
            node = Index(node, index, self.at(opening.start))
        if node.depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, token.start)
        return node

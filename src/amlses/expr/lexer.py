"""Tokens: the lexer that turns one expression's text into tokens, on demand.

Single quotes are strings in Automate, not VBA comments (aml-reference.md §4.2); a string may
hold ``%…%`` parts where they are allowed (conditions and :func:`~amlses.expr.evaluate`), which
are resolved as value tokens rather than read as string text.  Operators of the VBA family that
amlses does not implement are refused here, by name, rather than guessed (spec/aml-core.md §3).
The :class:`~amlses.expr.parser.Parser` reads tokens through the :class:`Lexer` it extends; the
lexer is linear in the text, one token at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..values import Fail, number_literal
from .scanner import UNTERMINATED, UNTERMINATED_SUFFIX, Offsets, find_close, mapped

_PERCENT_HINT = (
    "unexpected '%': '%%' inside %…% is a literal percent sign, so '%a%%b%' is the single "
    "expression 'a%b', not two; join values inside one pair instead: %a & b%"
)
# In the VBA family, but not implemented: refused rather than guessed (spec/aml-core.md §3).
_UNSUPPORTED = {"like": "Like", "is": "Is", "xor": "Xor", "eqv": "Eqv", "imp": "Imp"}


@dataclass(slots=True)
class Token:
    """One token; ``start``/``end`` index the parser's own text (see ``Lexer.at``)."""

    kind: str  # lit name op ( ) , ref tmpl end
    value: object
    start: int
    end: int


_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
_WORD_OPERATORS = frozenset({"mod", "and", "or", "not"})
_BAD_PAIRS = {"=<": "<=", "=>": ">=", "><": "<>"}
_STRING_STOP = {'"': re.compile(r'["%]'), "'": re.compile(r"['%]")}


def string_end(text: str, start: int) -> int:
    """The index after the string literal opening at ``start`` (honouring doubled quotes and
    skipping ``%…%`` parts, which are resolved before BASIC reads the text), or -1."""
    quote, i = text[start], start + 1
    stop = _STRING_STOP[quote]
    while True:
        found = stop.search(text, i)
        if found is None:
            return -1
        k = found.start()
        if text[k] == quote:
            if text.startswith(quote * 2, k):
                i = k + 2
                continue
            return k + 1
        if text.startswith("%%", k):
            i = k + 2
            continue
        close = find_close(text, k + 1)
        if close < 0:
            return -1
        i = close + 1


class Lexer:
    """Reads tokens from ``text`` one at a time.  ``refs`` says whether ``%…%`` parts may
    appear; ``offsets`` maps an index into ``text`` to the offset, in the text the caller
    evaluates, that errors point at (``text`` may be a ``%…%`` part of a larger one)."""

    def __init__(self, text: str, refs: bool, offsets: Offsets) -> None:
        self.text = text
        self.refs = refs
        self.offsets = offsets
        self.pos = 0

    def at(self, index: int) -> int:
        """The offset, in the text the caller evaluates, of ``index`` in this lexer's text."""
        return mapped(self.offsets, index)

    def fail(self, message: str, index: int, opened: int | None = None, suffix: str = "") -> Fail:
        """A failure at ``index`` (and ``opened``) in this text, at its offset for the caller."""
        return Fail(message, self.at(index), None if opened is None else self.at(opened), suffix)

    def lex(self) -> Token:
        """The next token, from ``pos`` on; ``pos`` moves past it."""
        text = self.text
        i = _SPACE.match(text, self.pos).end()  # type: ignore[union-attr]
        if i >= len(text):
            self.pos = i
            return Token("end", None, i, i)
        char = text[i]
        if "0" <= char <= "9" or (char == "." and "0" <= text[i + 1 : i + 2] <= "9"):
            match = _NUMBER.match(text, i)
            assert match is not None
            number = number_literal(match.group())
            if number is None:
                raise self.fail("the number is too large", i)
            return self._token("lit", number, i, match.end())
        if char in "\"'":
            return self._string(i)
        if char == "%":
            return self._ref(i)
        match = _NAME.match(text, i)
        if match is not None:
            return self._word(match.group(), i, match.end())
        pair = text[i : i + 2]
        if pair in ("<>", "<=", ">="):
            return self._token("op", pair, i, i + 2)
        if pair in _BAD_PAIRS:
            raise self.fail(f"'{pair}' is not an operator; write '{_BAD_PAIRS[pair]}'", i)
        if char in "+-*/\\^&=<>":
            return self._token("op", char, i, i + 1)
        if char in "(),":
            return self._token(char, char, i, i + 1)
        if char == "#":
            raise self.fail(
                "date literals like #1/31/2026# are not supported by amlses; "
                'use DateSerial(2026, 1, 31) or CDate("2026-01-31")',
                i,
            )
        raise self.fail(f"unexpected character {char!r}", i)

    def _token(self, kind: str, value: object, start: int, end: int) -> Token:
        self.pos = end
        return Token(kind, value, start, end)

    def _word(self, word: str, start: int, end: int) -> Token:
        lowered = word.lower()
        if "." not in word:
            if lowered in ("true", "false"):
                return self._token("lit", lowered == "true", start, end)
            if lowered in _WORD_OPERATORS:
                return self._token("op", lowered, start, end)
            if lowered in _UNSUPPORTED:
                raise self.fail(f"'{_UNSUPPORTED[lowered]}' is not supported by amlses", start)
        if self.text.startswith(".", end):
            raise self.fail(f"expected a field name after '{word}.'", end)
        return self._token("name", word, start, end)

    def _string(self, start: int) -> Token:
        """A ``"…"`` or ``'…'`` literal (a doubled quote stands for itself).  Single quotes are
        strings in Automate, not VBA comments (aml-reference.md §4.2)."""
        quote, text = self.text[start], self.text
        if not self.refs:
            parts, i = [], start + 1
            while True:
                k = text.find(quote, i)
                if k < 0:
                    raise self.fail(f"unterminated string: expected a closing {quote}", start)
                parts.append(text[i:k])
                if not text.startswith(quote * 2, k):
                    return self._token("lit", "".join(parts), start, k + 1)
                parts.append(quote)
                i = k + 2
        # With %…% parts allowed, a string may hold them: "Dear %name%" (a template).
        pieces: list[str | tuple[int, int]] = []
        chunk: list[str] = []
        i, stop = start + 1, _STRING_STOP[quote]
        while True:
            found = stop.search(text, i)
            if found is None:
                raise self.fail(f"unterminated string: expected a closing {quote}", start)
            k = found.start()
            chunk.append(text[i:k])
            if text[k] == quote:
                if text.startswith(quote * 2, k):
                    chunk.append(quote)
                    i = k + 2
                    continue
                break
            if text.startswith("%%", k):
                chunk.append("%")
                i = k + 2
                continue
            close = find_close(text, k + 1)
            if close < 0:
                raise self.fail(UNTERMINATED, k, suffix=UNTERMINATED_SUFFIX)
            pieces.append("".join(chunk))
            pieces.append((k, close))
            chunk = []
            i = close + 1
        pieces.append("".join(chunk))
        if len(pieces) == 1:
            return self._token("lit", pieces[0], start, k + 1)
        return self._token("tmpl", pieces, start, k + 1)

    def _ref(self, start: int) -> Token:
        if not self.refs:
            raise self.fail(_PERCENT_HINT, start)
        if self.text.startswith("%%", start):
            raise self.fail("unexpected '%%': a literal percent sign cannot stand here", start)
        close = find_close(self.text, start + 1)
        if close < 0:
            raise self.fail(UNTERMINATED, start, suffix=UNTERMINATED_SUFFIX)
        return self._token("ref", (start, close), start, close + 1)

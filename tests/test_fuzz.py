"""Hostile and malformed input: no task text and no expression can crash or hang amlses.

Property-based tests (hypothesis) feed the parser, the static check, the ``%…%`` scanner and
the expression and condition evaluators random text and mutations of the seed samples and the
example tasks.  The only acceptable outcomes are a result or an amlses error that says where
(a position, or an offset for the scanner) — never another exception, never a hang (each
example has a deadline).  The limits are tested on their own: task size, nesting depth,
expression length and depth, and entity expansion or external entities, which are refused
before anything is expanded.

``bench/fuzz.py`` runs the same properties over many more generated inputs.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlses import api
from amlses.errors import AmlError, AmlSyntaxError, ExpressionError, Problem, UsageError
from amlses.expr import (
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    condition,
    evaluate,
    problems,
    references,
    scan,
    substitute,
)
from amlses.expr.functions import FUNCTIONS as BUILTINS
from amlses.lang.nodes import Block, Step, Task
from amlses.lang.parser import MAX_TASK_CHARS
from amlses.loader import parse_task
from amlses.redact import Redactor
from amlses.source import Position


def parse_with_problems(text: str, name: str = "<task>") -> tuple[Task, list[Problem]]:
    """The parser as the loader runs it (with the registry's block grammar)."""
    return parse_task(text, name)


ROOT = Path(__file__).parent.parent
SEED_FILES = sorted(
    [*(ROOT / "tests" / "tasks").glob("*/*.aml"), *(ROOT / "examples").glob("**/*.aml")]
)
SEEDS = [path.read_text(encoding="utf-8") for path in SEED_FILES]

# Pieces of AML and BASIC that make mutations reach deep into the parser and evaluator.
MARKUP = [
    "<",
    ">",
    "/>",
    "</",
    "=",
    '"',
    "'",
    "&",
    ";",
    "%",
    "%%",
    "<!--",
    "-->",
    "<!--- --->",
    "<?xml version='1.0'?>",
    "<?pi x?>",
    "<![CDATA[x]]>",
    '<!DOCTYPE t [<!ENTITY a "&b;&b;">]>',
    '<!ENTITY x SYSTEM "file:///etc/passwd">',
    "&a;",
    "&amp;",
    "&lt;",
    "&#65;",
    "&#x41;",
    "&#xD800;",
    "&#0;",
    "&#99999999999999;",
    "&#x;",
    '<AMIF EXPRESSION="%x%=1">',
    "</AMIF>",
    '<AMIF ACTIVITY="end" />',
    "<AMELSE />",
    "</AMELSE>",
    '<AMLOOP ACTIVITY="dataset" DATASET="IDList">',
    "</AMLOOP>",
    '<AMLOOP ACTIVITY="break" />',
    "<AMENDIF>",
    '<AMAWSSES ACTIVITY="create_session" SESSION="S" ACCESSKEY="" SECRETKEY="amlses:v1:x" />',
    '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" RESULTDATSET="IDList" />',
    '<AMVARIABLE NAME="x" VALUE="1" />',
    'USECOMPLEXUI="YES"',
    "\x00",
    "\ufeff",
    "\r\n",
    "\t",
    "é",
    "\U0001f600",
]
EXPRESSION_TOKENS = [
    "1",
    "0",
    "-1",
    "2.5",
    "1E308",
    "1E-308",
    "99999999999999999999",
    '"a"',
    '""',
    '"x""y"',
    "x",
    "name",
    "IDList.Type",
    "missing",
    "d",
    "%x%",
    "%name%",
    "%%",
    "+",
    "-",
    "*",
    "/",
    "\\",
    "^",
    "&",
    "=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "Mod",
    "And",
    "Or",
    "Not",
    "Like",
    "(",
    ")",
    ",",
    "True",
    "False",
    "#1/2/2024#",
    *[
        f"{name}("
        for name in (
            "Len Left Right Mid UCase Trim InStr Replace Split Join UBound CStr CDbl CBool "
            "CDate Val Str IsNumeric IsDate Now DateAdd DateDiff DatePart DateSerial "
            "TimeSerial IIf Abs Int Round Chr Asc Space StrComp Format Unknown"
        ).split()
    ],
]


class Scope:
    """Variables and a dataset field, a fixed clock; unknown names raise KeyError."""

    VALUES: dict[str, object] = {
        "x": 5,
        "name": "alice@example.com",
        "idlist.type": "EmailAddress",
        "d": datetime.datetime(2024, 2, 29, 10, 30),
        "big": 10**300,
    }

    def resolve(self, name: str) -> object:
        return self.VALUES[name.lower()]

    def now(self) -> datetime.datetime:
        return datetime.datetime(2024, 1, 1, 12, 0)


SCOPE = Scope()
WHERE = Position("fuzz.aml", 3, 7)


# --------------------------------------------------------------------------------------------
# Generators, written against a small Choices interface so that hypothesis (here, with
# shrinking) and bench/fuzz.py (a seeded random.Random, for 100k+ inputs) share them.

T = TypeVar("T")


class Choices(Protocol):
    """The random decisions a generator makes."""

    def integer(self, low: int, high: int) -> int: ...

    def element(self, items: Sequence[T]) -> T: ...

    def text(self, max_size: int) -> str: ...


def joined(choose: Choices, tokens: Sequence[str], separators: Sequence[str] = ("", " ")) -> str:
    """Up to 25 tokens, each followed by one of ``separators``."""
    count = choose.integer(0, 25)
    return "".join(choose.element(tokens) + choose.element(separators) for _ in range(count))


def mutated(choose: Choices, seeds: Sequence[str], pieces: Sequence[str]) -> str:
    """A seed with a few random edits: insert a piece or random text, delete, duplicate,
    swap two parts, or cut the text short."""
    text = choose.element(seeds)
    for _ in range(choose.integer(1, 6)):
        start = choose.integer(0, len(text))
        end = choose.integer(start, min(len(text), start + 40))
        action = choose.element(("insert", "text", "delete", "duplicate", "swap", "cut"))
        if action == "insert":
            text = text[:start] + choose.element(pieces) + text[start:]
        elif action == "text":
            text = text[:start] + choose.text(8) + text[start:]
        elif action == "delete":
            text = text[:start] + text[end:]
        elif action == "duplicate":
            text = text[:end] + text[start:end] * choose.integer(1, 30) + text[end:]
        elif action == "swap":
            text = text[end:] + text[start:end] + text[:start]
        else:
            text = text[:start]
    return text


# Values made of character references and other escapes, in an otherwise well-formed step.
VALUE_PIECES = ["&#", "&#x", "D800", "DFFF", "0", "1F600", "110000", ";", "&amp;", "&", "%", "é"]
MARKUP_CHARACTERS = "<>/=\"'&;%!-?[]AMIFLOPabc \n"
EXPRESSION_SEEDS = [
    'Len("abc") + 1',
    '%IDList.Type% = "EmailAddress"',
    "IIf(x > 1, Left(name, 3), d)",
    'DateAdd("d", x, d) > Now() And Not IsNumeric(name)',
    'Split(name, "@")(1) & Format(x, "000")',
]


def task_text(choose: Choices) -> str:
    """A task: a mutated seed, a step with escapes in its value, or AML-ish noise."""
    kind = choose.integer(0, 4)
    if kind <= 1:
        return mutated(choose, SEEDS, MARKUP)
    if kind == 2:
        value = "".join(choose.element(VALUE_PIECES) for _ in range(choose.integer(0, 30)))
        return f'<AMAWSSES ACTIVITY="verify_identity" IDENTITY="{value}" />\n'
    if kind == 3:
        return joined(choose, MARKUP, ("", " ", "\n"))
    return "".join(choose.element(MARKUP_CHARACTERS) for _ in range(choose.integer(0, 300)))


# Every built-in with the argument counts it accepts, read from the function table itself so
# the grammar below follows it; and the operands and operators of well-formed expressions.
FUNCTIONS = sorted((f.name, f.low, f.high) for f in BUILTINS.values())
KEYWORDS = {"Mod", "And", "Or", "Not", "Like"}
ATOMS = [t for t in EXPRESSION_TOKENS if t[-1] not in "(),+-*/\\^&=<>%" and t not in KEYWORDS]
ATOMS += ['"2024-02-29"', '"10:30 PM"', '"d"', '"yyyy"', '"1E5"', "%x%", "%name%"]
OPERATORS = ["+", "-", "*", "/", "\\", "^", "&", "Mod", "=", "<>", "<", ">=", "And", "Or"]


def well_formed(choose: Choices, depth: int = 0) -> str:
    """An expression that parses: what remains to fail is the evaluation itself (overflow,
    type mismatches, dates out of range, deep or long results)."""
    kind = choose.integer(0, 4 if depth < 5 else 0)
    if kind == 0:
        return choose.element(ATOMS)
    if kind == 1:
        left, right = well_formed(choose, depth + 1), well_formed(choose, depth + 1)
        return f"{left} {choose.element(OPERATORS)} {right}"
    if kind == 2:
        return f"{choose.element(('-', 'Not ', '+'))}{well_formed(choose, depth + 1)}"
    if kind == 3:
        return f"({well_formed(choose, depth + 1)})"
    name, low, high = choose.element(FUNCTIONS)
    count = choose.integer(low, high)
    return f"{name}({', '.join(well_formed(choose, depth + 1) for _ in range(count))})"


def expression_text(choose: Choices) -> str:
    """An expression or attribute value: a well-formed expression (alone, in a condition or
    inside %…%), tokens, a mutated sample, or any text."""
    kind = choose.integer(0, 5)
    if kind <= 1:
        return well_formed(choose)
    if kind == 2:
        return f"{well_formed(choose)} {choose.element(('=', '<>', '>'))} {choose.element(ATOMS)}"
    if kind == 3:
        return joined(choose, EXPRESSION_TOKENS)
    if kind == 4:
        return mutated(choose, [*EXPRESSION_SEEDS, f"%{well_formed(choose)}%"], EXPRESSION_TOKENS)
    return choose.text(60)


class _Drawn:
    """:class:`Choices` backed by hypothesis, so failures shrink to a small example."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def element(self, items: Sequence[T]) -> T:
        return self._draw(st.sampled_from(items))

    def text(self, max_size: int) -> str:
        return self._draw(st.text(max_size=max_size))


TASKS = st.composite(lambda draw: task_text(_Drawn(draw)))()
EXPRESSIONS = st.composite(lambda draw: expression_text(_Drawn(draw)))()
FUZZ = settings(
    max_examples=800,
    deadline=2000,  # ms per example: a hang or a blow-up fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------------------------
# The properties, as plain functions returning each target's outcome ("result" or "error");
# anything else that escapes, or a failed assertion, is a crash.


def assert_located(error: AmlError) -> None:
    assert error.position is not None, error
    assert error.position.line >= 1 and error.position.column >= 1


def _steps(task: Task) -> Iterator[Step]:
    """Every step, without recursion: a recovered task may nest thousands deep."""
    pending: list[Step] = list(task.body)
    while pending:
        step = pending.pop()
        yield step
        if isinstance(step, Block):
            pending.extend(step.body)
            pending.extend(step.orelse or ())


def check_task(text: str) -> dict[str, str]:
    """Parse, check and prepare (for a run) a task text."""
    task, found = parse_with_problems(text, "fuzz.aml")
    lines = text.count("\n") + 1
    for problem in found:
        assert problem.position is not None
        assert 1 <= problem.position.line <= lines + 1
        problem.render().encode("utf-8")
    for step in _steps(task):  # every value the parser decodes can be sent as UTF-8
        for attribute in step.attributes:
            attribute.value.encode("utf-8")
    outcomes = {"parse": "error" if found else "result"}
    checked = api.check(text, "fuzz.aml", ("x",))
    assert all(problem.position is not None for problem in checked)
    outcomes["check"] = "error" if any(p.severity == "error" for p in checked) else "result"
    try:
        api.prepare(text, "fuzz.aml", ("x",), Redactor())
        outcomes["prepare"] = "result"
    except AmlError as error:
        assert_located(error)
        outcomes["prepare"] = "error"
    return outcomes


def check_scan(text: str) -> dict[str, str]:
    """Split a value into text and ``%…%`` parts, or name the offset of a lone ``%``."""
    try:
        segments = scan(text)
    except ExpressionError as error:
        assert "(at offset " in error.message
        return {"scan": "error"}
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    assert all(0 <= s.start <= s.end <= len(text) for s in segments)
    return {"scan": "result"}


def check_expression(text: str) -> dict[str, str]:
    """Evaluate as an expression, a value and a condition (both modes); analyse statically."""
    outcomes: dict[str, str] = {}
    targets: dict[str, Callable[[], object]] = {
        "evaluate": lambda: evaluate(text, SCOPE, WHERE),
        "substitute": lambda: substitute(text, SCOPE, WHERE),
        "condition": lambda: condition(text, SCOPE, WHERE),
        "complex condition": lambda: condition(text, SCOPE, WHERE, complex=True),
    }
    for name, target in targets.items():
        try:
            value = target()
            assert "condition" not in name or value in (True, False)
            outcomes[name] = "result"
        except ExpressionError as error:
            assert_located(error)
            outcomes[name] = "error"
    for kind in ("text", "expression", "condition"):
        for message, offset in problems(text, kind=kind):
            assert message and 0 <= offset <= len(text)
        for name, offset in references(text, kind=kind):
            assert name and 0 <= offset <= len(text)
    return outcomes


class TestParser:
    @FUZZ
    @given(TASKS)
    def test_parse_check_and_prepare(self, text: str) -> None:
        check_task(text)

    @pytest.mark.parametrize("reference", ["&#xD800;", "&#xdfff;", "&#0;", "&#x110000;", "&#8;"])
    def test_references_to_characters_xml_forbids_are_refused(self, reference: str) -> None:
        # Found by the property above: a lone surrogate reached botocore, which failed to
        # encode the request ("internal error: UnicodeEncodeError").
        text = f'<AMAWSSES ACTIVITY="verify_identity" IDENTITY="a{reference}@example.com" />'
        _, found = parse_with_problems(text, "t.aml")
        assert [p.render().splitlines()[0] for p in found] == [
            f"t.aml:1:49: error: {reference} is not a valid character reference"
        ]

    def test_references_to_characters_xml_allows_are_decoded(self) -> None:
        text = '<AMAWSSES IDENTITY="&#9;&#xA;&#13;&#xE000;&#x1F600;&#65;" />'
        task, found = parse_with_problems(text)
        assert not found and task.body[0].value("IDENTITY") == "\t\n\r\ue000\U0001f600A"


class TestExpressions:
    @FUZZ
    @given(EXPRESSIONS | st.text(max_size=200))
    def test_scan(self, text: str) -> None:
        check_scan(text)

    @FUZZ
    @given(EXPRESSIONS)
    def test_evaluate_conditions_and_static_analysis(self, text: str) -> None:
        check_expression(text)


class TestLimits:
    def test_task_file_size(self, tmp_path: Path) -> None:
        huge = tmp_path / "huge.aml"
        with huge.open("wb") as file:
            file.truncate(api.MAX_TASK_BYTES + 1)  # sparse: nothing is written
        with pytest.raises(UsageError, match="amlses reads at most 10,000,000"):
            api.load(huge)
        found = api.check("<" * (MAX_TASK_CHARS + 1))
        assert [p.message for p in found] == [
            "the task file is 10,000,001 characters long; amlses reads at most 10,000,000"
        ]

    # Deep enough for any recursive walk to overflow the stack (the parser and the secret
    # registration are iterative); parsing is linear, about 30 µs a tag.
    @pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000])
    def test_nesting_depth(self, depth: int) -> None:
        text = '<AMIF EXPRESSION="1=1">\n' * depth + "</AMIF>\n" * depth
        with pytest.raises(AmlSyntaxError) as info:
            api.prepare(text, "deep.aml", (), Redactor())
        assert (
            info.value.problems[0]
            .render()
            .startswith(
                f"deep.aml:{MAX_DEPTH + 1}:1: error: <AMIF>: blocks are nested more than 100 deep"
            )
        )

    def test_expression_length(self) -> None:
        text = "1+" * MAX_EXPRESSION_LENGTH + "1"
        with pytest.raises(ExpressionError) as info:
            evaluate(text, SCOPE, WHERE)
        assert info.value.render() == (
            "fuzz.aml:3: the expression is too long (20,001 characters; the limit is 10,000)"
        )
        assert problems(text, kind="expression") == [(info.value.message, 0)]

    @pytest.mark.parametrize(
        "text",
        [
            "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
            "Abs(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
            "-" * (MAX_DEPTH + 1) + "1",
            "(" * 4999 + "1" + ")" * 4999,  # as deep as the length limit allows
        ],
        ids=["parentheses", "calls", "prefix", "deepest"],
    )
    def test_expression_depth(self, text: str) -> None:
        message = "the expression is nested too deeply (the limit is 100 levels)"
        with pytest.raises(ExpressionError, match=re.escape(message)) as info:
            evaluate(text, SCOPE, WHERE)
        assert_located(info.value)
        assert [m for m, _ in problems(text, kind="expression")] == [message]

    BILLION_LAUGHS = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + "".join(
            f' <!ENTITY lol{n} "' + f"&lol{n - 1 if n > 1 else ''};" * 10 + '">\n'
            for n in range(1, 10)
        )
        + "]>\n"
        '<AMVARIABLE NAME="x" VALUE="&lol9;" />\n'
    )
    EXTERNAL = (
        '<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd"> '
        '<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
        '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="&xxe;" />\n'
    )

    @pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL], ids=["laughs", "external"])
    def test_entities_are_refused_before_expansion(self, text: str) -> None:
        # not expanded: every value stays short (an expansion would be a billion "lol"s)
        task, found = parse_with_problems(text, "t.aml")
        messages = [p.message for p in found]
        assert messages[0].startswith("<!DOCTYPE is not allowed: amlses refuses DTDs")
        assert any(m.startswith("unknown entity &") for m in messages)
        values = [a.value for step in task.walk() for a in step.attributes]
        assert all(len(value) < 20 and "root:" not in value for value in values)
        with pytest.raises(AmlSyntaxError):
            api.run(text, "t.aml")

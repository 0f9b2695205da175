"""Tests for amlses.expr: the %…% scanner, the BASIC subset, conditions, static checks."""

from __future__ import annotations

import datetime
import pickle
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlses.errors import ExpressionError
from amlses.expr import (
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    Segment,
    condition,
    evaluate,
    problems,
    references,
    scan,
    substitute,
)
from amlses.source import Position
from amlses.values import Value

NOW = datetime.datetime(2026, 11, 23, 10, 40, 5)
BASE = Position("task.aml", 7, 20)


class DictScope:
    """A scope over a dict, names case-insensitive, with a fixed clock."""

    def __init__(self, values: dict[str, Value]) -> None:
        self.values = {name.lower(): value for name, value in values.items()}

    def resolve(self, name: str) -> Value:
        return self.values[name.lower()]

    def now(self) -> datetime.datetime:
        return NOW


# Values chosen to break an engine that pastes text and parses it again.
HOSTILE = 'a" & Len("x") & "b'
SCOPE = DictScope(
    {
        "count": 5,
        "ten": "10",
        "nine": "9",
        "name": "Mary",
        "empty": "",
        "flag": True,
        "half": 2.5,
        "when": datetime.datetime(2026, 1, 31, 14, 5, 9),
        "hostile": HOSTILE,
        "percent": "100%",
        "amp": "a & b",
        "spaced": "  two words  ",
        "quote": "it's",
        "IDList.Type": "EmailAddress",
        "IDList.Identity": "user@example.com",
        "Other.Type": "Domain",
    }
)


def run(expression: str) -> Value:
    return evaluate(expression, SCOPE)


def same(actual: Value, expected: Value) -> bool:
    """Equal in value *and* type (5 is not 5.0 is not True here)."""
    return type(actual) is type(expected) and actual == expected


def fails(call: Callable[..., object], *args: object, **kwargs: object) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        call(*args, **kwargs)
    return caught.value


class TestScan:
    @pytest.mark.parametrize(
        ("text", "segments"),
        [
            ("", []),
            ("plain", [Segment("text", "plain", 0, 5)]),
            ("%x%", [Segment("expr", "x", 0, 3)]),
            ("5%%", [Segment("text", "5%", 0, 3)]),
            ("%%", [Segment("text", "%", 0, 2)]),
            (
                "a %x% b %y + 1%",
                [
                    Segment("text", "a ", 0, 2),
                    Segment("expr", "x", 2, 5),
                    Segment("text", " b ", 5, 8),
                    Segment("expr", "y + 1", 8, 15),
                ],
            ),
            ("%a%%b%", [Segment("expr", "a%b", 0, 6)]),  # one expression, as the docs say
            ('%"50%%"%', [Segment("expr", '"50%"', 0, 8)]),
            (
                "50%% of %n%",
                [Segment("text", "50% of ", 0, 8), Segment("expr", "n", 8, 11)],
            ),
        ],
    )
    def test_segments(self, text: str, segments: list[Segment]) -> None:
        assert scan(text) == segments

    @pytest.mark.parametrize(("text", "offset"), [("100% sure", 3), ("%a% and %b", 8), ("%", 0)])
    def test_unterminated_names_the_offset(self, text: str, offset: int) -> None:
        error = fails(scan, text)
        assert "unterminated '%'" in error.message
        assert f"offset {offset}" in error.message


class TestOperators:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            # precedence, VBA's
            ("2+3*4", 14),
            ("(2+3)*4", 20),
            ("-2^2", -4.0),
            ("2^3^2", 64.0),
            ("2^-1", 0.5),
            ("-2*3", -6),
            ("10-4-3", 3),
            ("2*3^2", 18.0),
            ("1 + 2 & 3", "33"),
            ("8 \\ 3 * 2", 1),  # * before \
            ("7 Mod 4 \\ 2", 1),  # \ before Mod
            ("1 + 7 Mod 4", 4),  # Mod before +
            ("((((1))))", 1),
            # arithmetic
            ("7 / 2", 3.5),
            ("6 / 3", 2.0),
            ("7 \\ 2", 3),
            ("-7 \\ 2", -3),
            ("7.6 \\ 2", 4),  # operands rounded first
            ("2.5 \\ 1", 2),  # banker's: 2.5 -> 2
            ("7 Mod 3", 1),
            ("-7 Mod 3", -1),
            ("7 mod -3", 1),
            ("7.5 MOD 2", 0),  # 7.5 -> 8
            ("2 ^ 0.5", 2**0.5),
            ("1.5 * 2", 3.0),
            ("ten * 2", 20),
            ("ten - nine", 1),
            ("-ten", -10),
            ("+nine", 9),
            ("True + 1", 0),  # True is -1 in arithmetic, as in VBA
            # + adds numbers, numeric text included, and otherwise joins
            ("1 + 2", 3),
            ('"1" + "2"', 3),
            ("ten + 1", 11),
            ('"a" + "b"', "ab"),
            ('name + " " + name', "Mary Mary"),
            ('"a" + 1', "a1"),
            ('empty + ""', ""),
            # & always joins text
            ("1 & 2", "12"),
            ('"a" & True', "aTrue"),
            ('2.5 & ""', "2.5"),
            ("count & half", "52.5"),
            # comparisons: numbers when both numeric (numeric text too), else case-sensitive text
            ('"10" < "9"', False),
            ("ten < nine", False),
            ("ten > 9", True),
            ('"abc" < "abd"', True),
            ('"a" = "A"', False),
            ('"a" <> "A"', True),
            ('"b" > "B"', True),
            ("1 <= 1", True),
            ("2 >= 3", False),
            ('"" = ""', True),
            ('"" = 0', False),
            ('" 5 " = 5', True),
            ('"5.0" = 5', True),
            ("True = -1", True),
            ('True = "True"', True),
            ("1 < 2 < 3", True),  # (1<2) is True, -1 < 3
            ("3 > 2 > 1", False),  # True (-1) > 1 is False, as in VBA
            ('when > "2026-01-01"', True),
            ('when = "1/31/2026 2:05:09 PM"', True),
            # logical
            ("Not False", True),
            ("not 0", True),
            ("Not 1 = 2", True),
            ("True And False", False),
            ("True Or False", True),
            ('"true" AND "TRUE"', True),
            ("1 And 2", True),
            ("False Or False", False),
            ("Not True Or True", True),  # (Not True) Or True
            ("True Or True And False", True),  # And binds tighter
            ("count > 3 And count < 10", True),
            ("count = 1 or count = 5", True),
        ],
    )
    def test_value(self, expression: str, expected: Value) -> None:
        assert same(run(expression), expected)

    @pytest.mark.parametrize("word", ["Like", "Is", "Xor", "Eqv", "Imp", "like", "XOR"])
    def test_unsupported_operators_are_refused(self, word: str) -> None:
        error = fails(run, f"a {word} b")
        assert error.message == f"'{word.capitalize()}' is not supported by amlses"
        assert problems(f"a {word} b", kind="expression") == [(error.message, 2)]

    @pytest.mark.parametrize(
        ("expression", "message"),
        [
            ("1 / 0", "division by zero"),
            ("5 \\ 0", "division by zero"),
            ("5 Mod 0", "division by zero"),
            ("0 ^ -1", "division by zero"),
            ("(-8) ^ (1/3)", "negative number to a fractional power"),
            ("10 ^ 400", "overflow"),
            ('"a" - 1', "type mismatch: '-' needs numbers, got text \"a\""),
            ('"a" * 2', "type mismatch: '*' needs numbers"),
            ("empty - 1", "type mismatch: '-' needs numbers, got empty text"),
            ('-"x"', "type mismatch: '-' needs a number"),
            ('"maybe" And True', "'And' needs true or false, got text \"maybe\""),
            ('Not "x"', "'Not' needs true or false"),
            ("when * 2", "type mismatch"),
        ],
    )
    def test_errors(self, expression: str, message: str) -> None:
        assert message in fails(run, expression).message


class TestFunctions:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('Len("HELLO")', 5),
            ("Len(empty)", 0),
            ("Len(12345)", 5),
            ("Left('Text', 2)", "Te"),
            ('Left("ab", 5)', "ab"),
            ('Left("ab", 0)', ""),
            ('Right("abc", 2)', "bc"),
            ('Right("abc", 0)', ""),
            ('Right("abc", 9)', "abc"),
            ('Mid("abcdef", 2, 3)', "bcd"),
            ('Mid("abcdef", 4)', "def"),
            ('Mid("abc", 9)', ""),
            ('UCase("aBc")', "ABC"),
            ('LCase("aBc")', "abc"),
            ("Trim(spaced)", "two words"),
            ("LTrim(spaced)", "two words  "),
            ("RTrim(spaced)", "  two words"),
            ('Trim("\tx ")', "\tx"),  # VBA trims spaces only
            ('InStr("abcabc", "c")', 3),
            ('InStr(4, "abcabc", "c")', 6),
            ('InStr("abc", "z")', 0),
            ('InStr("abc", "")', 1),
            ('InStr("", "a")', 0),
            ('InStr(9, "abc", "a")', 0),
            ('InStr(1, "ABC", "b", 1)', 2),
            ('InStr(1, "ABC", "b", 0)', 0),
            ('Replace("a-b-c", "-", "+")', "a+b+c"),
            ('Replace("a-b-c", "-", "")', "abc"),
            ('Replace("a-b-c", "", "+")', "a-b-c"),
            ('Replace("a-b-c", "-", "+", 1, 1)', "a+b-c"),
            ('Replace("a-b-c", "-", "+", 3)', "b+c"),  # VBA returns the text from `start`
            ('Replace("aAa", "a", "x", 1, -1, 1)', "xxx"),
            ('Split("a,b,c", ",")(0)', "a"),
            ('Split("a,b,c", ",")(2)', "c"),
            ('Split("a b")(1)', "b"),
            ('Split("a,b,c", ",", 2)(1)', "b,c"),
            ('UBound(Split("a,b,c", ","))', 2),
            ('UBound(Split("", ","))', -1),
            ('LBound(Split("a", ","))', 0),
            ('Join(Split("a,b,c", ","), "-")', "a-b-c"),
            ('Join(Split("a b"))', "a b"),
            ("CStr(5)", "5"),
            ("CStr(2.50)", "2.5"),
            ("CStr(True)", "True"),
            ("CInt(2.5)", 2),  # banker's rounding
            ("CInt(3.5)", 4),
            ("CInt(-2.5)", -2),
            ('CInt("12")', 12),
            ("CInt(True)", -1),
            ("CLng(2147483647)", 2147483647),
            ('CDbl("2.5")', 2.5),
            ("CDbl(3)", 3.0),
            ('CBool("true")', True),
            ("CBool(0)", False),
            ('CDate("2026-01-31")', datetime.datetime(2026, 1, 31)),
            ('Val("12abc")', 12),
            ('Val(" 1 2 3")', 123),
            ('Val("abc")', 0),
            ('Val("2.5e1x")', 25.0),
            ('Val("&H1F")', 31),
            ('Val("-.5")', -0.5),
            ("Str(5)", " 5"),
            ("Str(-5)", "-5"),
            ('IsNumeric("12.5")', True),
            ('IsNumeric(" 12 ")', True),
            ('IsNumeric("12a")', False),
            ("IsNumeric(empty)", False),
            ("IsNumeric(True)", True),
            ("IsNumeric(when)", False),
            ('IsDate("2026-01-31")', True),
            ('IsDate("31/31/2026")', False),
            ("IsDate(when)", True),
            ("Now()", NOW),
            ("Now", NOW),
            ("Date()", datetime.datetime(2026, 11, 23)),
            ("Date", datetime.datetime(2026, 11, 23)),
            ("Time()", datetime.datetime(1899, 12, 30, 10, 40, 5)),
            ("Day (Now())", 23),  # a space before '(' is allowed, as in the AWE docs
            ("Year(when)", 2026),
            ("Month(when)", 1),
            ("Day(when)", 31),
            ("Hour(when)", 14),
            ("Minute(when)", 5),
            ("Second(when)", 9),
            ("Weekday(when)", 7),  # a Saturday; Sunday is 1
            ('Year("12/25/2025")', 2025),
            ('IIf(count > 3, "big", "small")', "big"),
            ('IIf(count > 9, "big", "small")', "small"),
            ('IIf(count > 3, "safe", 1 / 0)', "safe"),  # only the chosen branch runs
            ("Abs(-3)", 3),
            ("Abs(-2.5)", 2.5),
            ("Int(2.7)", 2),
            ("Int(-2.7)", -3),
            ("Fix(-2.7)", -2),
            ("Int(7)", 7),
            ("Sgn(-4)", -1),
            ("Round(2.5)", 2),
            ("Round(3.5)", 4),
            ("Round(2.675, 2)", 2.68),
            ("Round(0.125, 2)", 0.12),
            ("Round(7)", 7),
            ("Round(1e300, 1)", 1e300),
            ("Chr(65)", "A"),
            ('Asc("a")', 97),
            ("Space(3)", "   "),
            ("Space(0)", ""),
            ('StrComp("a", "b")', -1),
            ('StrComp("b", "a")', 1),
            ('StrComp("a", "A")', 1),
            ('StrComp("a", "A", 1)', 0),
            ('StrReverse("abc")', "cba"),
            ('ExtractFileName("C:\\dir\\file.txt")', "file.txt"),
            ('ExtractFileName("/tmp/a/b.csv")', "b.csv"),
            ('ExtractFileName("plain")', "plain"),
            ('LEN("abc")', 3),  # function names are case-insensitive
            ('left("abc", 1)', "a"),
            ("Len(hostile)", len(HOSTILE)),
        ],
    )
    def test_value(self, expression: str, expected: Value) -> None:
        assert same(run(expression), expected)

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('DateAdd("d", 1, "2026-01-31")', datetime.datetime(2026, 2, 1)),
            ('DateAdd("m", 1, "2026-01-31")', datetime.datetime(2026, 2, 28)),
            ('DateAdd("m", 1, "2024-01-31")', datetime.datetime(2024, 2, 29)),
            ('DateAdd("m", -2, "2026-01-15")', datetime.datetime(2025, 11, 15)),
            ('DateAdd("yyyy", 1, "2024-02-29")', datetime.datetime(2025, 2, 28)),
            ('DateAdd("q", 1, "2026-01-31")', datetime.datetime(2026, 4, 30)),
            ('DateAdd("ww", 2, "2026-01-01")', datetime.datetime(2026, 1, 15)),
            ('DateAdd("h", 25, "2026-01-01")', datetime.datetime(2026, 1, 2, 1)),
            ('DateAdd("n", 90, "2026-01-01")', datetime.datetime(2026, 1, 1, 1, 30)),
            ('DateAdd("s", -1, "2026-01-01")', datetime.datetime(2025, 12, 31, 23, 59, 59)),
            ('DateAdd("D", "2", when)', datetime.datetime(2026, 2, 2, 14, 5, 9)),
            ('DateDiff("d", "2026-01-01", "2026-03-01")', 59),
            ('DateDiff("d", "2026-01-01 23:00", "2026-01-02 01:00")', 1),  # midnights
            ('DateDiff("yyyy", "2025-12-31", "2026-01-01")', 1),  # boundaries crossed
            ('DateDiff("m", "2026-01-31", "2026-02-01")', 1),
            ('DateDiff("q", "2026-03-31", "2026-04-01")', 1),
            ('DateDiff("h", "2026-01-01 10:59", "2026-01-01 11:01")', 1),
            ('DateDiff("n", "2026-01-01 10:00", "2026-01-01 09:00")', -60),
            ('DateDiff("s", "2026-01-01", "2026-01-01 00:01")', 60),
            ('DateDiff("w", "2026-01-01", "2026-01-20")', 2),
            ('DateDiff("ww", "2026-01-03", "2026-01-04")', 1),  # Saturday -> Sunday
            ('DatePart("q", "2026-08-01")', 3),
            ('DatePart("y", "2026-02-01")', 32),
            ('DatePart("ww", "2026-01-04")', 2),
            ("DateSerial(2026, 1, 31)", datetime.datetime(2026, 1, 31)),
            ("DateSerial(2026, 13, 1)", datetime.datetime(2027, 1, 1)),
            ("DateSerial(2026, 3, 0)", datetime.datetime(2026, 2, 28)),
            ("DateSerial(26, 1, 1)", datetime.datetime(2026, 1, 1)),
            ("TimeSerial(17, 0, 0)", datetime.datetime(1899, 12, 30, 17)),
            ("when + 1", datetime.datetime(2026, 2, 1, 14, 5, 9)),
            ("1 + when", datetime.datetime(2026, 2, 1, 14, 5, 9)),
            ("when - 0.5", datetime.datetime(2026, 1, 31, 2, 5, 9)),
            ('CDate("2026-02-01 12:00") - CDate("2026-01-31")', 1.5),
        ],
    )
    def test_dates(self, expression: str, expected: Value) -> None:
        assert same(run(expression), expected)

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Format(3.14159)", "3.14159"),
            ('Format(3.14159, "0.00")', "3.14"),
            ('Format(2.5, "0")', "3"),  # Format rounds halves up
            ('Format(0.125, "0.00")', "0.13"),
            ('Format(5, "0.00")', "5.00"),
            ('Format(5, "#.##")', "5."),  # VBA keeps the point
            ('Format(0.5, "#.##")', ".5"),
            ('Format(0.5, "0.##")', "0.5"),
            ('Format(7, "000")', "007"),
            ('Format(1234567.891, "#,##0.00")', "1,234,567.89"),
            ('Format(12, "#,##0")', "12"),
            ('Format(0, "#,##0")', "0"),
            ('Format(-5, "$0.00")', "-$5.00"),
            ('Format(-5, "0;(0)")', "(5)"),
            ('Format(0, "0;(0);\\z\\e\\r\\o")', "zero"),
            ('Format(0.256, "0.0%%")', "25.6%"),  # a literal % is doubled, as in Automate
            ('Format(123456789, "000-00-0000")', "123-45-6789"),
            ('Format(12345, "0.00E+00")', "1.23E+04"),
            ('Format(0.00012, "0.0E-00")', "1.2E-04"),
            ('Format(5, "0 \\u\\n\\i\\t\\s")', "5 units"),
            ('Format(5, "0"" items""")', "5 items"),
            ('Format(1234.5, "Standard")', "1,234.50"),
            ('Format(1234.5, "Fixed")', "1234.50"),
            ('Format(-3, "Currency")', "($3.00)"),
            ('Format(0.5, "Percent")', "50.00%"),
            ('Format(0, "Yes/No")', "No"),
            ('Format(ten, "0.0")', "10.0"),
            ('Format(when, "yyyy-mm-dd")', "2026-01-31"),
            ('Format(when, "yyyy-mm-ddThh:nn:ss")', "2026-01-31T14:05:09"),
            ('Format(when, "m/d/yy h:mm AM/PM")', "1/31/26 2:05 PM"),
            ('Format(when, "dddd, mmmm d, yyyy")', "Saturday, January 31, 2026"),
            ('Format(when, "ddd dd-mmm")', "Sat 31-Jan"),
            ('Format(when, "hh:mm:ss am/pm")', "02:05:09 pm"),
            ('Format(when, "Short Date")', "1/31/2026"),
            ('Format(when, "Long Time")', "2:05:09 PM"),
            ('Format(when, "General Date")', "1/31/2026 2:05:09 PM"),
            ('Format("2026-01-31", "mm/dd/yyyy")', "01/31/2026"),
            ('Format(Now(), "yyyymmdd")', "20261123"),
            ('Format("text", "0.00")', "text"),  # text is returned as it is, as in VBA
            ("Format(when)", "1/31/2026 2:05:09 PM"),
        ],
    )
    def test_format(self, expression: str, expected: str) -> None:
        assert same(run(expression), expected)

    @pytest.mark.parametrize(
        ("expression", "message", "offset"),
        [
            ("Lenn(name)", 'unknown function "Lenn"; did you mean Len?', 0),
            ("1 + Frobnicate(2)", 'unknown function "Frobnicate"', 4),
            ("Left(name)", "Left takes 2 arguments, got 1", 0),
            ('Mid("a", 1, 2, 3)', "Mid takes 2 or 3 arguments, got 4", 0),
            ('InStr("a")', "InStr takes 2 to 4 arguments, got 1", 0),
            ("Now(1)", "Now takes no arguments, got 1", 0),
            ("Len()", "Len takes 1 argument, got 0", 0),
            ('Split("a,b", ",")', "Split(...) gives a list of texts", 0),
            ('Len(Split("a,b"))', "Split(...) gives a list of texts", 4),
            ('UBound("a,b")', "UBound needs the list from a Split(...) call", 7),
            ('Left("abc", 1)(0)', "an index ( ) needs the list from a Split(...) call", 0),
        ],
    )
    def test_static_errors(self, expression: str, message: str, offset: int) -> None:
        # Found without a scope by problems(), and refused before running by evaluate().
        found = problems(expression, kind="expression")
        assert found and found[0][1] == offset
        assert message in found[0][0]
        assert message in fails(run, expression).message

    @pytest.mark.parametrize(
        ("expression", "message"),
        [
            ('Left("abc", -1)', "Left needs a length of 0 or more, got -1"),
            ('Mid("abc", 0)', "Mid needs a start of 1 or more"),
            ('Left("abc", "x")', 'type mismatch in Left: expected a number, got text "x"'),
            ('Asc("")', "Asc needs at least one character"),
            ("Chr(70000)", "Chr needs a character code from 0 to 65535"),
            ("CInt(40000)", "overflow: CInt needs a number from -32,768 to 32,767"),
            ('CInt("abc")', "type mismatch in CInt"),
            ('Year("soon")', 'type mismatch in Year: expected a date, got text "soon"'),
            ('DateAdd("fortnight", 1, when)', 'DateAdd: unknown interval "fortnight"'),
            ('DateAdd("d", 1.5, when)', "DateAdd needs a whole number of intervals"),
            ('DateAdd("yyyy", 9000, when)', "out of range"),
            ('Split("a,b", ",")(2)', "index 2 is outside the list from Split (it has 2 items"),
            ("Space(-1)", "Space needs a count of 0 or more"),
            ("Space(1e12)", "the text would be longer than"),
            ('Format(5, "#,")', "scaling commas are not supported"),
            ('CBool("maybe")', "CBool needs true or false"),
            ('StrComp("a", "b", 2)', "compare must be 0 (binary) or 1 (text)"),
        ],
    )
    def test_run_time_errors(self, expression: str, message: str) -> None:
        assert message in fails(run, expression).message


class TestSyntax:
    @pytest.mark.parametrize(
        ("expression", "message", "offset"),
        [
            ("", "the expression is empty", 0),
            ("1 +", "expected a value after '+'", 3),
            ("* 2", "expected a value before '*'", 0),
            ("(1 + 2", "expected ')' to close the '(' at column 1", 6),
            ("Left(name, 2", "expected ')' to close the '(' of Left at column 5", 12),
            ("Len(", "expected ')' to close the '(' of Len at column 4", 4),
            ("(1 2)", "expected an operator or ')' before '2' to close the '(' at column 1", 3),
            ("1 2", "expected an operator before '2'", 2),
            ("name name", "expected an operator before 'name'", 5),
            ("1)", "unexpected ')': there is no '(' to close", 1),
            ("1, 2", "unexpected ',' outside a function's arguments", 1),
            ("Mid(name, , 2)", "expected an argument for Mid before ','", 10),
            ('"abc', 'unterminated string: expected a closing "', 0),
            ("'abc", "unterminated string: expected a closing '", 0),
            ("1 =< 2", "'=<' is not an operator; write '<='", 2),
            (
                "#1/1/2026#",
                "date literals like #1/31/2026# are not supported by amlses; "
                'use DateSerial(2026, 1, 31) or CDate("2026-01-31")',
                0,
            ),
            ("a ? b", "unexpected character '?'", 2),
            ("DS.", "expected a field name after 'DS.'", 2),
            ("1e999", "the number is too large", 0),
            ("Not", "expected a value after 'Not'", 3),
        ],
    )
    def test_syntax_errors(self, expression: str, message: str, offset: int) -> None:
        assert problems(expression, kind="expression") == [(message, offset)]
        assert fails(run, expression).message == message

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('"say ""hi"""', 'say "hi"'),
            ("'it''s'", "it's"),
            ("'say \"hi\"'", 'say "hi"'),
            ('""', ""),
            ("TRUE", True),
            ("false", False),
            ("1.5", 1.5),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("007", 7),
            ("12345678901234567890", 1.2345678901234567e19),
            ("  count  ", 5),
            ("IDList.Type", "EmailAddress"),
            ("idlist.TYPE", "EmailAddress"),
            ("%count% + 1", 6),  # %…% parts are value tokens in a full expression
            ('"n=%count%"', "n=5"),
            ('"50%%"', "50%"),
        ],
    )
    def test_literals_and_names(self, expression: str, expected: Value) -> None:
        assert same(run(expression), expected)


class TestSubstitute:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("no percent here", "no percent here"),
            ("", ""),
            ("%count%", 5),  # a lone %x% keeps its type
            ("%half%", 2.5),
            ("%flag%", True),
            ("%when%", datetime.datetime(2026, 1, 31, 14, 5, 9)),
            ("%count + 1%", 6),
            ("%7+7%", 14),
            ("%Left(name, 2)%", "Ma"),
            ("%Left('Text',2)%", "Te"),
            ("%IDList.Identity%", "user@example.com"),
            ("%IDList.Type + ' ' + Other.Type%", "EmailAddress Domain"),
            (" %count%", " 5"),  # anything around it makes text
            ("n=%count%", "n=5"),
            ("%count% %%", "5 %"),
            ("5%%", "5%"),
            ("%%count%%", "%count%"),
            ("%flag% and %half%", "True and 2.5"),
            ("at %when%", "at 1/31/2026 2:05:09 PM"),
            ("%5.0 * 1%", 5.0),
            ("%10 / 2% items", "5 items"),
            ('%"50%%"%', "50%"),
            ("%count%-%count%", "5-5"),
        ],
    )
    def test_substitute(self, text: str, expected: Value) -> None:
        assert same(substitute(text, SCOPE), expected)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("%hostile%", HOSTILE),
            ("[%hostile%]", f"[{HOSTILE}]"),
            ("%Len(hostile)%", len(HOSTILE)),
            ("%hostile & hostile%", HOSTILE * 2),
            ("%percent%", "100%"),
            ("%percent% done", "100% done"),
            ("%amp%", "a & b"),
            ("%Len(amp)%", 5),
            ("%spaced%", "  two words  "),
            ("%quote%", "it's"),
            ('%quote = "it\'s"%', True),
        ],
    )
    def test_values_never_change_meaning(self, text: str, expected: Value) -> None:
        # Values are value tokens, never pasted into the text and parsed again.
        assert same(substitute(text, SCOPE), expected)

    def test_a_value_holding_percent_signs_is_not_scanned_again(self) -> None:
        scope = DictScope({"x": "%count%", "count": 1})
        assert substitute("%x%", scope) == "%count%"
        assert substitute("<%x%>", scope) == "<%count%>"

    def test_unknown_variable_uses_automate_wording_and_points_at_the_name(self) -> None:
        error = fails(substitute, "Type: %IDList.Typo%", SCOPE, BASE)
        assert error.message == (
            'unknown variable or dataset field "IDList.Typo": '
            "a variable in the expression does not exist or is misspelled"
        )
        assert error.position == Position("task.aml", 7, 27)  # 20 + 7: the name, after '%'

    def test_unknown_variable_deep_in_an_expression(self) -> None:
        error = fails(substitute, "ab %Left(name, nope)%", SCOPE, BASE)
        assert '"nope"' in error.message
        assert error.position == Position("task.aml", 7, 20 + 15)

    def test_position_follows_line_breaks(self) -> None:
        error = fails(substitute, "line one\n  %1 / 0%", SCOPE, BASE)
        assert error.message == "division by zero"
        assert error.position == Position("task.aml", 8, 6)  # the '/' on the next line

    def test_position_counts_doubled_percent_signs(self) -> None:
        error = fails(substitute, '%"50%%" & nope%', SCOPE, BASE)
        assert error.position == Position("task.aml", 7, 20 + 10)

    def test_without_position_the_error_has_none(self) -> None:
        assert fails(substitute, "%nope%", SCOPE).position is None

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("100% sure", "unterminated '%'", 23),
            ("%a%%b%", "'%a%%b%' is the single expression 'a%b'", 22),
            ("%count%%%", "'%a%%b%' is the single expression 'a%b'", 26),
            ("% %", "nothing between the '%' signs", 21),
            ("%1 +%", "expected a value after '+'", 24),
            ("x %Left(name, 2% y", "expected ')' to close the '(' of Left at column 27", 35),
        ],
    )
    def test_errors_point_at_the_token(self, text: str, message: str, column: int) -> None:
        error = fails(substitute, text, SCOPE, BASE)
        assert message in error.message
        assert error.position == Position("task.aml", 7, column)

    def test_errors_pickle(self) -> None:
        error = fails(substitute, "%nope%", SCOPE, BASE)
        copy = pickle.loads(pickle.dumps(error))
        assert copy.message == error.message and copy.position == error.position


class TestConditions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # Simple mode, the seed's two spellings: the right side is plain text
            ("%IDList.Type%=EmailAddress", True),
            ("%IDList.Type% = EmailAddress", True),
            ("%IDList.Type%  =  EmailAddress  ", True),
            ("%IDList.Type% = Domain", False),
            ("%IDList.Type% <> EmailAddress", False),
            ("%Other.Type%=Domain", True),
            ("%IDList.Type% = emailaddress", False),  # case-sensitive
            ('%IDList.Type% = "EmailAddress"', True),  # a quoted side is that string
            ("%IDList.Type% = 'EmailAddress'", True),
            ('"%name%" = Mary', True),
            # numbers when both sides are numeric
            ("%ten% > %nine%", True),
            ("%count% > 9", False),
            ("%count% >= 5", True),
            ("%count% = 5.0", True),
            ("10 < 9", False),
            ("%empty% = ", True),
            ("%count% < 10", True),
            # text that does not split at one comparison is a full expression
            ("%1 < 2%", True),
            ("%1 > 2%", False),
            ("%count% > 3 And %count% < 10", True),
            ("count = 1 or count = 5", True),
            ("%flag%", True),
            ("True", True),
            ("Day(Now()) = 23", False),  # one comparison: split, both sides plain text
            ("%amp% = a & b", True),  # '&' in the value and on the plain side
            ('%hostile% = "x"', False),
            ("%percent% = 100%%", True),
        ],
    )
    def test_simple(self, text: str, expected: bool) -> None:
        assert condition(text, SCOPE) is expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("count = 5", True),
            ('name = "Mary"', True),
            ('IDList.Type = "EmailAddress"', True),
            ("Day(Now()) = 23", True),
            ("%count% + 1 = 6", True),
            ('"%name%" = "Mary"', True),
            ("ten > nine", True),
            ("flag", True),
            ("1", True),
            ("0", False),
            ('"False"', False),
            ("Not flag", False),
            ('hostile = "a"', False),
        ],
    )
    def test_complex(self, text: str, expected: bool) -> None:
        assert condition(text, SCOPE, complex=True) is expected

    @pytest.mark.parametrize(
        ("text", "complex", "message"),
        [
            ("name", True, 'the condition did not give true or false: it gave text "Mary"'),
            ("%when%", False, "the condition did not give true or false"),
            ("Mary", True, 'unknown variable or dataset field "Mary"'),
            ("%nope% = 1", False, 'unknown variable or dataset field "nope"'),
            ("count Like 5", True, "'Like' is not supported by amlses"),
            ("%count = 1", False, "unterminated '%'"),
        ],
    )
    def test_errors(self, text: str, complex: bool, message: str) -> None:
        assert message in fails(condition, text, SCOPE, BASE, complex=complex).message

    def test_error_on_the_right_side_points_into_it(self) -> None:
        error = fails(condition, "%count% = %nope%", SCOPE, BASE)
        assert error.position == Position("task.aml", 7, 20 + 11)


class TestStaticChecks:
    @pytest.mark.parametrize(
        ("text", "kind", "complex", "expected"),
        [
            ("plain text", "text", False, []),
            ("%count + 1% and %Left(name, 2)%", "text", False, []),
            (
                "%Foo(1)% %Left(1)% %x Like y%",
                "text",
                False,
                [
                    ('unknown function "Foo"', 1),
                    ("Left takes 2 arguments, got 1", 10),
                    ("'Like' is not supported by amlses", 22),
                ],
            ),
            (
                "%ok% then 100% sure",
                "text",
                False,
                [
                    (
                        "unterminated '%': no closing '%' for the expression that starts here "
                        "(write '%%' for a literal percent sign)",
                        13,
                    )
                ],
            ),
            ("%IDList.Type%=EmailAddress", "condition", False, []),
            (
                "%x% = %Lenn(y)%",
                "condition",
                False,
                [('unknown function "Lenn"; did you mean Len?', 7)],
            ),
            ("x = Lenn(y)", "condition", True, [('unknown function "Lenn"; did you mean Len?', 4)]),
            ("a = b = c", "condition", False, []),
            (
                "Left(a,",
                "expression",
                False,
                [("expected ')' to close the '(' of Left at column 5", 7)],
            ),
        ],
    )
    def test_problems(
        self, text: str, kind: str, complex: bool, expected: list[tuple[str, int]]
    ) -> None:
        assert problems(text, kind=kind, complex=complex) == expected

    @pytest.mark.parametrize(
        ("text", "kind", "complex", "expected"),
        [
            ("no refs", "text", False, []),
            ("%a% and %b.c + a%", "text", False, [("a", 1), ("b.c", 9), ("a", 15)]),
            ("%Len(name) + Now() + Date%", "text", False, [("name", 5)]),
            ("%IDList.Type%=EmailAddress", "condition", False, [("IDList.Type", 1)]),
            ("x = EmailAddress", "condition", False, []),  # plain text sides read nothing
            ("x = EmailAddress", "condition", True, [("x", 0), ("EmailAddress", 4)]),
            ('"%who%" = "%%"', "condition", False, [("who", 2)]),
            ("a = 1 And %b% = 2", "condition", False, [("a", 0), ("b", 11)]),
            ('%"50%%" & n%', "text", False, [("n", 10)]),
            ("%Foo(x)%", "text", False, [("x", 5)]),  # names in a call that has a problem
            ("%(x%", "text", False, []),  # nothing from a part that does not parse
        ],
    )
    def test_references(
        self, text: str, kind: str, complex: bool, expected: list[tuple[str, int]]
    ) -> None:
        assert references(text, kind=kind, complex=complex) == expected

    def test_unknown_kind_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError):
            problems("x", kind="sql")


class TestLimits:
    def test_long_expression(self) -> None:
        text = "1+" * (MAX_EXPRESSION_LENGTH // 2) + "1"
        message = fails(run, text).message
        assert message.startswith("the expression is too long")
        assert problems(f"%{text}%")[0][0].startswith("the expression is too long")

    def test_long_text_around_expressions_is_fine(self) -> None:
        text = "x" * (MAX_EXPRESSION_LENGTH * 3) + "%count%"
        assert substitute(text, SCOPE) == "x" * (MAX_EXPRESSION_LENGTH * 3) + "5"

    @pytest.mark.parametrize(
        "text",
        [
            "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
            "-" * 5000 + "1",
            "Not " * 2000 + "True",
            "Len(" * 2000 + "1" + ")" * 2000,
            "a Or b And c = d & e + f Mod g \\ h * -i ^ (" * 150 + "1" + ")" * 150,
        ],
    )
    def test_deep_nesting_is_refused_cleanly(self, text: str) -> None:
        message = fails(run, text).message
        assert "nested too deeply" in message or "too long" in message

    def test_nesting_at_the_limit_works(self) -> None:
        assert run("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1

    def test_long_flat_chains_are_shallow(self) -> None:
        assert run("+".join(["1"] * 4000)) == 4000
        assert run("&".join(['"a"'] * 2000)) == "a" * 2000

    @pytest.mark.parametrize("text", ['"' * 9999, "'" * 9999 + '"', "%" * 9999, "(" * 9999])
    def test_hostile_input_fails_fast(self, text: str) -> None:
        calls: list[Callable[[], object]] = [
            lambda: run(text),
            lambda: substitute(text, SCOPE),
            lambda: condition(text, SCOPE),
        ]
        for call in calls:
            try:
                call()
            except ExpressionError:
                pass
        problems(text, kind="condition")


# Text built from the language's own pieces reaches the evaluator, not just the tokenizer.
PIECES = [
    "%",
    "%%",
    '"',
    "'",
    "(",
    ")",
    ",",
    " ",
    "+",
    "-",
    "*",
    "/",
    "\\",
    "^",
    "&",
    "=",
    "<",
    ">",
    "<>",
    ".",
    "0",
    "1",
    "2.5",
    "1e3",
    "count",
    "name",
    "empty",
    "when",
    "hostile",
    "IDList.Type",
    "nope",
    "And ",
    "Or ",
    "Not ",
    "Mod ",
    "Like ",
    "True",
    "Len(",
    "Left(",
    "Mid(",
    "Split(",
    ")(0)",
    "UBound(",
    "Format(",
    '"0.00"',
    '"yyyy"',
    "DateAdd(",
    '"m"',
    "DateDiff(",
    "CInt(",
    "Val(",
    "Chr(",
    "Space(",
    "Replace(",
    "InStr(",
    "IIf(",
    "Round(",
    "Now",
    "x",
    "#",
    "é",
    "\n",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join) | st.text(max_size=40))
def test_any_text_gives_a_value_or_an_expression_error(text: str) -> None:
    for kind in ("text", "expression", "condition"):
        assert isinstance(problems(text, kind=kind), list)
        assert isinstance(references(text, kind=kind), list)
    try:
        scan(text)
    except ExpressionError:
        pass
    calls: list[Callable[[], Value]] = [
        lambda: substitute(text, SCOPE, BASE),
        lambda: evaluate(text, SCOPE, BASE),
        lambda: condition(text, SCOPE, BASE),
        lambda: condition(text, SCOPE, BASE, complex=True),
    ]
    for call in calls:
        try:
            result = call()
        except ExpressionError as error:
            assert error.message and error.position is not None
        else:
            assert isinstance(result, str | int | float | bool | datetime.datetime)

"""Tests for amlses.values: how a value reads when it is spliced into text."""

from __future__ import annotations

import datetime

import pytest

from amlses.values import Value, to_text


class TestToText:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ("abc", "abc"),
            ("", ""),
            (True, "True"),
            (False, "False"),
            (5, "5"),
            (-12, "-12"),
            (5.0, "5"),
            (2.5, "2.5"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.3"),
            (1 / 3, "0.333333333333333"),
            (1e20, "1E+20"),
            (1.5e-7, "1.5E-07"),
            (123456789012345.0, "123456789012345"),
            (datetime.datetime(2026, 11, 23, 10, 40), "11/23/2026 10:40:00 AM"),
            (datetime.datetime(2026, 11, 23, 22, 5, 9), "11/23/2026 10:05:09 PM"),
            (datetime.datetime(2026, 1, 2, 0, 30), "1/2/2026 12:30:00 AM"),
            (datetime.datetime(2026, 11, 23), "11/23/2026"),
            (datetime.datetime(1899, 12, 30, 12, 0), "12:00:00 PM"),
        ],
    )
    def test_text(self, value: Value, text: str) -> None:
        assert to_text(value) == text

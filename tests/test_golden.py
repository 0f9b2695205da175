"""Golden tasks: every invalid task states its expected problems in leading comments.

Each ``tests/tasks/invalid/*.aml`` starts with ``<!-- expect: LINE:COL: severity: message -->``
lines; ``check`` must report exactly those (whole messages), ``run`` must refuse the task with
exit code 2 before any request, and no output may hold a traceback or the task's secret.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from amlses import api
from amlses.cli import cli

INVALID = sorted((Path(__file__).parent / "tasks" / "invalid").glob("*.aml"))
EXPECT = re.compile(r"<!-- expect: (.*?) -->")


def expected(path: Path) -> list[str]:
    return EXPECT.findall(path.read_text())


def test_every_invalid_task_states_its_errors() -> None:
    assert len(INVALID) >= 10
    for path in INVALID:
        assert expected(path), f"{path.name} states no expected error"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_check_reports_exactly_the_expected_problems(path: Path) -> None:
    name = f"tasks/{path.name}"
    problems = api.check(path.read_text(), name)
    found = [p.render().splitlines()[0].removeprefix(f"{name}:") for p in problems]
    assert found == expected(path)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_run_refuses_the_task_with_one_paragraph(path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", str(path), "--endpoint-url", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    first = expected(path)[0]
    assert f"{path}:{first}" in result.stderr
    assert "Traceback" not in result.output
    assert "plain-secret-1" not in result.output
    assert result.stdout == ""

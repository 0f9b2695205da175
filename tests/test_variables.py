"""Variable steps as a user runs them, values read back from what the task shows.

Each task prints what it wants to show with ``<AMSHOWDIALOG>``, so assertions are on exact
lines.  Most tasks run through :func:`amlses.api.run_file` on the in-process fake SES
(``tests/fakeses.py``): the lines are the reporter's ``info`` messages, ``--var`` is
``RunOptions.variables``.  Those where the CLI is the point (``--var`` parsing, masking on the
terminal, the error paragraph, ``amlses check``) run ``amlses run -q`` against moto, SES
effects checked with a plain boto3 client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from amlses.actions.variables import auto_typed
from clitools import invoke, write_task
from fakeses import FakeSes, run_fake


def run_task(tmp_path: Path, endpoint: str, text: str, *args: str) -> Result:
    """Run ``text`` as ``task.aml`` with ``amlses run -q`` against ``endpoint``."""
    return invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", endpoint, "-q", *args)


def shown(result: Result) -> list[str]:
    return result.stdout.splitlines()


def first_error(result: Result, tmp_path: Path) -> str:
    """The first stderr line, with the task's path shortened to ``task.aml``."""
    return result.stderr.splitlines()[0].replace(str(tmp_path / "task.aml"), "task.aml")


class TestCreate:
    def test_attribute_and_text_body_forms(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="greeting" VALUE="hello" />\n'
            '<AMVARIABLE NAME="count">41</AMVARIABLE>\n'
            '<AMVARIABLE NAME="empty" />\n'
            '<AMVARIABLE NAME="both" VALUE="%greeting% world">ignored body</AMVARIABLE>\n'
            '<AMSHOWDIALOG MESSAGE="%greeting%|%count + 1%|[%empty%]|%both%" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["hello|42|[]|hello world"]

    def test_names_are_case_insensitive(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="Counter" VALUE="1" />\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="COUNTER" />\n'
            '<AMSHOWDIALOG MESSAGE="%counter%" />\n',
            tmp_path,
        )
        assert run.shown == ["2"]

    def test_type_auto_keeps_numbers_and_text_keeps_text(self, tmp_path: Path) -> None:
        text = (
            '<AMVARIABLE NAME="n" VALUE="41" />\n'
            '<AMVARIABLE NAME="ratio" VALUE="2.5" />\n'
            '<AMVARIABLE NAME="zip" VALUE="007" />\n'
            '<AMVARIABLE NAME="price" VALUE="1.50" />\n'
            '<AMVARIABLE NAME="code" VALUE="41" TYPE="text" />\n'
            '<AMVARIABLE NAME="copy" VALUE="%n%" />\n'
            '<AMVARIABLE NAME="body">%n + 1%</AMVARIABLE>\n'
        )
        run = run_fake(text, tmp_path)
        assert run.ok, run.error
        assert run.variables == {
            "n": 41,
            "ratio": 2.5,
            "zip": "007",
            "price": "1.50",
            "code": "41",
            "copy": 41,
            "body": 42,
        }

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("42", 42), ("-3", -3), ("2.5", 2.5), ("007", "007"), ("1e3", "1e3"), (" 4", " 4")],
    )
    def test_auto_typed_never_changes_how_a_value_reads(self, value: str, expected: Any) -> None:
        assert auto_typed(value) == expected

    def test_invalid_name_is_an_error(self, tmp_path: Path) -> None:
        run = run_fake('<AMVARIABLE NAME="my var" VALUE="1" />\n', tmp_path)
        assert run.failure(exit_code=1)[0] == (
            'task.aml:1: <AMVARIABLE>: "my var" is not a valid variable name: use '
            'letters, digits and "_", starting with a letter'
        )

    def test_secure_value_is_masked(self, tmp_path: Path, endpoint: str) -> None:
        result = run_task(
            tmp_path,
            endpoint,
            '<AMVARIABLE NAME="token" VALUE="tok-3f9a7c" SECURE="YES" />\n'
            '<AMSHOWDIALOG MESSAGE="token is %token%" />\n',
        )
        assert result.exit_code == 0
        assert shown(result) == ["token is ****"]
        assert "tok-3f9a7c" not in result.output


class TestParameters:
    TASK = (
        '<AMVARIABLE NAME="address" VALUE="ops@example.com" ISPARAMETER="YES" />\n'
        '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="%address%" />\n'
        '<AMSHOWDIALOG MESSAGE="verifying %address%" />\n'
    )

    def test_default_applies_without_var(self, tmp_path: Path) -> None:
        fake = FakeSes()
        run = run_fake(self.TASK, tmp_path, fake=fake)
        assert run.ok, run.error
        assert run.shown == ["verifying ops@example.com"]
        assert fake.identity_names() == ["ops@example.com"]

    def test_var_wins_over_isparameter(
        self, tmp_path: Path, endpoint: str, ses_client: Any, aws_credentials: Any
    ) -> None:
        result = run_task(tmp_path, endpoint, self.TASK, "--var", "ADDRESS=billing@example.com")
        assert result.exit_code == 0, result.output
        assert shown(result) == ["verifying billing@example.com"]
        assert ses_client.list_identities()["Identities"] == ["billing@example.com"]

    def test_var_replaced_by_a_plain_create_warns(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="mode" VALUE="dry" />\n<AMSHOWDIALOG MESSAGE="%mode%" />\n',
            tmp_path,
            variables={"mode": "live"},
        )
        assert run.shown == ["dry"]
        assert run.notices[0] == (
            "warning",
            'task.aml:1: --var mode is replaced by this step; add ISPARAMETER="YES" '
            "to let the command line set it",
        )

    def test_readonly_parameter_keeps_the_given_value_and_locks_it(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="limit" VALUE="5" ISPARAMETER="YES" READONLY="YES" />\n'
            '<AMSHOWDIALOG MESSAGE="limit %limit%" />\n'
            '<AMSET VARIABLENAME="limit">6</AMSET>\n',
            tmp_path,
            variables={"limit": "9"},
        )
        assert run.shown == ["limit 9"]
        assert run.failure(exit_code=1)[0] == 'task.aml:3: <AMSET>: variable "limit" is read-only'


class TestSet:
    def test_every_form_sets(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="a" />\n<AMVARIABLE NAME="b" />\n<AMVARIABLE NAME="c" />\n'
            '<AMVARIABLE ACTIVITY="set" VARIABLENAME="a" VALUE="one" />\n'
            '<AMVARIABLE ACTIVITY="set" NAME="b" VALUE="%a% two" />\n'
            '<AMSET VARIABLENAME="c">%b% &amp; three</AMSET>\n'
            '<AMSHOWDIALOG MESSAGE="%c%" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["one two & three"]

    def test_readonly_variable_cannot_be_set(self, tmp_path: Path, endpoint: str) -> None:
        result = run_task(
            tmp_path,
            endpoint,
            '<AMVARIABLE NAME="region" VALUE="eu-west-1" READONLY="YES" />\n'
            '<AMVARIABLE ACTIVITY="set" VARIABLENAME="region" VALUE="us-east-1" />\n'
            '<AMSHOWDIALOG MESSAGE="never shown" />\n',
        )
        assert result.exit_code == 1
        assert shown(result) == []
        lines = result.stderr.splitlines()
        assert lines[0].replace(str(tmp_path / "task.aml"), "task.aml") == (
            'amlses: task.aml:2: <AMVARIABLE ACTIVITY="set">: variable "region" is read-only'
        )
        assert lines[1].strip() == (
            '<AMVARIABLE ACTIVITY="set" VARIABLENAME="region" VALUE="us-east-1" />'
        )

    def test_readonly_variable_cannot_be_created_again(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="k" VALUE="1" READONLY="YES" />\n<AMVARIABLE NAME="k" VALUE="2" />\n',
            tmp_path,
        )
        assert run.error_lines[0] == (
            'task.aml:2: <AMVARIABLE>: variable "k" is read-only and cannot be created again'
        )

    def test_setting_a_missing_variable_is_an_error(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="total" />\n<AMSET VARIABLENAME="totl">1</AMSET>\n',
            tmp_path,
        )
        assert run.failure(exit_code=1)[0] == (
            'task.aml:2: <AMSET>: variable "totl" does not exist: create it first with '
            '<AMVARIABLE NAME="totl" />'
        )


class TestIncrementDecrement:
    def test_every_form(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="n" VALUE="10" />\n'
            '<AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="n" />\n'
            '<AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="n" AMOUNT="5" />\n'
            '<AMVARIABLE ACTIVITY="decrement" RESULTVARIABLE="n" AMOUNT="%n - 14%" />\n'
            '<AMSHOWDIALOG MESSAGE="%n%" />\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="n" AMOUNT="3">\n'
            '<AMDECREMENTVARIABLE RESULTVARIABLE="n" />\n'
            '<AMSHOWDIALOG MESSAGE="%n%" />\n',
            tmp_path,
        )
        assert run.ok, run.error
        assert run.shown == ["14", "16"]

    def test_blank_counts_as_zero_and_decimals_stay_decimal(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="blank" />\n<AMVARIABLE NAME="half" VALUE="0.5" />\n'
            '<AMDECREMENTVARIABLE RESULTVARIABLE="blank" AMOUNT="2" />\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="half" />\n'
            '<AMSHOWDIALOG MESSAGE="%blank% %half%" />\n',
            tmp_path,
        )
        assert run.shown == ["-2 1.5"]

    def test_a_non_number_is_a_clear_error(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMVARIABLE NAME="who" VALUE="alice" />\n'
            '<AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="who" />\n',
            tmp_path,
        )
        assert run.failure(exit_code=1)[0] == (
            'task.aml:2: <AMVARIABLE ACTIVITY="increment">: variable "who" holds '
            '"alice", which is not a number, so it cannot be incremented or decremented'
        )

    def test_a_missing_variable_is_a_clear_error(self, tmp_path: Path) -> None:
        run = run_fake('<AMINCREMENTVARIABLE RESULTVARIABLE="hits" />\n', tmp_path)
        assert run.failure(exit_code=1)[0] == (
            'task.aml:1: <AMINCREMENTVARIABLE>: variable "hits" does not exist: create '
            'it first with <AMVARIABLE NAME="hits" />'
        )

    def test_amount_must_be_a_whole_number(self, tmp_path: Path) -> None:
        from amlses.cli import cli

        path = tmp_path / "task.aml"
        path.write_text(
            '<AMVARIABLE NAME="n" />\n<AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="n" '
            'AMOUNT="lots" />\n'
        )
        result = CliRunner().invoke(cli, ["check", str(path)])
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == (
            f'{path}:2:61: error: <AMVARIABLE ACTIVITY="increment">: AMOUNT must be a whole '
            'number, not "lots"'
        )

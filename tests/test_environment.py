"""Environment variable steps as a user runs them: ``amlses run -q`` on a task in ``tmp_path``.

amlses sets variables in its own process environment and does not restore them when a run
ends (the module's documented decision), so every test here runs with the environment saved
and put back afterwards, and the variables it uses start with ``AMLSES_T_``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from clitools import invoke, write_task


@pytest.fixture(autouse=True)
def saved_environ() -> Iterator[None]:
    """Put ``os.environ`` back as it was, whatever the task set or removed."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(tmp_path: Path, text: str, *args: str) -> Result:
    return invoke("run", str(write_task(tmp_path, text)), "-q", *args)


def shown(result: Result) -> list[str]:
    return result.stdout.splitlines()


def problems(result: Result, tmp_path: Path) -> list[str]:
    return result.stderr.replace(f"{tmp_path}/", "").splitlines()


PROCESS = ' TYPE="PROCESS"'


class TestSetGetAppendDelete:
    def test_set_then_get_and_the_value_stays_set(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            f'<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_A" VALUE="%1+1% x"{PROCESS} />\n'
            f'<AMENVVARS ACTIVITY="get" NAME="AMLSES_T_A" RESULTVARIABLE="v"{PROCESS} />\n'
            '<AMSHOWDIALOG MESSAGE="[%v%]" />\n',
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["[2 x]"]
        assert result.stderr == ""
        assert os.environ["AMLSES_T_A"] == "2 x"

    def test_overwrite_no_keeps_the_value_and_fails(self, tmp_path: Path) -> None:
        os.environ["AMLSES_T_B"] = "old"
        result = run(
            tmp_path,
            f'<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_B" VALUE="new" OVERWRITE="NO"{PROCESS} />\n',
        )
        assert result.exit_code == 1
        assert problems(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMENVVARS ACTIVITY="set">: environment variable "AMLSES_T_B" '
            'is already set and OVERWRITE="NO" keeps it; remove OVERWRITE="NO" to replace it'
        )
        assert os.environ["AMLSES_T_B"] == "old"

    def test_names_match_without_regard_to_case(self, tmp_path: Path) -> None:
        os.environ["AMLSES_T_TEMP"] = "/tmp"
        result = run(
            tmp_path,
            f'<AMENVVARS ACTIVITY="append" NAME="amlses_t_temp" VALUE="/sub"'
            f' RESULTVARIABLE="r"{PROCESS} />\n'
            '<AMSHOWDIALOG MESSAGE="%r%" />\n',
        )
        assert shown(result) == ["/tmp/sub"]
        assert os.environ["AMLSES_T_TEMP"] == "/tmp/sub"
        assert "amlses_t_temp" not in os.environ

    def test_append_creates_a_missing_variable(self, tmp_path: Path) -> None:
        run(tmp_path, f'<AMENVVARS ACTIVITY="append" NAME="AMLSES_T_C" VALUE="x"{PROCESS} />\n')
        assert os.environ["AMLSES_T_C"] == "x"

    def test_get_of_a_variable_not_set_is_empty(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            '<AMENVVARS ACTIVITY="get" NAME="AMLSES_T_NONE" RESULTVARIABLE="v" />\n'
            '<AMSHOWDIALOG MESSAGE="[%v%]" />\n',
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["[]"]
        assert result.stderr == ""  # reading warns about nothing

    def test_delete_and_delete_again(self, tmp_path: Path) -> None:
        os.environ["AMLSES_T_D"] = "x"
        step = f'<AMENVVARS ACTIVITY="delete" NAME="AMLSES_T_D"{PROCESS} />\n'
        result = run(tmp_path, step + step)
        assert result.exit_code == 0, result.output
        assert "AMLSES_T_D" not in os.environ

    def test_an_invalid_name(self, tmp_path: Path) -> None:
        result = run(tmp_path, f'<AMENVVARS ACTIVITY="set" NAME="A=B" VALUE="x"{PROCESS} />\n')
        assert problems(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMENVVARS ACTIVITY="set">: "A=B" is not a valid environment '
            'variable name (no "=" allowed)'
        )

    def test_a_subtask_sees_what_its_parent_set(self, tmp_path: Path) -> None:
        write_task(
            tmp_path,
            '<AMENVVARS ACTIVITY="get" NAME="AMLSES_T_SUB" RESULTVARIABLE="v" />\n'
            '<AMSHOWDIALOG MESSAGE="sub sees %v%" />\n',
            "sub/child.aml",
        )
        result = run(
            tmp_path,
            f'<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_SUB" VALUE="hello"{PROCESS} />\n'
            '<AMTASK TASKFILE="sub\\child.aml" />\n',
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["sub sees hello"]


class TestList:
    def test_a_dataset_of_names_and_values(self, tmp_path: Path) -> None:
        os.environ["AMLSES_T_L1"] = "one"
        os.environ["AMLSES_T_L2"] = "two"
        result = run(
            tmp_path,
            '<AMENVVARS ACTIVITY="list" TYPE="PROCESS" RESULTDATASET="env" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="env">\n'
            '<AMIF ACTIVITY="contains_text" TEXT="%env.Name%" SUBSTRING="AMLSES_T_L"'
            ' ACTION="start_with">\n'
            '<AMSHOWDIALOG MESSAGE="%env.Name%=%env.Value%" />\n'
            "</AMIF>\n"
            "</AMLOOP>\n",
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["AMLSES_T_L1=one", "AMLSES_T_L2=two"]

    def test_secret_looking_values_are_masked(self, tmp_path: Path) -> None:
        os.environ["AMLSES_T_TOKEN"] = "s3cr3t-value-123"
        result = run(
            tmp_path,
            '<AMENVVARS ACTIVITY="get" NAME="AMLSES_T_TOKEN" RESULTVARIABLE="t" />\n'
            '<AMSHOWDIALOG MESSAGE="token is %t%" />\n'
            '<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_PASSWORD" VALUE="hunter2-long"'
            f"{PROCESS} />\n",
        )
        assert shown(result) == ["token is ****"]
        assert "s3cr3t-value-123" not in result.output
        assert os.environ["AMLSES_T_PASSWORD"] == "hunter2-long"


class TestScopes:
    def test_user_scope_warns_once_that_nothing_persists(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            '<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_U" VALUE="1" />\n'
            '<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_U" VALUE="2" TYPE="USER" />\n',
        )
        assert result.exit_code == 0, result.output
        assert problems(result, tmp_path) == [
            'warning: task.aml:1: TYPE="USER" environment variables are kept in the Windows '
            "registry, which amlses does not have: this one is set for the rest of this run only "
            '(as TYPE="PROCESS"), nothing is stored for later runs'
        ]
        assert os.environ["AMLSES_T_U"] == "2"

    @pytest.mark.parametrize("scope", ["MACHINE", "SYSTEM"])
    def test_machine_scope_warns_too(self, tmp_path: Path, scope: str) -> None:
        result = run(
            tmp_path, f'<AMENVVARS ACTIVITY="delete" NAME="AMLSES_T_M" TYPE="{scope}" />\n'
        )
        assert result.exit_code == 0, result.output
        assert problems(result, tmp_path)[0].startswith(
            f'warning: task.aml:1: TYPE="{scope}" environment variables are kept in the '
            "Windows registry"
        )


class TestLegacyForms:
    def test_set_append_remove(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            '<AMSETENVIRONMENT NAME="AMLSES_T_OLD" TYPE="PROCESS" VALUE="a" />\n'
            '<AMAPPENDENVIRONMENT NAME="AMLSES_T_OLD" TYPE="PROCESS" VALUE="b"'
            ' RESULTVARIABLE="r" />\n'
            '<AMSHOWDIALOG MESSAGE="%r%" />\n'
            '<AMREMOVEENVIRONMENT NAME="AMLSES_T_OLD" TYPE="PROCESS" />\n',
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["ab"]
        assert "AMLSES_T_OLD" not in os.environ

    def test_create_if_not_exist_no(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            '<AMSETENVIRONMENT NAME="AMLSES_T_NEW" TYPE="PROCESS" VALUE="a"'
            ' CREATEIFNOTEXIST="NO" />\n',
        )
        assert result.exit_code == 1
        assert problems(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMSETENVIRONMENT>: environment variable "AMLSES_T_NEW" is not '
            'set and CREATEIFNOTEXIST="NO" does not create it'
        )
        assert "AMLSES_T_NEW" not in os.environ


class TestCheck:
    def test_a_misspelt_attribute_is_named_with_a_suggestion(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMENVVARS ACTIVITY="set" NAME="X" VALEU="1" />\n'
            '<AMENVVARS ACTIVITY="set" NAME="X" VALUE="1" TYPE="session" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        lines = result.output.replace(f"{tmp_path}/", "").splitlines()
        assert lines[0] == (
            'task.aml:1:36: error: <AMENVVARS ACTIVITY="set">: unknown attribute VALEU for '
            '<AMENVVARS ACTIVITY="set"> (did you mean "VALUE"?)'
        )
        assert any('TYPE="session" is not one of' in line for line in lines)

    def test_the_result_variable_is_known_to_later_steps(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMENVVARS ACTIVITY="get" NAME="HOME" RESULTVARIABLE="home" />\n'
            '<AMENVVARS ACTIVITY="list" RESULTDATASET="env" />\n'
            '<AMSHOWDIALOG MESSAGE="%home% %env.Name%" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 0, result.output


def test_step_lines_mask_a_secret_looking_value(tmp_path: Path) -> None:
    """Without -q the step line shows the value set, masked when the name says it is secret."""
    result = invoke(
        "run",
        str(
            write_task(
                tmp_path,
                '<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_SECRET" VALUE="very-secret-1"'
                ' TYPE="PROCESS" />\n'
                '<AMENVVARS ACTIVITY="set" NAME="AMLSES_T_PLAIN" VALUE="plain-value"'
                ' TYPE="PROCESS" />\n',
            )
        ),
    )
    assert result.exit_code == 0, result.output
    assert "AMLSES_T_SECRET = ****" in result.stdout
    assert "AMLSES_T_PLAIN = plain-value" in result.stdout
    assert "very-secret-1" not in result.output

"""``amlses check`` as CI uses it: several files, standard input, ``--json``, and the checks
that find before a run what a run would find only at its steps (files, template data, tokens),
plus the warnings for a ``--var`` that names nothing, an unknown fixture key and an empty task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner, Result
from keyring.backends import fail

from amlses import vault
from amlses.cli import cli
from amlses.emulator import load_fixture
from amlses.errors import UsageError
from clitools import write_task

OK = '<AMVARIABLE NAME="a" VALUE="1" />\n'
BAD = '<AMVARIABLE NAME="a" VALUE="%b%" />\n'
BAD_MESSAGE = (
    '1:30: error: <AMVARIABLE>: "b" is read here but no earlier step creates it: a variable '
    "in the expression does not exist or is misspelled"
)
SEND = (
    '<AMAWSSES ACTIVITY="send_email" FROM="a@example.com" TO="b@example.com" SUBJECT="Hi" '
    "{attrs} />\n"
)
TEMPLATED = (
    '<AMAWSSES ACTIVITY="send_templated_email" FROM="a@example.com" TO="b@example.com" '
    'TEMPLATE="T" {attrs} />\n'
)
PROBLEM_KEYS = {"file", "line", "column", "severity", "code", "message", "step"}


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    """No amlses key anywhere unless a test sets one: no AMLSES_KEY, no key file, no keyring."""
    monkeypatch.delenv(vault.KEY_ENV, raising=False)
    monkeypatch.setenv(vault.KEY_FILE_ENV, str(tmp_path / "keys" / "amlses.key"))
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def check(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Result:
    """``amlses check ARGS`` in-process (in ``cwd`` when given); never a traceback."""
    before = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, ["check", *args], input=stdin)
    finally:
        os.chdir(before)
    assert "Traceback" not in result.output
    return result


def lines(text: str) -> list[str]:
    """The message lines of check's stderr, without the echoed source lines."""
    return [line for line in text.splitlines() if not line.startswith("    ")]


class TestSeveralFiles:
    def test_every_file_is_checked_and_summed_up(self, tmp_path: Path) -> None:
        write_task(tmp_path, OK, "ok.aml")
        write_task(tmp_path, BAD, "bad.aml")
        result = check("ok.aml", "bad.aml", "missing.aml", cwd=tmp_path)
        assert result.exit_code == 2
        assert result.stdout == "ok.aml: ok\n"
        assert lines(result.stderr) == [
            f"bad.aml:{BAD_MESSAGE}",
            "bad.aml: 1 error(s)",
            "amlses: cannot read task file missing.aml: No such file or directory",
            "3 files: 1 ok, 2 with errors (2 errors)",
        ]

    def test_all_ok_exits_0_with_the_summary_on_stdout(self, tmp_path: Path) -> None:
        write_task(tmp_path, OK, "a.aml")
        write_task(tmp_path, "<!-- nothing yet -->\n", "b.aml")
        result = check("a.aml", "b.aml", cwd=tmp_path)
        assert (result.exit_code, result.stderr) == (
            0,
            "b.aml:1:1: warning: the task has no steps\n",
        )
        assert result.stdout == "a.aml: ok\nb.aml: ok (1 warning(s))\n2 files: 2 ok (1 warning)\n"

    def test_one_file_prints_as_before(self, tmp_path: Path) -> None:
        write_task(tmp_path, BAD, "bad.aml")
        result = check("bad.aml", cwd=tmp_path)
        assert result.exit_code == 2
        assert lines(result.stderr) == [f"bad.aml:{BAD_MESSAGE}", "bad.aml: 1 error(s)"]
        missing = check("missing.aml", cwd=tmp_path)
        assert missing.exit_code == 2
        assert missing.stderr == (
            "amlses: cannot read task file missing.aml: No such file or directory\n"
        )

    def test_a_task_on_standard_input_is_named_stdin(self, tmp_path: Path) -> None:
        assert check("-", stdin=OK).stdout == "<stdin>: ok\n"
        result = check("-", stdin=BAD)
        assert result.exit_code == 2
        assert lines(result.stderr) == [f"<stdin>:{BAD_MESSAGE}", "<stdin>: 1 error(s)"]
        write_task(tmp_path, OK, "ok.aml")
        both = check("ok.aml", "-", stdin="not aml", cwd=tmp_path)
        assert both.exit_code == 2
        assert lines(both.stderr) == [
            "amlses: <stdin> is not an AML task file: it does not start with an AML step "
            "(<AMVARIABLE …>, <AMAWSSES …>) or a comment",
            "2 files: 1 ok, 1 with errors (1 error)",
        ]

    def test_a_bad_var_stops_before_any_file(self, tmp_path: Path) -> None:
        write_task(tmp_path, OK, "ok.aml")
        result = check("ok.aml", "--var", "novalue", cwd=tmp_path)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == 'amlses: --var takes NAME=VALUE, not "novalue"\n'


class TestJson:
    def test_one_document_with_every_file(self, tmp_path: Path) -> None:
        write_task(tmp_path, OK, "ok.aml")
        write_task(tmp_path, BAD, "bad.aml")
        write_task(tmp_path, '<AMVARIABLE NAME="a" VALUE="1 />\n', "syntax.aml")
        result = check("--json", "ok.aml", "bad.aml", "syntax.aml", "missing.aml", cwd=tmp_path)
        assert (result.exit_code, result.stderr) == (2, "")
        document = json.loads(result.stdout)
        assert document["status"] == "invalid"
        assert [f["file"] for f in document["files"]] == [
            "ok.aml",
            "bad.aml",
            "syntax.aml",
            "missing.aml",
        ]
        ok, bad, syntax, missing = (f["problems"] for f in document["files"])
        assert ok == []
        assert bad == [
            {
                "file": "bad.aml",
                "line": 1,
                "column": 30,
                "severity": "error",
                "code": "TaskError",
                "message": BAD_MESSAGE.split("<AMVARIABLE>: ", 1)[1],
                "step": "<AMVARIABLE>",
            }
        ]
        assert syntax[0]["code"] == "SyntaxError" and set(syntax[0]) == PROBLEM_KEYS
        assert missing == [
            {
                "file": "missing.aml",
                "line": None,
                "column": None,
                "severity": "error",
                "code": "UsageError",
                "message": "cannot read task file missing.aml: No such file or directory",
                "step": None,
            }
        ]

    def test_a_bad_command_line_still_prints_one_document(self, tmp_path: Path) -> None:
        result = check("--json", "-", "--map-path", "nonsense", stdin=OK)
        assert result.exit_code == 2
        assert json.loads(result.stdout) == {"status": "invalid", "files": []}
        assert result.stderr.startswith("amlses: --map-path takes WINDOWS=LOCAL")

    def test_ok_status_and_warnings(self, tmp_path: Path) -> None:
        result = check("--json", "-", "--var", "Recipent=x", stdin=OK)
        assert result.exit_code == 0
        document = json.loads(result.stdout)
        assert document["status"] == "ok"
        [problem] = document["files"][0]["problems"]
        assert (problem["file"], problem["severity"]) == ("<stdin>", "warning")

    def test_secrets_are_masked(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_session" SESSION="S" ACCESSKEY="AKIA" '
            'SECRETKEY="plain-secret-1" BADATTR="plain-secret-1" />\n',
        )
        result = check("--json", str(task))
        assert result.exit_code == 2
        assert "plain-secret-1" not in result.output
        assert json.loads(result.stdout)["status"] == "invalid"


class TestMailChecks:
    def test_template_data_must_be_a_json_object(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            TEMPLATED.format(attrs="TEMPLATEDATA='[1]'")
            + TEMPLATED.format(attrs="TEMPLATEDATA='{\"a\": '")
            + TEMPLATED.format(attrs="TEMPLATEDATA='%data%'")
            + TEMPLATED.format(attrs='TEMPLATEDATA=\'{"name": "Ann"}\'')
            + '<AMAWSSES ACTIVITY="send_bulk_email" FROM="a@example.com" DATASET="%x%" '
            'TEMPLATE="T" DEFAULTTEMPLATEDATA=\'"x"\' RESULTDATASET="R" />\n',
            "t.aml",
        )
        result = check(str(task), "--var", "data={}", "--var", "x=y")
        errors = [line for line in lines(result.stderr) if ": error: " in line]
        assert errors == [
            f'{task}:1:96: error: <AMAWSSES ACTIVITY="send_templated_email">: TEMPLATEDATA '
            'must be a JSON object such as {"name": "Ann"}, not a JSON list',
            f'{task}:2:96: error: <AMAWSSES ACTIVITY="send_templated_email">: TEMPLATEDATA '
            "is not JSON: Expecting value at line 1 column 7. Write a JSON object such as "
            '{"name": "Ann"} (in AML, put the attribute value in single quotes or write '
            "&quot; for each double quote)",
            f'{task}:5:86: error: <AMAWSSES ACTIVITY="send_bulk_email">: DEFAULTTEMPLATEDATA '
            'must be a JSON object such as {"name": "Ann"}, not a JSON str',
        ]
        assert result.exit_code == 2

    def test_missing_files_are_found_from_the_task_folder(self, tmp_path: Path) -> None:
        (tmp_path / "tasks").mkdir()
        (tmp_path / "tasks" / "body.txt").write_text("Hello")
        (tmp_path / "tasks" / "a.pdf").write_bytes(b"%PDF")
        (tmp_path / "tasks" / "folder").mkdir()
        attrs = (
            'TEXTBODYFILE="body.txt" HTMLBODYFILE="nope.html" '
            'ATTACHMENTS="a.pdf|b.pdf; folder;%x%.pdf"'
        )
        write_task(tmp_path, SEND.format(attrs=attrs), "tasks/send.aml")
        result = check("tasks/send.aml", "--var", "x=y", cwd=tmp_path)
        assert result.exit_code == 2
        found = [line.split(": error: ")[1] for line in lines(result.stderr) if "error:" in line]
        step = '<AMAWSSES ACTIVITY="send_email">: '
        assert found == [
            step + "HTMLBODYFILE: the file tasks/nope.html does not exist",
            step + "ATTACHMENTS: the file tasks/b.pdf does not exist",
            step + "ATTACHMENTS: the file tasks/folder is not a file",
        ]
        assert "send.aml:1:110: error" in result.stderr

    def test_raw_message_and_csv_files(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="send_raw_email" MESSAGEFILE="m.eml" />\n'
            '<AMAWSSES ACTIVITY="send_bulk_email" FROM="a@example.com" CSVFILE="list.csv" '
            'SUBJECT="s" TEXTBODY="t" RESULTDATASET="R" />\n',
        )
        found = lines(check(str(task)).stderr)
        assert f"{task}:1:37: error: " in found[1] and "MESSAGEFILE: the file" in found[1]
        assert found[3].endswith(f"CSVFILE: the file {tmp_path / 'list.csv'} does not exist")

    def test_windows_paths_need_a_mapping_to_be_looked_for(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, SEND.format(attrs='ATTACHMENTS="C:\\Reports\\x.pdf"'))
        assert check(str(task)).exit_code == 0  # unmapped: left to the machine that runs it
        (tmp_path / "c").mkdir()
        mapped = check(str(task), "--map-path", f"C:\\={tmp_path / 'c'}")
        assert mapped.exit_code == 2
        assert f"ATTACHMENTS: the file {tmp_path / 'c' / 'Reports' / 'x.pdf'} does not" in (
            mapped.stderr
        )

    def test_run_still_leaves_files_to_the_step(self, tmp_path: Path) -> None:
        """A run does not refuse the task: an earlier step may make the file."""
        task = write_task(tmp_path, SEND.format(attrs='TEXTBODYFILE="later.txt"'))
        result = CliRunner().invoke(cli, ["run", str(task), "--endpoint-url", "http://127.0.0.1:9"])
        assert result.exit_code == 1  # failed at the step, not refused (2)
        assert "does not exist" in result.stderr


class TestTokens:
    STEP = '<AMAWSSES ACTIVITY="create_session" SESSION="S" ACCESSKEY="AKIA" SECRETKEY="{}" />\n'

    def test_without_any_key_a_token_is_a_warning(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, self.STEP.format("amlses:v1:gAAAAA"))
        result = check(str(task))
        assert result.exit_code == 0
        assert lines(result.stderr) == [
            f'{task}:1:66: warning: <AMAWSSES ACTIVITY="create_session">: SECRETKEY holds an '
            "amlses token, and there is no key to check the token with"
        ]

    def test_a_token_of_another_key_is_an_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = vault.encrypt("plain-secret-1", vault.Key(vault.generate_key(), "other"))
        monkeypatch.setenv(vault.KEY_ENV, vault.generate_key().decode())
        task = write_task(tmp_path, self.STEP.format(token))
        result = check(str(task))
        assert result.exit_code == 2
        assert (
            f'{task}:1:66: error: <AMAWSSES ACTIVITY="create_session">: SECRETKEY holds an '
            "amlses token: The token cannot be decrypted with the key from AMLSES_KEY"
        ) in result.stderr
        assert "plain-secret-1" not in result.output and token not in result.output

    def test_a_token_of_this_key_is_fine(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        material = vault.generate_key()
        monkeypatch.setenv(vault.KEY_ENV, material.decode())
        token = vault.encrypt("plain-secret-1", vault.Key(material, "here"))
        write_task(tmp_path, self.STEP.format(token), "t.aml")
        assert check("t.aml", cwd=tmp_path).stdout == "t.aml: ok\n"


class TestWarnings:
    TASK = (
        '<AMVARIABLE NAME="Recipient" VALUE="" ISPARAMETER="YES" />\n'
        '<AMVARIABLE NAME="copy" VALUE="%Recipient% %Extra%" />\n'
    )

    def test_a_var_that_names_nothing_is_a_warning(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, self.TASK, "t.aml")
        result = check(
            "t.aml", "--var", "Recipent=a", "--var", "Extra=b", "--var", "recipient=c", cwd=tmp_path
        )
        assert result.exit_code == 0
        assert result.stderr == (
            "t.aml:1:1: warning: --var Recipent sets a variable the task neither creates nor "
            'reads (did you mean "Recipient"?)\n'
        )
        assert task.exists()

    def test_run_shows_the_same_warning(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMVARIABLE NAME="b" VALUE="%a%" />\n', "t.aml")
        before = Path.cwd()
        os.chdir(tmp_path)
        try:
            result = CliRunner().invoke(cli, ["run", "t.aml", "--var", "a=1", "--var", "zz=2"])
        finally:
            os.chdir(before)
        assert result.exit_code == 0, result.output
        assert result.stderr == (
            "t.aml:1:1: warning: --var zz sets a variable the task neither creates nor reads\n"
        )

    def test_a_subtask_is_not_warned_about_the_run_s_variables(self, tmp_path: Path) -> None:
        write_task(tmp_path, '<AMVARIABLE NAME="c" VALUE="1" />\n', "child.aml")
        write_task(
            tmp_path, '<AMVARIABLE NAME="w" VALUE="%v%" />\n<AMTASK TASKFILE="child.aml" />\n'
        )
        result = CliRunner().invoke(cli, ["run", str(tmp_path / "task.aml"), "--var", "v=2"])
        assert (result.exit_code, result.stderr) == (0, ""), result.output

    def test_an_empty_task_has_no_steps(self, tmp_path: Path) -> None:
        assert check("-", stdin="  \n").stderr == "<stdin>:1:1: warning: the task has no steps\n"
        assert check("-", stdin="<!-- only a comment -->").exit_code == 0

    def test_an_unknown_fixture_key_is_refused_by_name(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError) as raised:
            load_fixture({"identites": ["a@example.com"]})
        assert raised.value.message == (
            'The fixture has the unknown key "identites" (did you mean "identities"?); a '
            'fixture knows only "identities".'
        )
        assert load_fixture({"identities": []}) == {"identities": []}

    def test_run_local_says_which_fixture_key_is_unknown(self, tmp_path: Path) -> None:
        """In a subprocess: the emulator the run started must not outlive the test."""
        fixture = tmp_path / "fixture.json"
        fixture.write_text('{"identites": ["a@example.com"]}')
        task = write_task(tmp_path, OK)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "amlses",
                "run",
                str(task),
                "--local",
                "--fixture",
                str(fixture),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2
        assert done.stderr.endswith(
            f'amlses: The fixture {fixture} has the unknown key "identites" (did you mean '
            '"identities"?); a fixture knows only "identities".\n'
        )


class TestMissingQuote:
    def test_the_error_says_where_the_quote_is_missing(self) -> None:
        text = (
            '<AMVARIABLE NAME="a" VALUE="1 />\n'
            '<AMVARIABLE NAME="b" VALUE="2" />\n'
            '<AMVARIABLE NAME="c" VALUE="%b%" />\n'
        )
        result = check("-", stdin=text)
        assert result.exit_code == 2
        assert lines(result.stderr) == [
            "<stdin>:1:28: error: the value of VALUE in <AMVARIABLE> does not end where it "
            "should: a closing quote is probably missing before column 31",
            "<stdin>: 1 error(s)",
        ]

    def test_on_the_same_line(self) -> None:
        result = check("-", stdin='<AMVARIABLE NAME="a VALUE="1" />\n')
        assert lines(result.stderr)[0] == (
            "<stdin>:1:18: error: the value of NAME in <AMVARIABLE> does not end where it "
            "should: a closing quote is probably missing before column 21"
        )

    def test_a_value_over_several_lines_is_no_missing_quote(self) -> None:
        text = '<AMVARIABLE NAME="a" VALUE="<br/>\nline two" />\n'
        assert check("-", stdin=text).exit_code == 0


def test_check_of_a_mail_task_imports_no_email_module(tmp_path: Path) -> None:
    """The mail checks read JSON and look for files: ``email`` (and botocore) stay unloaded.

    A key is given in AMLSES_KEY: looking for one in the OS keyring imports ``keyring``, which
    loads ``email`` through ``importlib.metadata`` (as for a run).
    """
    task = write_task(
        tmp_path,
        TEMPLATED.format(attrs="TEMPLATEDATA='[1]'")
        + SEND.format(attrs='ATTACHMENTS="a.pdf" SECRETKEY="amlses:v1:x" ACCESSKEY="AKIA"'),
    )
    probe = (
        "import sys\nfrom amlses.cli import main\nsys.argv = ['amlses', 'check', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('email', 'botocore', 'boto3')]\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, vault.KEY_ENV: vault.generate_key().decode()}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(task)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.stderr.splitlines()[-1] == "2 []"

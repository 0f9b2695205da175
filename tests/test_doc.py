"""``amlses doc`` and ``amlses.__version__``: the reference is the registry, nothing else.

Every expectation about what is listed is computed from :mod:`amlses.actions` here too, so a
handler module added tomorrow is covered without touching this file, and a doc renderer that
forgot an element, an activity or a refused step fails.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner, Result

import amlses
from amlses import actions, docs
from amlses.actions.registry import UNSUPPORTED
from amlses.commands.doc import doc


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(doc, list(args))
    assert "Traceback" not in result.output
    return result


def listing_label(spec: Any) -> str:
    """How the listing writes an activity: its name, else an alias, else "(no ACTIVITY)"."""
    keys = [k for k, found in actions.ELEMENTS[spec.element].activities.items() if found is spec]
    return spec.name.lower() or next((k for k in keys if k), docs.NO_ACTIVITY)


def table_rows(text: str) -> dict[str, list[str]]:
    """The attribute table of an activity's text, by attribute name: its cells split at runs
    of two or more blanks (the table's column gap; no cell holds two blanks in a row)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ATTRIBUTE  "))
    header = lines[start]
    columns = [header.index(name) for name in docs._COLUMNS]
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        bounds = [*columns, len(line) + 1]
        cells = [line[bounds[i] : bounds[i + 1]].strip() for i in range(len(columns))]
        rows[cells[0].split(" / ")[0]] = cells
    return rows


def cell(row: list[str], column: str) -> str:
    return row[docs._COLUMNS.index(column)]


class TestListing:
    def test_every_registered_activity_is_listed_under_its_element(self) -> None:
        result = invoke()
        assert result.exit_code == 0, result.output
        sections: dict[str, list[str]] = {}
        current = ""
        for line in result.stdout.splitlines():
            if line.startswith("<") and not line.startswith("  "):
                current = line.split(">")[0][1:]
                sections.setdefault(current, [])
            elif line.startswith("  ") and current:
                sections[current].append(line.strip())
        specs = list(actions.activities())
        assert len(specs) > 50  # the handler modules really were loaded
        for spec in specs:
            label = listing_label(spec)
            lines = sections.get(spec.element, [])
            matching = [line for line in lines if line.split("  ")[0] == label]
            assert len(matching) == 1, f"{spec.element} {label!r} in {lines}"
            assert docs._one_line(spec).split(":")[0] in matching[0]
            assert ("[amlses extension" in matching[0]) == spec.extension

    def test_every_refused_step_is_named_with_its_reason(self) -> None:
        text = invoke().stdout
        refused = text[text.index("Steps amlses refuses:") :].splitlines()
        assert UNSUPPORTED
        for (element, activity), reason in UNSUPPORTED.items():
            label = f'<{element} ACTIVITY="{activity}">' if activity else f"<{element}>"
            assert any(
                line.split() and line.strip().startswith(label) and line.rstrip().endswith(reason)
                for line in refused
            ), label

    def test_legacy_forms_and_activity_aliases_are_marked(self) -> None:
        lines = invoke().stdout.splitlines()
        amset = lines[lines.index("<AMSET>") + 1]
        assert "[legacy form of AMVARIABLE set]" in amset
        assert "legacy form of AMLOOP expression" in lines[lines.index("<AMLOOPEXPRESSION>") + 1]
        # a legacy form and its current form run the same handler: the mark is generated
        legacy = actions.ELEMENTS["AMSET"].activities[""]
        assert legacy.handler is actions.ELEMENTS["AMVARIABLE"].activities["set"].handler
        delete = next(line for line in lines if line.strip().startswith("delete  Environment"))
        assert "also ACTIVITY=remove" in delete
        copy = next(line for line in lines if line.strip().startswith("copy  "))
        assert "the default: ACTIVITY may be left out" in copy
        # the current forms are not marked legacy
        variable_set = next(line for line in lines if "  Variable - Set:" in line)
        assert "legacy" not in variable_set

    def test_the_common_attributes_are_named_once_and_in_no_table(self) -> None:
        text = invoke().stdout
        names = [attr.name for attr in actions.COMMON_ATTRS]
        assert text.count("Every step also takes the common attributes") == 1
        assert ", ".join(names) in text
        table = invoke("AMAWSSES", "send_email").stdout
        assert not set(table_rows(table)) & set(names)
        assert ", ".join(names) in table


class TestActivityTable:
    def test_send_email_shows_secrets_and_extensions(self) -> None:
        result = invoke("amawsses", "SEND_EMAIL")  # any case
        assert result.exit_code == 0, result.output
        rows = table_rows(result.stdout)
        assert cell(rows["SECRETKEY"], "SECRET") == "secret"
        assert cell(rows["SESSIONTOKEN"], "FROM") == "amlses"
        assert cell(rows["FROM"], "REQUIRED") == "required"
        assert cell(rows["FROM"], "SECRET") == ""
        assert cell(rows["CHARSET"], "DEFAULT") == "UTF-8"
        assert rows["PROXYUSER"][0] == "PROXYUSER / PROXYUSERNAME"
        assert cell(rows["PROVIDER"], "TYPE") == "one of session_based|host_based|host"
        assert cell(rows["MAXERRORRETRY"], "TYPE") == "number 0..100"
        assert "An amlses extension: Automate cannot run it." in result.stdout

    def test_an_automate_activity_tells_its_own_attributes_from_amlses_additions(self) -> None:
        rows = table_rows(invoke("AMAWSSES", "create_session").stdout)
        assert cell(rows["SECRETKEY"], "FROM") == "Automate"
        assert cell(rows["SECRETKEY"], "SECRET") == "secret"
        assert cell(rows["SESSIONTOKEN"], "FROM") == "amlses"
        assert cell(rows["SESSIONTOKEN"], "SECRET") == "secret"

    @pytest.mark.parametrize("spec", list(actions.activities()), ids=lambda s: listing_label(s))
    def test_every_activity_has_a_table_of_exactly_its_own_attributes(self, spec: Any) -> None:
        args = [spec.element] if len(_distinct(spec.element)) == 1 else [spec.element, spec.name]
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        own = [attr for attr in spec.attrs if attr not in actions.COMMON_ATTRS]
        if not own:
            assert "No attributes of its own." in result.stdout
            return
        rows = table_rows(result.stdout)
        assert list(rows) == [attr.name for attr in own]
        for attr in own:
            assert (cell(rows[attr.name], "SECRET") == "secret") == attr.secret
            assert (cell(rows[attr.name], "REQUIRED") == "required") == attr.required
            extension = attr.extension or spec.extension
            assert cell(rows[attr.name], "FROM") == ("amlses" if extension else "Automate")

    def test_the_default_activity_is_asked_for_with_an_empty_name(self) -> None:
        result = invoke("AMLOOP", "")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("<AMLOOP>  Loop - Range")
        assert "STEP" in table_rows(result.stdout)

    def test_an_activity_alias_selects_the_same_table(self) -> None:
        assert invoke("AMENVVARS", "remove").stdout == invoke("AMENVVARS", "delete").stdout

    def test_an_element_lists_its_activities(self) -> None:
        result = invoke("<amawsses>")
        assert result.exit_code == 0, result.output
        listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
        assert listed == [s.name for s in _distinct("AMAWSSES")]


def _distinct(element: str) -> list[Any]:
    return list({id(s): s for s in actions.ELEMENTS[element].activities.values()}.values())


class TestUnknownNames:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["AMAWSSE"], 'unknown element "AMAWSSE" (did you mean "AMAWSSES"?)'),
            (
                ["AMAWSSES", "send_mail"],
                'unknown activity "send_mail" of <AMAWSSES> (did you mean "send_email"?)',
            ),
            (["amvariable", "incremnt"], '(did you mean "increment"?)'),
            (["AMAWSSES", ""], "<AMAWSSES> needs an ACTIVITY: one of create_session"),
            (["AMSET", "set"], "it takes no ACTIVITY"),
            (
                ["AMLOOP", "windows"],
                'amlses does not run <AMLOOP ACTIVITY="windows">: it needs a desktop',
            ),
            (["AMSCRIPT"], "amlses does not run <AMSCRIPT>: it runs Automate's BASIC"),
            (["AMFTP"], "<AMFTP> is Automate's FTP"),
        ],
    )
    def test_exit_2_with_a_hint_on_stderr(self, args: list[str], expected: str) -> None:
        result = invoke(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("amlses: ")
        assert expected in result.stderr

    def test_the_hint_comes_from_the_registry(self) -> None:
        for name in actions.ELEMENTS:
            typo = name[:-1]
            if typo in actions.ELEMENTS:
                continue
            result = invoke(typo)
            assert result.exit_code == 2
            assert "did you mean" in result.stderr, typo


class TestJson:
    def test_the_listing_is_one_json_document_with_the_same_content(self) -> None:
        result = invoke("--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert document["kind"] == "reference"
        found = {
            (element["name"], activity["name"]): activity
            for element in document["elements"]
            for activity in element["activities"]
        }
        assert set(found) == {(s.element, s.name.lower()) for s in actions.activities()}
        for spec in actions.activities():
            entry = found[(spec.element, spec.name.lower())]
            assert entry["extension"] == spec.extension
            assert entry["doc"] == docs._one_line(spec)
            assert [a["name"] for a in entry["attributes"]] == [
                a.name for a in spec.attrs if a not in actions.COMMON_ATTRS
            ]
        assert {(r["element"], r["activity"] or None) for r in document["refused"]} == set(
            UNSUPPORTED
        )
        assert [a["name"] for a in document["common_attributes"]] == [
            a.name for a in actions.COMMON_ATTRS
        ]
        # and the text says the same: every activity's doc line is in it
        text = invoke().stdout
        assert all(entry["doc"] in text for entry in found.values())

    def test_an_activity_as_json_matches_its_table(self) -> None:
        document = json.loads(invoke("AMAWSSES", "send_email", "--json").stdout)
        rows = table_rows(invoke("AMAWSSES", "send_email").stdout)
        assert document["kind"] == "activity"
        assert [a["name"] for a in document["attributes"]] == list(rows)
        by_name = {a["name"]: a for a in document["attributes"]}
        assert by_name["SECRETKEY"]["secret"] is True
        assert by_name["SESSIONTOKEN"]["extension"] is True
        for name, row in rows.items():
            assert by_name[name]["type"] == cell(row, "TYPE")
            assert by_name[name]["default"] == cell(row, "DEFAULT")
        assert "AM_ONERROR" in {a["name"] for a in document["common_attributes"]}

    def test_an_unknown_name_with_json_is_still_a_usage_error(self) -> None:
        result = invoke("AMAWSSE", "--json")
        assert result.exit_code == 2
        assert result.stdout == ""


class TestCompletion:
    def _complete(self, args: list[str], incomplete: str) -> list[str]:
        from click.shell_completion import ShellComplete

        completion = ShellComplete(doc, {}, "amlses doc", "_AMLSES_COMPLETE")
        return [item.value for item in completion.get_completions(args, incomplete)]

    def test_elements_and_activities_complete_from_the_registry(self) -> None:
        assert "AMAWSSES" in self._complete([], "AMAW")
        assert "amawsses" in self._complete([], "amaw")
        sends = {n for n in actions.ELEMENTS["AMAWSSES"].activities if n.startswith("send_")}
        assert len(sends) >= 4
        assert set(self._complete(["AMAWSSES"], "send_")) == sends
        assert self._complete(["NOSUCH"], "") == []


class TestVersion:
    def test_version_is_the_installed_distributions(self) -> None:
        assert amlses.__version__ == importlib.metadata.version("amlses")
        assert "__version__" not in amlses.__all__

    def test_version_resolves_first_in_a_fresh_interpreter(self) -> None:
        code = "import amlses, sys; print(amlses.__version__, 'amlses.api' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == [importlib.metadata.version("amlses"), "False"]

    def test_an_uninstalled_tree_reports_unknown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from amlses import version

        def missing(name: str) -> str:
            raise importlib.metadata.PackageNotFoundError(name)

        monkeypatch.setattr(version, "version", missing)
        assert version._installed_version() == version.UNKNOWN == "0+unknown"

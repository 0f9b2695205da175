"""The tag-stream parser: both block forms, comments, text bodies, positions, hardening."""

from __future__ import annotations

from pathlib import Path

import pytest

from amlses.actions import grammar
from amlses.errors import AmlSyntaxError, Problem
from amlses.lang import parser as lang_parser
from amlses.lang.nodes import Block, Step, Task
from amlses.lang.parser import MAX_DEPTH


def parse(text: str, name: str = "<task>") -> Task:
    """The parser with the registry's block grammar, as the loader calls it."""
    return lang_parser.parse(text, name, grammar=grammar())


def parse_with_problems(text: str, name: str = "<task>") -> tuple[Task, list[Problem]]:
    return lang_parser.parse_with_problems(text, name, grammar=grammar())


TASKS = Path(__file__).parent / "tasks"


def shape(steps: tuple[Step, ...]) -> list[object]:
    """A compact view of a tree: names with activity, blocks as (name, body, orelse)."""
    out: list[object] = []
    for step in steps:
        label = step.name + (f":{step.activity}" if step.activity else "")
        if isinstance(step, Block):
            orelse = shape(step.orelse) if step.orelse is not None else None
            out.append((label, shape(step.body), orelse))
        else:
            out.append(label)
    return out


class TestSeed:
    def test_multiline_seed(self) -> None:
        task = parse((TASKS / "valid" / "seed-multiline.aml").read_text(), "seed.aml")
        assert shape(task.body) == [
            "AMAWSSES:create_session",
            "AMAWSSES:list_identities",
            ("AMLOOP:dataset", [("AMIF", ["AMAWSSES:verify_identity"], None)], None),
            "AMAWSSES:end_session",
        ]
        loop = task.body[2]
        assert isinstance(loop, Block)
        assert (loop.position.line, loop.position.column) == (6, 1)
        assert loop.end is not None and loop.end.line == 14
        condition = loop.body[0].get("expression")
        assert condition is not None
        assert condition.value == "%IDList.Type%=EmailAddress"
        assert (condition.position.line, condition.position.column) == (8, 19)

    def test_oneline_seed_has_same_shape(self) -> None:
        one = parse((TASKS / "valid" / "seed-oneline.aml").read_text())
        multi = parse((TASKS / "valid" / "seed-multiline.aml").read_text())
        assert shape(one.body) == shape(multi.body)
        assert all(step.position.line == 1 for step in one.walk())


class TestBlocks:
    def test_flat_form_with_else(self) -> None:
        task = parse(
            '<AMIF EXPRESSION="2 &lt; 1" />\n<AMSHOWDIALOG MESSAGE="t" />\n<AMELSE />\n'
            '<AMSHOWDIALOG MESSAGE="f" />\n<AMIF ACTIVITY="end" />\n'
        )
        assert shape(task.body) == [("AMIF", ["AMSHOWDIALOG"], ["AMSHOWDIALOG"])]
        block = task.body[0]
        assert block.value("EXPRESSION") == "2 < 1"

    def test_mixed_forms_in_one_file(self) -> None:
        task = parse(
            '<AMLOOP ACTIVITY="dataset" DATASET="d" />\n'
            '  <AMIF EXPRESSION="1=1">\n    <AMBREAK />\n  </AMIF>\n'
            '<AMLOOP ACTIVITY="end" />\n'
            '<amloop activity="dataset" dataset="d"><AMIF EXPRESSION="1=1" />'
            '<AMIF ACTIVITY="END" /></AMLOOP>'
        )
        assert shape(task.body) == [
            ("AMLOOP:dataset", [("AMIF", ["AMBREAK"], None)], None),
            ("AMLOOP:dataset", [("AMIF", [], None)], None),
        ]

    def test_loop_break_is_a_plain_step(self) -> None:
        task = parse('<AMLOOP TOTALLOOPS="2"><AMLOOP ACTIVITY="break" /></AMLOOP>')
        assert shape(task.body) == [("AMLOOP", ["AMLOOP:break"], None)]


class TestTags:
    def test_comments_both_forms_and_names_case_insensitive(self) -> None:
        task = parse('<!-- a --><!--- b ---><amawsses Activity="x" secretKey="s" />')
        step = task.body[0]
        assert step.name == "AMAWSSES"
        assert step.get("SECRETKEY") is not None and step.value("secretkey") == "s"

    def test_text_body_and_legacy_step_without_slash(self) -> None:
        task = parse(
            '<AMSET VARIABLENAME="x">a &amp; b\n</AMSET>\n'
            '<AMINCREMENTVARIABLE RESULTVARIABLE="c">\n<AMSHOWDIALOG>hi</AMSHOWDIALOG>'
        )
        assert [(s.name, s.text) for s in task.body] == [
            ("AMSET", "a & b"),
            ("AMINCREMENTVARIABLE", None),
            ("AMSHOWDIALOG", "hi"),
        ]

    def test_entities_and_character_references(self) -> None:
        task = parse('<AMX A="&lt;&gt;&amp;&quot;&apos;&#65;&#x42; & c" />')
        assert task.body[0].value("A") == "<>&\"'AB & c"

    def test_multiline_attribute_value_positions(self) -> None:
        task = parse('<AMX\n  A="one\ntwo"\n  B="x" />', "f.aml")
        b = task.body[0].get("B")
        assert b is not None and (b.position.line, b.position.column) == (4, 6)

    def test_echo_masks_secrets(self) -> None:
        task = parse('<AMAWSSES ACTIVITY="create_session" SECRETKEY="hunter22" />')
        assert "hunter22" not in task.body[0].echo()


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '<AMLOOP TOTALLOOPS="1">\n<AMIF EXPRESSION="1=1">\n</AMLOOP>',
                "x.aml:3:1: error: </AMLOOP> found while <AMIF> at line 2 is still open: "
                'expected </AMIF> or <AMIF ACTIVITY="end" /> first',
            ),
            (
                '<AMIF EXPRESSION="1=1">\n\n\n<AMX />\n</AMLOOP>\n</AMIF>',
                "x.aml:5:1: error: </AMLOOP> closes nothing; the innermost open step is <AMIF> "
                "at line 1",
            ),
            (
                "<AMELSE />",
                "x.aml:1:1: error: <AMELSE> outside an <AMIF> block",
            ),
            (
                '<AMIF EXPRESSION="1=1">\n<AMX />',
                "x.aml:1:1: error: <AMIF>: <AMIF> at line 1 is never closed: expected </AMIF> "
                'or <AMIF ACTIVITY="end" /> before the end of the file',
            ),
            (
                '<!DOCTYPE lol [<!ENTITY a "aaaa">]>\n<AMX A="&a;" />',
                "x.aml:1:1: error: <!DOCTYPE is not allowed",
            ),
            ('<AMX A="&a;" />', "x.aml:1:9: error: unknown entity &a;"),
            ("<AMX A=1 />", "x.aml:1:8: error: the value of A in <AMX> must be in double quotes"),
            ('<AMX A="1" A="2" />', "x.aml:1:12: error: attribute A appears twice in <AMX>"),
            ('<AMX A="1', "x.aml:1:8: error: the value of A in <AMX> is never closed"),
            ("hello <AMX />", 'x.aml:1:1: error: unexpected text "hello" outside a step'),
            ("<!-- open", "x.aml:1:1: error: comment <!-- is never closed"),
        ],
    )
    def test_messages(self, text: str, message: str) -> None:
        with pytest.raises(AmlSyntaxError) as info:
            parse(text, "x.aml")
        assert info.value.render().startswith(message)

    def test_every_problem_is_reported_and_parsing_recovers(self) -> None:
        task, problems = parse_with_problems(
            '<AMX A=1 />\n</AMIF>\n<AMY B="&bad;" />\n<AMZ />', "x.aml"
        )
        assert [p.position.line for p in problems if p.position] == [1, 2, 3]
        assert [s.name for s in task.body] == ["AMY", "AMZ"]

    def test_source_line_is_shown_with_secrets_masked(self) -> None:
        with pytest.raises(AmlSyntaxError) as info:
            parse('<AMAWSSES SECRETKEY="topsecret1" A=1 />', "x.aml")
        text = info.value.render()
        assert '<AMAWSSES SECRETKEY="****" A=1 />' in text
        assert "topsecret1" not in text

    def test_nesting_limit(self) -> None:
        text = '<AMIF EXPRESSION="1=1">' * (MAX_DEPTH + 1) + "</AMIF>" * (MAX_DEPTH + 1)
        with pytest.raises(AmlSyntaxError, match="nested more than"):
            parse(text)

    def test_billion_laughs_is_refused_before_expansion(self) -> None:
        bomb = (
            '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
            '<AMX A="&lol1;" />'
        )
        _, problems = parse_with_problems(bomb, "bomb.aml")
        messages = [p.message for p in problems]
        assert any("<!DOCTYPE is not allowed" in m for m in messages)
        assert any("unknown entity &lol1;" in m for m in messages)


class TestSavedTaskWrapper:
    TEXT = (
        '<AMTASK>\n<AMTASKHEAD><TASKINFO TASKVERSION="8090" /></AMTASKHEAD>\n'
        '<AMFUNCTION NAME="Main" RETURNTYPE="variable">\n'
        '<AMIF EXPRESSION="1=1"><AMSHOWDIALOG MESSAGE="a" /></AMIF>\n'
        "</AMFUNCTION>\n"
        '<AMFUNCTION NAME="Other"><AMWAIT SCALAR="1" /></AMFUNCTION>\n'
        "</AMTASK>\n"
    )

    def test_the_body_is_main_and_the_header_is_kept(self) -> None:
        task = parse(self.TEXT)
        assert shape(task.body) == [("AMIF", ["AMSHOWDIALOG"], None)]
        assert dict(task.header) == {"TASKVERSION": "8090"}
        assert [(f.name, f.position.line, shape(f.body)) for f in task.functions] == [
            ("Main", 3, [("AMIF", ["AMSHOWDIALOG"], None)]),
            ("Other", 6, ["AMWAIT"]),
        ]

    def test_a_bare_step_list_has_no_header(self) -> None:
        task = parse('<AMTASK ACTIVITY="stop" />')
        assert shape(task.body) == ["AMTASK:stop"] and not task.header and not task.functions

    def test_amtask_without_attributes_but_without_a_head_is_a_step(self) -> None:
        task = parse('<AMTASK>\n<AMSHOWDIALOG MESSAGE="a" />\n')
        assert shape(task.body) == ["AMTASK", "AMSHOWDIALOG"]


class TestChildElements:
    def test_an_element_with_children_becomes_a_block(self) -> None:
        task, found = parse_with_problems('<AMX A="1">\n<AMY>\n<AMZ />\n</AMX>\n<AMW />')
        assert not found
        assert shape(task.body) == [("AMX", ["AMY", "AMZ"], None), "AMW"]

    def test_a_text_body_is_still_text(self) -> None:
        task = parse("<AMX>some text</AMX>")
        assert shape(task.body) == ["AMX"] and task.body[0].text == "some text"

    def test_a_closed_element_can_no_longer_be_closed(self) -> None:
        _, found = parse_with_problems("<AMX>\n<AMY>\n</AMX>\n</AMY>\n")
        assert [p.render().splitlines()[0] for p in found] == [
            "<task>:4:1: error: </AMY> closes nothing; no block is open"
        ]

    def test_legacy_loops_close_with_amloop(self) -> None:
        task = parse('<AMLOOPEXPRESSION EXPRESSION="1=1"><AMBREAK /></AMLOOP>')
        assert shape(task.body) == [("AMLOOPEXPRESSION", ["AMBREAK"], None)]

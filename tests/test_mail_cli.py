"""The sending activities (amlses extensions) as a user runs them: ``amlses run`` and ``check``.

Tasks talk to moto through the test proxy (``--endpoint-url``) or to a ``--local`` emulator.
Effects are read from the emulator's outbox and the proxy's request log.  Every error a user
will hit is asserted as the one paragraph ``amlses run`` prints: ``file:line``, the step, the
cause and what to do — with exit code 1, no traceback and no secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import clitools
from amlses import api
from amlses.emulator import read_outbox
from amlses.errors import echo_line
from amlses.runtime import RunOptions
from amlses.secrets import mask_secret_attributes
from clitools import write_task
from proxy import SesProxy, xml_fields

EXAMPLES = Path(__file__).parent.parent / "examples"
FIXTURE = EXAMPLES / "identities.json"
KEY = "AKIAMAILTEST00000001"
SECRET = "mail-secret-never-printed-0123456789abcd"
CREDENTIALS = f'ACCESSKEY="{KEY}" SECRETKEY="{SECRET}"'
SENDER = "alice@example.com"

ProxyFactory = Callable[..., SesProxy]


def invoke(*args: str) -> Result:
    result = clitools.invoke(*args)
    assert SECRET not in result.output
    return result


def step_lines(result: Result) -> list[str]:
    """stdout's step lines without their timings."""
    return [line.split("  (")[0].rstrip() for line in result.stdout.splitlines()]


@pytest.fixture
def front(proxy: ProxyFactory, ses_client: Any) -> SesProxy:
    """The proxy in front of moto, with the sender verified."""
    ses_client.verify_email_identity(EmailAddress=SENDER)
    return proxy()


def run_task(tmp_path: Path, front: SesProxy, text: str) -> Result:
    return invoke("run", str(write_task(tmp_path, text)), "--endpoint-url", front.url)


class TestActivities:
    def test_send_email_with_and_without_attachments(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        (tmp_path / "files").mkdir()
        (tmp_path / "files" / "a.csv").write_text("x,y\n")
        (tmp_path / "body.txt").write_text("Body from a file")
        result = run_task(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" '
            'TO="bob@example.com; carol@example.com" SUBJECT="One" TEXTBODY="Hi" />\n'
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} FROM="{SENDER}" TO="bob@example.com" '
            'SUBJECT="Two" TEXTBODYFILE="body.txt" ATTACHMENTS="files/a.csv" />\n',
        )
        assert result.exit_code == 0, result.output
        sent = read_outbox(endpoint)
        lines = step_lines(result)
        assert (
            f"    1  AMAWSSES send_email            sent to 2 recipient(s): {sent[0].message_id}"
            in lines
        )
        assert (
            f"    2  AMAWSSES send_email            sent to 1 recipient(s) with 1 attachment(s): "
            f"{sent[1].message_id}" in lines
        )
        assert [m.subject for m in sent] == ["One", "Two"]
        assert KEY in front.requests[0].headers["authorization"]

    def test_message_ids_reach_resultvariable(
        self, front: SesProxy, endpoint: str, ses_client: Any
    ) -> None:
        """Through the Python API's api.run, which hands back the final variables."""
        text = (
            f'<AMAWSSES ACTIVITY="create_session" SESSION="M" {CREDENTIALS} />\n'
            '<AMAWSSES ACTIVITY="send_email" PROVIDER="session_based" SESSION="M" '
            f'FROM="{SENDER}" TO="bob@example.com" TEXTBODY="x" RESULTVARIABLE="Id" />\n'
            '<AMAWSSES ACTIVITY="send_templated_email" PROVIDER="session_based" SESSION="M" '
            f'FROM="{SENDER}" TO="bob@example.com" TEMPLATE="T" TEMPLATEDATA=\'{{"n": "%Id%"}}\' '
            'RESULTVARIABLE="Id2" />\n'
        )
        ses_client.create_template(
            Template={"TemplateName": "T", "SubjectPart": "S {{n}}", "TextPart": "B"}
        )
        result = api.run(text, "t.aml", options=RunOptions(endpoint_url=front.url))
        assert result.ok, result.error
        plain, templated = sorted(read_outbox(endpoint), key=lambda m: m.kind)
        assert result.variables["Id"] == plain.message_id
        assert result.variables["Id2"] == templated.message_id
        assert json.loads(templated.template_data) == {"n": plain.message_id}

    def test_templates(self, tmp_path: Path, front: SesProxy, endpoint: str) -> None:
        result = run_task(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="create_template" {CREDENTIALS} TEMPLATE="Welcome" '
            'SUBJECT="Hi {{name}}" TEXTBODY="Dear {{name}}" />\n'
            f'<AMAWSSES ACTIVITY="update_template" {CREDENTIALS} TEMPLATE="Welcome" '
            'SUBJECT="Hello {{name}}" TEXTBODY="Dear {{name}}" '
            'HTMLBODY="&lt;b&gt;{{name}}&lt;/b&gt;" />\n'
            f'<AMAWSSES ACTIVITY="list_templates" {CREDENTIALS} RESULTDATSET="All" />\n'
            f'<AMAWSSES ACTIVITY="get_template" {CREDENTIALS} TEMPLATE="Welcome" '
            'RESULTDATASET="One" />\n'
            f'<AMAWSSES ACTIVITY="test_render_template" {CREDENTIALS} TEMPLATE="Welcome" '
            'TEMPLATEDATA=\'{"name": "Bob"}\' RESULTVARIABLE="Preview" />\n'
            f'<AMAWSSES ACTIVITY="send_templated_email" {CREDENTIALS} FROM="{SENDER}" '
            'TO="bob@example.com" TEMPLATE="Welcome" TEMPLATEDATA=\'{"name": "Bob"}\' />\n'
            f'<AMAWSSES ACTIVITY="delete_template" {CREDENTIALS} TEMPLATE="Welcome" />\n'
            f'<AMAWSSES ACTIVITY="delete_template" {CREDENTIALS} TEMPLATE="Welcome" />\n',
        )
        assert result.exit_code == 0, result.output
        lines = step_lines(result)
        expected = [
            "    1  AMAWSSES create_template       template Welcome created",
            "    2  AMAWSSES update_template       template Welcome updated",
            "    3  AMAWSSES list_templates        1 templates -> All",
            "    4  AMAWSSES get_template          template Welcome -> One",
            '    5  AMAWSSES test_render_template  rendered: subject "Hello Bob"',
            "    7  AMAWSSES delete_template       template Welcome deleted",
            "    8  AMAWSSES delete_template       template Welcome did not exist",
        ]
        assert all(line in lines for line in expected), result.stdout
        assert "│ Welcome │ Hello {{name}} │ Dear {{name}} │ <b>{{name}}</b> │" in result.stdout
        [sent] = read_outbox(endpoint)
        assert sent.template == "Welcome"

    def test_raw_messages_from_a_file_and_a_variable(
        self, tmp_path: Path, front: SesProxy, endpoint: str
    ) -> None:
        (tmp_path / "m.eml").write_bytes(
            b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: From file\r\n\r\nhi\r\n"
        )
        result = run_task(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="send_raw_email" {CREDENTIALS} MESSAGEFILE="m.eml" />\n'
            f'<AMAWSSES ACTIVITY="create_template" {CREDENTIALS} TEMPLATE="R" SUBJECT="Rendered" '
            'TEXTBODY="x" />\n'
            f'<AMAWSSES ACTIVITY="test_render_template" {CREDENTIALS} TEMPLATE="R" '
            'RESULTVARIABLE="Raw" />\n'
            f'<AMAWSSES ACTIVITY="send_raw_email" {CREDENTIALS} MESSAGE="%Raw%" FROM="{SENDER}" '
            'TO="carol@example.com" />\n',
        )
        assert result.exit_code == 0, result.output
        sent = read_outbox(endpoint)
        assert [(m.subject, m.recipients) for m in sent] == [
            ("From file", ("bob@example.com",)),
            ("Rendered", ("carol@example.com",)),
        ]
        raw = [r for r in front.requests if r.action == "SendRawEmail"][1]
        assert raw.params["Source"] == SENDER

    def test_bulk_from_a_dataset_and_from_a_csv_file(
        self, tmp_path: Path, front: SesProxy, endpoint: str, ses_client: Any
    ) -> None:
        for name in ("bob", "carol"):
            ses_client.verify_email_identity(EmailAddress=f"{name}@example.com")
        (tmp_path / "people.csv").write_text("Mail;Name\ndave@example.com;Dave\nerin@x.com;Erin\n")
        ses_client.create_template(
            Template={"TemplateName": "Hi", "SubjectPart": "Hi {{Name}}", "TextPart": "x"}
        )
        result = run_task(
            tmp_path,
            front,
            f'<AMAWSSES ACTIVITY="create_session" SESSION="M" {CREDENTIALS} MAXERRORRETRY="5" />\n'
            '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="M" '
            'RESULTDATASET="Ids" />\n'
            '<AMAWSSES ACTIVITY="send_bulk_email" PROVIDER="session_based" SESSION="M" '
            f'FROM="{SENDER}" DATASET="Ids" TOFIELD="identity" SUBJECT="Plain" TEXTBODY="x" '
            'MAXSENDRATE="50" RESULTDATASET="Sent" />\n'
            '<AMAWSSES ACTIVITY="send_bulk_email" PROVIDER="session_based" SESSION="M" '
            f'FROM="{SENDER}" CSVFILE="people.csv" TOFIELD="Mail" DATAFIELDS="Name" TEMPLATE="Hi" '
            'MAXSENDRATE="50" RESULTDATSET="Sent2" />\n',
        )
        assert result.exit_code == 0, result.output
        lines = step_lines(result)
        assert any(
            line.startswith("    3  AMAWSSES send_bulk_email       3 of 3 sent at 50/s in ")
            and line.endswith(" -> Sent")
            for line in lines
        ), result.stdout
        assert "Sent2: 2 rows" in result.stdout
        sent = read_outbox(endpoint)
        plain = sorted(a for m in sent if m.kind == "SendEmail" for a in m.recipients)
        assert plain == ["alice@example.com", "bob@example.com", "carol@example.com"]
        bulk = {m.recipients[0]: json.loads(m.template_data) for m in sent if m.template}
        assert bulk == {"dave@example.com": {"Name": "Dave"}, "erin@x.com": {"Name": "Erin"}}

    def test_bulk_rows_that_fail_are_in_the_dataset_and_the_step_fails(
        self, tmp_path: Path, front: SesProxy
    ) -> None:
        """A partial send is not a success: exit 1, unless the task says to go on."""
        (tmp_path / "r.csv").write_text("To\nok@example.com\nnot-an-address\n")
        step = (
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" CSVFILE="r.csv" '
            'TEXTBODY="x" MAXSENDRATE="10" RESULTDATASET="R" {policy}/>\n'
        )
        result = run_task(tmp_path, front, step.format(policy=""))
        assert result.exit_code == 1, result.output
        assert "not every recipient was sent to: 1 of 2 sent at 10/s" in result.stderr
        assert ", 1 failed -> R" in result.stderr
        result = run_task(tmp_path, front, step.format(policy='AM_ONERROR="CONTINUE" '))
        assert result.exit_code == 0, result.output
        assert "│ 2   │ not-an-address │ InvalidAddress │" in result.stdout


class TestErrors:
    """The errors the issue lists, each one paragraph from ``amlses run``."""

    @pytest.mark.parametrize(
        ("step", "message"),
        [
            (
                'ACTIVITY="send_email" FROM="mallory@example.com" TO="b@x.com" TEXTBODY="x"',
                "AWS error MessageRejected from SendEmail: Email address not verified "
                "mallory@example.com. SES sends only from verified identities: verify "
                "mallory@example.com (or its domain)",
            ),
            (
                'ACTIVITY="send_email" FROM="alice@example.com" TO="{many}" TEXTBODY="x"',
                "The message has 51 recipients (To 51, Cc 0, Bcc 0) and SES accepts at most 50 "
                'per message; split the list, or use ACTIVITY="send_bulk_email"',
            ),
            (
                'ACTIVITY="send_templated_email" FROM="alice@example.com" TO="b@x.com" '
                'TEMPLATE="Nope"',
                "AWS error TemplateDoesNotExist from SendTemplatedEmail: Template (Nope) does not "
                'exist. There is no template named "Nope" in this account and region',
            ),
            (
                'ACTIVITY="send_templated_email" FROM="alice@example.com" TO="b@x.com" '
                "TEMPLATE=\"T\" TEMPLATEDATA='{name: Bob}'",
                "TEMPLATEDATA is not JSON: Expecting property name enclosed in double quotes at "
                "line 1 column 2 of '{name: Bob}'.",
            ),
            (
                'ACTIVITY="send_email" FROM="alice@example.com" TO="b@x.com" TEXTBODY="x" '
                'ATTACHMENTS="missing.pdf"',
                "The attachment {tmp}/missing.pdf does not exist; ATTACHMENTS takes file paths",
            ),
            (
                'ACTIVITY="send_email" FROM="alice@example.com" TO="b@x.com" TEXTBODY="x" '
                'ATTACHMENTS="big.bin"',
                "The attachments big.bin (9.0 MB) add up to 9.0 MB, about 12.3 MB once "
                "base64-encoded, and SES accepts at most 10.0 MB per message",
            ),
            (
                'ACTIVITY="send_email" FROM="alice@example.com" TO="" CC=" ; " TEXTBODY="x"',
                "The message has no recipients: give at least one address in TO, CC or BCC.",
            ),
            (
                'ACTIVITY="send_bulk_email" FROM="alice@example.com" CSVFILE="empty.csv" '
                'TEXTBODY="x" MAXSENDRATE="5" RESULTDATASET="R"',
                "The recipient list is empty: there is no row to send a message to.",
            ),
            (
                'ACTIVITY="send_email" FROM="alice@example.com" TO="b@x.com" TEXTBODY="x" '
                'SUBJECT="hi&#10;Bcc: evil@example.com" ATTACHMENTS="empty.csv"',
                "The subject holds a line break; a subject is one line.",
            ),
        ],
        ids=[
            "unverified-sender",
            "51-recipients",
            "missing-template",
            "templatedata-not-json",
            "attachment-missing",
            "attachment-too-large",
            "no-recipients",
            "empty-bulk-list",
            "subject-line-break",
        ],
    )
    def test_each_error_is_one_clear_paragraph(
        self, tmp_path: Path, front: SesProxy, step: str, message: str
    ) -> None:
        with (tmp_path / "big.bin").open("wb") as handle:
            handle.truncate(9 * 1024 * 1024)
        (tmp_path / "empty.csv").write_text("To\n")
        many = ";".join(f"u{i}@example.com" for i in range(51))
        step = step.replace("{many}", many)
        task = write_task(tmp_path, f"<AMAWSSES {step} {CREDENTIALS} />\n")
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1, result.output
        activity = step.split('"')[1]
        head = f'amlses: {task}:1: <AMAWSSES ACTIVITY="{activity}">: '
        expected = head + message.replace("{tmp}", str(tmp_path))
        lines = result.stderr.splitlines()
        assert any(line.startswith(expected) for line in lines), result.stderr
        # the step is echoed under the message, masked (then cut to the echo width)
        task_line = task.read_text().splitlines()[0]
        assert lines[-1] == "    " + echo_line(task_line, 1)
        assert 'SECRETKEY="****"' in mask_secret_attributes(task_line)
        assert SECRET not in result.output

    def test_a_used_up_daily_quota(self, tmp_path: Path, front: SesProxy) -> None:
        front.fail(action="SendEmail", message="Daily message quota exceeded.")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" {CREDENTIALS} MAXERRORRETRY="4" FROM="{SENDER}" '
            'TO="b@x.com" TEXTBODY="x" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1
        assert (
            f'amlses: {task}:1: <AMAWSSES ACTIVITY="send_email">: AWS error Throttling from '
            "SendEmail: Daily message quota exceeded. The account's daily sending quota "
            "(Max24HourSend) is used up, and SES refuses every message"
        ) in result.stderr
        assert front.count("SendEmail") == 1  # never retried

    def test_a_used_up_daily_quota_stops_a_bulk_send_before_it_starts(
        self, tmp_path: Path, front: SesProxy
    ) -> None:
        front.respond(
            "GetSendQuota", xml_fields(Max24HourSend=200, MaxSendRate=14, SentLast24Hours=200)
        )
        (tmp_path / "r.csv").write_text("To\na@example.com\n")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" CSVFILE="r.csv" '
            'TEXTBODY="x" RESULTDATASET="R" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1
        assert (
            f'amlses: {task}:1: <AMAWSSES ACTIVITY="send_bulk_email">: The account\'s daily '
            "sending quota is used up: SES reports 200 of 200 messages sent in the last 24 hours"
        ) in result.stderr
        assert front.count("SendEmail") == 0

    def test_bulk_needs_a_dataset_or_a_csv_file(self, tmp_path: Path, front: SesProxy) -> None:
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" TEXTBODY="x" '
            'RESULTDATASET="R" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1
        assert "give the rows as DATASET (a dataset from an earlier step) or CSVFILE" in (
            result.stderr
        )

    def test_an_unknown_to_field_lists_the_fields(self, tmp_path: Path, front: SesProxy) -> None:
        (tmp_path / "r.csv").write_text("Mail,Name\na@example.com,A\n")
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_bulk_email" {CREDENTIALS} FROM="{SENDER}" CSVFILE="r.csv" '
            'TEXTBODY="x" RESULTDATASET="R" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert (
            f'TOFIELD: "To" is not a field of CSV file {tmp_path / "r.csv"} (fields: Mail, Name)'
            in (result.stderr)
        )


class TestLocalRuns:
    def test_outbox_file_and_summary(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" FROM="{SENDER}" TO="bob@example.com" '
            'SUBJECT="Hello" TEXTBODY="x" />\n'
            f'<AMAWSSES ACTIVITY="send_email" FROM="carol@mail.example.org" '
            'TO="dave@example.com; erin@example.com" SUBJECT="Again" TEXTBODY="y" />\n',
        )
        out = tmp_path / "outbox.json"
        result = invoke(
            "run", str(task), "--local", "--fixture", str(FIXTURE), "--outbox", str(out)
        )
        assert result.exit_code == 0, result.output
        written = json.loads(out.read_text())
        assert [(m["From"], m["To"], m["Subject"]) for m in written] == [
            (SENDER, ["bob@example.com"], "Hello"),
            ("carol@mail.example.org", ["dave@example.com", "erin@example.com"], "Again"),
        ]
        lines = result.stdout.splitlines()
        start = lines.index("outbox: 2 message(s) accepted by the local emulator")
        assert lines[start + 1] == (
            f"  {written[0]['MessageId']}  {SENDER} -> bob@example.com: Hello"
        )
        assert lines[start + 2].endswith(
            "carol@mail.example.org -> dave@example.com, erin@example.com: Again"
        )

    def test_without_the_fixture_the_sender_is_not_verified(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="send_email" FROM="{SENDER}" TO="b@x.com" TEXTBODY="x" />\n',
        )
        result = invoke("run", str(task), "--local")
        assert result.exit_code == 1
        assert "In --local runs, list the sender in the --fixture file." in result.stderr

    def test_outbox_needs_local(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, '<AMAWSSES ACTIVITY="list_templates" RESULTDATASET="T" />\n')
        result = invoke("run", str(task), "--outbox", str(tmp_path / "o.json"))
        assert result.exit_code == 2
        assert result.stderr.startswith(
            "amlses: --outbox writes what the local emulator accepted: use it with --local"
        )

    @pytest.mark.parametrize(
        ("example", "messages"),
        [
            ("send-email.aml", 2),
            ("send-raw-email.aml", 2),
            ("send-templates.aml", 1),
            ("send-bulk.aml", 8),
        ],
    )
    def test_the_examples_run_locally(self, tmp_path: Path, example: str, messages: int) -> None:
        out = tmp_path / "outbox.json"
        path = EXAMPLES / example
        assert invoke("check", str(path)).exit_code == 0
        result = invoke(
            "run", str(path), "--local", "--fixture", str(FIXTURE), "--outbox", str(out)
        )
        assert result.exit_code == 0, result.output
        assert len(json.loads(out.read_text())) == messages


class TestCheck:
    def test_specs_drive_the_static_check(self, tmp_path: Path) -> None:
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="send_email" TO="b@x.com" SUBJCT="Hi" />\n'
            '<AMAWSSES ACTIVITY="send_bulk_email" FROM="a@x.com" CSVFILE="r.csv" '
            'MAXSENDRATE="fast" RESULTDATASET="R" />\n'
            '<AMAWSSES ACTIVITY="send_templated_email" FROM="a@x.com" TO="b@x.com" />\n',
        )
        result = invoke("check", str(task))
        assert result.exit_code == 2
        text = result.stderr
        assert "the required attribute FROM is missing" in text
        assert (
            'unknown attribute SUBJCT for <AMAWSSES ACTIVITY="send_email"> '
            '(did you mean "SUBJECT"?)' in text
        )
        assert 'MAXSENDRATE must be a whole number, not "fast"' in text
        assert "the required attribute TEMPLATE is missing" in text

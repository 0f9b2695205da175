"""The runner: dataset loops, ifs, host-based client reuse, session lifecycle.

Dataset loops and ifs run on the in-process fake SES (``tests/fakeses.py``), which records
every request in order; client reuse and the session lifecycle run against moto, since the
real :class:`~amlses.ses.ClientCache` is their point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amlses import api, runtime
from amlses.runtime import Context, RunOptions
from amlses.ses import ClientCache
from clitools import seed_identities as seed
from fakeses import FakeSes, run_fake

CREDS = 'ACCESSKEY="AKIARUNTIME000000001" SECRETKEY="runtime-secret-1"'


def deleted_in_order(tmp_path: Path, fake: FakeSes, loop: str) -> list[str]:
    """Run a loop deleting identities; return the order the deletions reached SES."""
    before = set(fake.identity_names())
    text = (
        f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
        f"{loop}\n"
        f'<AMAWSSES ACTIVITY="delete_identity" {CREDS} IDENTITY="%ids.Identity%" />\n'
        "</AMLOOP>\n"
    )
    run = run_fake(text, tmp_path, fake=fake)
    assert run.ok, run.error
    after = set(fake.identity_names())
    deleted = [str(params["Identity"]) for params in fake.requests("DeleteIdentity")]
    assert sorted(deleted) == sorted(before - after)
    return deleted


class TestDatasetLoop:
    @pytest.mark.parametrize(
        ("loop", "expected"),
        [
            ('<AMLOOP ACTIVITY="dataset" DATASET="ids" FROM="2" TO="3">', ["b.com", "c.com"]),
            ('<AMLOOP TYPE="DATASET" DATASET="ids" FROM="4">', ["d.com"]),
            (
                '<AMLOOP ACTIVITY="dataset" DATASET="ids" TO="0">',
                ["a.com", "b.com", "c.com", "d.com"],
            ),
        ],
    )
    def test_from_to(self, tmp_path: Path, loop: str, expected: list[str]) -> None:
        fake = FakeSes()
        fake.seed("a.com", "b.com", "c.com", "d.com")
        assert sorted(deleted_in_order(tmp_path, fake, loop)) == expected

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ('SORT="descending" SORTEDCOLUMN="Identity"', ["c.com", "b.com", "a.com"]),
            ('SORT="ascending" SORTEDCOLUMN="1"', ["a.com", "b.com", "c.com"]),
            ("", ["b.com", "a.com", "c.com"]),
        ],
    )
    def test_sort_sets_the_visiting_order(
        self, tmp_path: Path, sort: str, expected: list[str]
    ) -> None:
        fake = FakeSes()
        fake.seed("b.com", "a.com", "c.com")
        text = (
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
            f'<AMLOOP ACTIVITY="dataset" DATASET="ids" {sort}>\n'
            f'<AMAWSSES ACTIVITY="verify_identity" {CREDS} IDENTITY="%ids.Identity%" '
            'IDENTITYTYPE="domain" RESULTVARIABLE="token" />\n'
            "</AMLOOP>\n"
        )
        run = run_fake(text, tmp_path, fake=fake)
        assert run.ok, run.error
        visited = [params["Domain"] for params in fake.requests("VerifyDomainIdentity")]
        assert visited == expected
        assert isinstance(run.variables["token"], str) and run.variables["token"]

    def test_missing_dataset_is_a_step_error(self, tmp_path: Path) -> None:
        text = '<AMLOOP ACTIVITY="dataset" DATASET="%name%"></AMLOOP>'
        run = run_fake(text, tmp_path, name="t.aml", variables={"name": "ghost"})
        assert run.error is not None
        assert run.short(run.error.render()).startswith(
            't.aml:1: <AMLOOP ACTIVITY="dataset">: dataset "ghost" does not exist'
        )


class TestIf:
    @pytest.mark.parametrize(
        ("expression", "complex_", "taken"),
        [
            ("%n% = 3", False, "then"),
            ("%n% &gt; 10", False, "else"),
            ("n * 2 = 6 And word = &quot;it's&quot;", True, "then"),
            ("%word% = it's", False, "then"),
        ],
    )
    def test_branches(self, expression: str, complex_: bool, taken: str, tmp_path: Path) -> None:
        flag = ' USECOMPLEXUI="YES"' if complex_ else ""
        text = (
            f'<AMIF EXPRESSION="{expression}"{flag} />\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="then.example.com" />\n<AMELSE />\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="else.example.com" />\n'
            '<AMIF ACTIVITY="end" />\n'
        )
        fake = FakeSes()
        run = run_fake(text, tmp_path, fake=fake, variables={"n": 3, "word": "it's"})
        assert run.ok, run.error
        assert fake.identity_names() == [f"{taken}.example.com"]


class TestSessions:
    def test_host_based_steps_in_a_loop_share_one_client(
        self, endpoint: str, ses_client: Any, client_cache: ClientCache
    ) -> None:
        seed(ses_client, *(f"u{i}@example.com" for i in range(5)))
        text = (
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ids">\n'
            f'<AMAWSSES ACTIVITY="verify_identity" {CREDS} IDENTITY="%ids.Identity%" />\n'
            "</AMLOOP>\n"
        )
        result = api.run(
            text, "t.aml", options=RunOptions(endpoint_url=endpoint), cache=client_cache
        )
        assert result.ok, result.error
        assert len(client_cache) == 1

    def test_open_sessions_are_closed_when_the_task_ends(self, endpoint: str) -> None:
        task = api.parse('<AMAWSSES ACTIVITY="create_session" SESSION="left" />', "t.aml")
        context = Context(task, options=RunOptions(endpoint_url=endpoint))
        runtime.run(context)
        session = context.sessions.get("LEFT")  # names are case-insensitive
        assert not session.closed
        context.close()
        assert session.closed


class TestCloseCallbacks:
    def test_the_run_ends_what_handlers_opened_newest_first_even_after_a_failure(self) -> None:
        context = Context(api.parse("", "task.aml"))
        closed: list[str] = []

        def failing() -> None:
            closed.append("failing")
            raise OSError("the server went away")

        context.on_close(lambda: closed.append("first"))
        context.on_close(failing)
        context.on_close(lambda: closed.append("last"))
        context.close()
        assert closed == ["last", "failing", "first"]
        context.close()  # a second close runs nothing again
        assert closed == ["last", "failing", "first"]

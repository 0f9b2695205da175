"""The runner against moto: dataset loops, ifs, host-based client reuse, session lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from amlses import api
from amlses.parser import parse
from amlses.runtime import Context, RunOptions
from amlses.ses import ClientCache
from clitools import seed_identities as seed

CREDS = 'ACCESSKEY="AKIARUNTIME000000001" SECRETKEY="runtime-secret-1"'


def deleted_in_order(endpoint: str, ses_client: Any, loop: str, cache: ClientCache) -> list[str]:
    """Run a loop deleting identities; return the order the deletions reached SES."""
    before = set(ses_client.list_identities()["Identities"])
    text = (
        f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
        f"{loop}\n"
        f'<AMAWSSES ACTIVITY="delete_identity" {CREDS} IDENTITY="%ids.Identity%" />\n'
        "</AMLOOP>\n"
    )
    result = api.run(text, "t.aml", options=RunOptions(endpoint_url=endpoint), cache=cache)
    assert result.ok, result.error
    after = set(ses_client.list_identities()["Identities"])
    rows = result.datasets["ids"].records()
    return [r["Identity"] for r in rows if r["Identity"] in before - after]  # type: ignore[misc]


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
    def test_from_to(
        self,
        endpoint: str,
        ses_client: Any,
        client_cache: ClientCache,
        loop: str,
        expected: list[str],
    ) -> None:
        seed(ses_client, "a.com", "b.com", "c.com", "d.com")
        assert sorted(deleted_in_order(endpoint, ses_client, loop, client_cache)) == expected

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ('SORT="descending" SORTEDCOLUMN="Identity"', ["c.com", "b.com", "a.com"]),
            ('SORT="ascending" SORTEDCOLUMN="1"', ["a.com", "b.com", "c.com"]),
            ("", ["b.com", "a.com", "c.com"]),
        ],
    )
    def test_sort_sets_the_visiting_order(
        self,
        proxy: Any,
        ses_client: Any,
        client_cache: ClientCache,
        sort: str,
        expected: list[str],
    ) -> None:
        seed(ses_client, "b.com", "a.com", "c.com")
        front = proxy()
        text = (
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
            f'<AMLOOP ACTIVITY="dataset" DATASET="ids" {sort}>\n'
            f'<AMAWSSES ACTIVITY="verify_identity" {CREDS} IDENTITY="%ids.Identity%" '
            'IDENTITYTYPE="domain" RESULTVARIABLE="token" />\n'
            "</AMLOOP>\n"
        )
        result = api.run(
            text, "t.aml", options=RunOptions(endpoint_url=front.url), cache=client_cache
        )
        assert result.ok, result.error
        visited = [r.params["Domain"] for r in front.requests if r.action == "VerifyDomainIdentity"]
        assert visited == expected
        assert isinstance(result.variables["token"], str) and result.variables["token"]

    def test_missing_dataset_is_a_step_error(self, endpoint: str) -> None:
        text = '<AMLOOP ACTIVITY="dataset" DATASET="%name%"></AMLOOP>'
        result = api.run(
            text, "t.aml", options=RunOptions(endpoint_url=endpoint, variables={"name": "ghost"})
        )
        assert result.error is not None
        assert result.error.render().startswith(
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
    def test_branches(
        self,
        expression: str,
        complex_: bool,
        taken: str,
        endpoint: str,
        ses_client: Any,
        aws_credentials: Any,
    ) -> None:
        flag = ' USECOMPLEXUI="YES"' if complex_ else ""
        text = (
            f'<AMIF EXPRESSION="{expression}"{flag} />\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="then.example.com" />\n<AMELSE />\n'
            '<AMAWSSES ACTIVITY="verify_identity" IDENTITY="else.example.com" />\n'
            '<AMIF ACTIVITY="end" />\n'
        )
        result = api.run(
            text,
            "t.aml",
            options=RunOptions(endpoint_url=endpoint, variables={"n": 3, "word": "it's"}),
        )
        assert result.ok, result.error


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
        task = parse('<AMAWSSES ACTIVITY="create_session" SESSION="left" />', "t.aml")
        context = Context(task, options=RunOptions(endpoint_url=endpoint))
        context.runner.run()
        session = context.sessions.get("LEFT")  # names are case-insensitive
        assert not session.closed
        context.close()
        assert session.closed

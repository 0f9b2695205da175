"""The fake SES of ``tests/fakeses.py`` against moto: same calls, same answers, same errors.

Each comparison runs one script of SES calls on a :class:`FakeClient` and on a real boto3
client talking to moto over HTTP, and compares what came back, so that the language tests
that run on the fake cannot drift from what the moto-backed tests see.  Retries are compared
with amlses's own client (``ClientCache``) behind the fault-injecting proxy.  What moto does
not implement (paging) and the fake's own controls are tested on the fake alone.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from amlses import api
from amlses.errors import AwsError
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, Connection, SesSession
from fakeses import (
    FakeCache,
    FakeClient,
    FakeSes,
    ReportedStep,
    SentMessage,
    pages,
    run_fake,
)

CREDS = 'ACCESSKEY="AKIAFAKESESTEST00001" SECRETKEY="fake-ses-secret-1"'
Script = Callable[[Any], list[Any]]
REQUEST_ID = re.compile(r"\(request id [^)]+\)")


def answer(response: dict[str, Any]) -> dict[str, Any]:
    """A response without its ResponseMetadata (request ids and headers always differ)."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def outcome(call: Callable[[], dict[str, Any]]) -> Any:
    """A call's answer, or its error as ("error", Error, HTTP status, str(exception))."""
    try:
        return answer(call())
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        return ("error", error.response["Error"], status, str(error))


def on_both(script: Script, ses_client: Any) -> tuple[list[Any], list[Any]]:
    """``script`` on moto (through ``ses_client``) and on a fresh fake account."""
    return script(ses_client), script(FakeSes().client())


@pytest.fixture
def fake() -> FakeSes:
    return FakeSes()


class TestSameAsMoto:
    def test_identities(self, ses_client: Any) -> None:
        def script(client: Any) -> list[Any]:
            results = [
                outcome(lambda: client.list_identities()),
                outcome(lambda: client.verify_email_identity(EmailAddress="A@Example.com")),
                outcome(lambda: client.verify_email_identity(EmailAddress="Bob <bob@x.org>")),
                outcome(lambda: client.verify_email_identity(EmailAddress="A@Example.com")),
            ]
            token = client.verify_domain_identity(Domain="Example.COM")["VerificationToken"]
            results.append(("token", type(token), len(token), token.endswith("=")))
            results += [
                outcome(lambda: client.list_identities()),
                outcome(lambda: client.list_identities(IdentityType="Domain")),
                outcome(lambda: client.list_identities(IdentityType="EmailAddress")),
                outcome(lambda: client.list_identities(IdentityType="Bogus")),
                outcome(lambda: client.delete_identity(Identity="example.com")),
                outcome(lambda: client.delete_identity(Identity="nobody@nowhere.net")),
                outcome(lambda: client.list_identities(MaxItems=1000)),
            ]
            return results

        moto, fake = on_both(script, ses_client)
        assert fake == moto
        assert fake[5] == {"Identities": ["A@Example.com", "bob@x.org", "example.com"]}
        assert fake[8][1]["Code"] == "ValidationError"
        assert fake[-1] == {"Identities": ["A@Example.com", "bob@x.org"]}

    def test_sending_quota_and_statistics(self, ses_client: Any) -> None:
        message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}

        def script(client: Any) -> list[Any]:
            def send(source: str, *to: str) -> Any:
                destination = {"ToAddresses": list(to)}
                return outcome(
                    lambda: client.send_email(
                        Source=source, Destination=destination, Message=message
                    )
                )

            def raw(data: bytes, **params: Any) -> Any:
                return outcome(lambda: client.send_raw_email(RawMessage={"Data": data}, **params))

            def statistics() -> list[Any]:
                points: list[Any] = client.get_send_statistics()["SendDataPoints"]
                for point in points:
                    stamp = point.pop("Timestamp")
                    assert isinstance(stamp, datetime) and stamp.utcoffset() is not None
                return points

            results = [answer(client.get_send_quota()), statistics()]
            client.verify_email_identity(EmailAddress="ann@example.com")
            client.verify_domain_identity(Domain="example.org")
            results += [
                send("x@unverified.net", "a@b.com"),
                send("ann@example.com", "nodomain"),
                send("ann@example.com", *(f"r{i}@b.com" for i in range(51))),
                ("id", type(send("ann@example.com", "a@b.com", "c@d.com")["MessageId"])),
                ("id", type(send("Ann <any@example.org>", "a@b.com")["MessageId"])),
                raw(b"From: nobody@elsewhere.net\r\nTo: z@q.org\r\nSubject: s\r\n\r\nbody"),
                raw(b"To: z@q.org\r\nSubject: s\r\n\r\nbody"),
                raw(
                    b"Subject: s\r\n\r\nbody", Source="mallory@evil.test", Destinations=["z@q.org"]
                ),
                (
                    "id",
                    type(
                        raw(b"From: ann@example.com\r\nTo: z@q.org, y@q.org\r\n\r\nb")["MessageId"]
                    ),
                ),
                answer(client.get_send_quota()),
                statistics(),
            ]
            return results

        moto, fake = on_both(script, ses_client)
        assert fake == moto
        assert fake[0] == {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0}
        assert fake[2][1] == {
            "Type": "Sender",
            "Code": "MessageRejected",
            "Message": "Email address not verified x@unverified.net",
        }
        assert fake[-2]["SentLast24Hours"] == 5.0

    def test_templates(self, ses_client: Any) -> None:
        def script(client: Any) -> list[Any]:
            template = {"TemplateName": "t1", "SubjectPart": "Hi {{n}}", "TextPart": "x"}
            results = [
                outcome(lambda: client.get_template(TemplateName="t1")),
                outcome(lambda: client.create_template(Template=template)),
                outcome(lambda: client.create_template(Template=template)),
                outcome(lambda: client.get_template(TemplateName="t1")),
                outcome(
                    lambda: client.update_template(Template={**template, "TemplateName": "zz"})
                ),
                outcome(lambda: client.update_template(Template={**template, "HtmlPart": "<p>"})),
                outcome(lambda: client.get_template(TemplateName="t1")),
                outcome(lambda: client.create_template(Template={**template, "SubjectPart": ""})),
                outcome(
                    lambda: client.create_template(
                        Template={**template, "TemplateName": "t2", "SubjectPart": ""}
                    )
                ),
                outcome(lambda: client.update_template(Template={**template, "SubjectPart": ""})),
            ]
            listed = client.list_templates()["TemplatesMetadata"]
            results.append([(t["Name"], type(t["CreatedTimestamp"])) for t in listed])
            results.append(outcome(lambda: client.delete_template(TemplateName="t1")))
            results.append(outcome(lambda: client.list_templates()))
            return results

        moto, fake = on_both(script, ses_client)
        assert fake == moto
        assert fake[6] == {
            "Template": {
                "TemplateName": "t1",
                "SubjectPart": "Hi {{n}}",
                "TextPart": "x",
                "HtmlPart": "<p>",
            }
        }
        assert [result[1]["Code"] for result in (*fake[:1], fake[2], *fake[4:5], *fake[7:10])] == [
            "TemplateDoesNotExist",
            "AlreadyExists",
            "TemplateDoesNotExist",
            "AlreadyExists",
            "InvalidParameterValue",
            "InvalidParameterValue",
        ]

    @pytest.mark.parametrize(
        ("method", "params"),
        [
            ("verify_email_identity", {}),
            ("verify_email_identity", {"EmailAddress": 7}),
            ("list_identities", {"MaxItems": "10", "Bogus": 1}),
            ("send_email", {"Source": "a@b.c", "Destination": {"To": ["x"]}}),
        ],
    )
    def test_bad_parameters_fail_as_in_botocore(
        self, ses_client: Any, fake: FakeSes, method: str, params: dict[str, Any]
    ) -> None:
        with pytest.raises(ParamValidationError) as real:
            getattr(ses_client, method)(**params)
        with pytest.raises(ParamValidationError) as faked:
            getattr(fake.client(), method)(**params)
        assert str(faked.value) == str(real.value)
        assert fake.count() == 0  # refused before anything was "sent"

    def test_positional_arguments_are_refused_as_in_botocore(
        self, ses_client: Any, fake: FakeSes
    ) -> None:
        with pytest.raises(TypeError):
            ses_client.verify_email_identity("a@b.c")
        with pytest.raises(TypeError):
            fake.client().verify_email_identity("a@b.c")  # type: ignore[call-arg]

    def test_a_task_reads_the_same(
        self, endpoint: str, ses_client: Any, client_cache: ClientCache, tmp_path: Path
    ) -> None:
        text = (
            f'<AMAWSSES ACTIVITY="verify_identity" {CREDS} IDENTITY="ann@example.com" />\n'
            f'<AMAWSSES ACTIVITY="verify_identity" {CREDS} IDENTITY="Example.ORG" '
            'RESULTVARIABLE="token" />\n'
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="before" />\n'
            f'<AMAWSSES ACTIVITY="send_email" {CREDS} FROM="ann@example.com" '
            'TO="bob@example.net, carol@example.net" SUBJECT="s" TEXTBODY="t" '
            'RESULTVARIABLE="sent" />\n'
            f'<AMAWSSES ACTIVITY="send_email" {CREDS} FROM="eve@nowhere.test" TO="bob@example.net" '
            'SUBJECT="s" TEXTBODY="t" AM_ONERROR="CONTINUE" />\n'
            '<AMVARIABLE NAME="refused" VALUE="%AMError.ErrorNumber%: %AMError.ErrorDesc%" />\n'
            f'<AMAWSSES ACTIVITY="email_statistics" {CREDS} RESULTDATASET="quota" />\n'
            f'<AMAWSSES ACTIVITY="delete_identity" {CREDS} IDENTITY="example.org" />\n'
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="after" />\n'
        )

        def summary(result: api.RunResult) -> dict[str, Any]:
            variables = dict(result.variables)
            token, sent = variables.pop("token"), variables.pop("sent")
            variables["refused"] = REQUEST_ID.sub("(request id …)", str(variables["refused"]))
            return {
                "status": result.status,
                "failed": [
                    (e.position.line if e.position else 0, e.code) for e in result.failed_steps
                ],
                "variables": variables,
                "token": (type(token), len(str(token))),
                "sent": bool(sent) and isinstance(sent, str),
                "datasets": {
                    name: (d.columns, d.rows)
                    for name, d in result.datasets.items()
                    if name != "AMError"
                },
            }

        moto = api.run(text, "t.aml", options=RunOptions(endpoint_url=endpoint), cache=client_cache)
        fake = run_fake(text, tmp_path)
        assert summary(fake.result) == summary(moto)
        assert fake.failed == [(5, "MessageRejected")]
        assert fake.datasets["after"].rows == [("ann@example.com", "EmailAddress")]
        assert fake.datasets["quota"].rows == [(200.0, 1.0, 2.0)]
        assert str(fake.variables["refused"]).startswith(
            "MessageRejected: AWS error MessageRejected from SendEmail: Email address not "
            "verified eve@nowhere.test. SES sends only from verified identities"
        )


class TestRetriesAsInBotocore:
    """The fake retries what botocore's standard mode retries, as often as amlses allows."""

    @pytest.mark.parametrize(
        ("max_error_retry", "failures", "code", "status"),
        [
            (None, 1, "Throttling", 400),
            (None, 5, "Throttling", 400),
            (0, 1, "Throttling", 400),
            (3, 2, "ServiceUnavailable", 503),
            (None, 1, "RequestTimeout", 400),
            (None, 1, "MessageRejected", 400),
            (2, 1, "InvalidParameterValue", 400),
        ],
    )
    def test_attempts_and_error(
        self,
        proxy: Any,
        instant_retries: None,
        max_error_retry: int | None,
        failures: int,
        code: str,
        status: int,
    ) -> None:
        front = proxy()
        front.fail(failures, action="VerifyEmailIdentity", code=code, status=status, message="m")
        fake = FakeSes()
        fake.fail("VerifyEmailIdentity", code=code, message="m", times=failures, status=status)
        connection = Connection(
            access_key="AKIARETRYTEST0000001",
            secret_key="retry-secret",
            endpoint_url=front.url,
            max_error_retry=max_error_retry,
        )
        cache = ClientCache()
        try:
            real = self.attempt(cache.get(connection))
        finally:
            cache.close()
        faked = self.attempt(FakeCache(fake).get(connection))
        assert faked == real
        assert fake.count("VerifyEmailIdentity") == front.count("VerifyEmailIdentity")

    @staticmethod
    def attempt(client: Any) -> Any:
        try:
            client.verify_email_identity(EmailAddress="a@example.com")
        except ClientError as error:
            metadata = error.response["ResponseMetadata"]
            return (
                error.response["Error"]["Code"],
                error.response["Error"]["Message"],
                metadata["RetryAttempts"],
                metadata.get("MaxAttemptsReached", False),
                str(error),
            )
        return "ok"

    def test_client_meta_carries_amlses_retry_settings(self) -> None:
        cache = ClientCache()
        try:
            for retries in (None, 0, 4):
                connection = Connection(
                    access_key="AKIARETRYTEST0000001", secret_key="s", max_error_retry=retries
                )
                real = cache.get(connection).meta.config.retries
                faked = FakeCache().get(connection).meta.config.retries
                assert faked["total_max_attempts"] == real["total_max_attempts"]
                assert faked["mode"] == real["mode"] == "standard"
        finally:
            cache.close()


class TestFakeOnly:
    def test_list_identities_pages_like_ses(self, fake: FakeSes) -> None:
        fake.seed("a.com", "B.com", "c@x.org", "d.com", "e@y.org")
        client = fake.client()
        assert list(pages(client.list_identities, "Identities", MaxItems=2)) == [
            ["a.com", "b.com"],
            ["c@x.org", "d.com"],
            ["e@y.org"],
        ]
        assert list(pages(client.list_identities, "Identities", IdentityType="EmailAddress")) == [
            ["c@x.org", "e@y.org"]
        ]
        with pytest.raises(ClientError) as raised:
            client.list_identities(NextToken="not a token")
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"

    def test_amlses_reads_every_page(self, fake: FakeSes) -> None:
        fake.seed(*(f"u{i}@example.com" for i in range(2500)))
        with SesSession(Connection(), cache=FakeCache(fake)) as ses:
            identities = ses.list_identities()
        assert [i.identity for i in identities] == fake.identity_names()
        assert len(identities) == 2500 and identities[0].type == "EmailAddress"
        assert fake.count("ListIdentities") == 3  # 1000 a page, as amlses asks

    def test_fail_rules_count_down_and_match(self, fake: FakeSes) -> None:
        fake.fail(
            "VerifyEmailIdentity",
            code="MessageRejected",
            message="no",
            times=None,
            when=lambda params: params["EmailAddress"].startswith("bad"),
        )
        fake.fail("*", code="InvalidParameterValue", message="once", times=1)
        client = fake.client(Connection(max_error_retry=0))
        with pytest.raises(ClientError) as first:
            client.verify_domain_identity(Domain="example.com")
        assert first.value.response["Error"] == {
            "Type": "Sender",
            "Code": "InvalidParameterValue",
            "Message": "once",
        }
        assert str(first.value) == (
            "An error occurred (InvalidParameterValue) when calling the VerifyDomainIdentity "
            "operation (reached max retries: 0): once"
        )
        client.verify_domain_identity(Domain="example.com")
        client.verify_email_identity(EmailAddress="good@example.com")
        for _ in range(2):
            with pytest.raises(ClientError, match="MessageRejected"):
                client.verify_email_identity(EmailAddress="bad@example.com")
        assert fake.identity_names() == ["example.com", "good@example.com"]
        assert [(c.operation, c.error) for c in fake.calls] == [
            ("VerifyDomainIdentity", "InvalidParameterValue"),
            ("VerifyDomainIdentity", None),
            ("VerifyEmailIdentity", None),
            ("VerifyEmailIdentity", "MessageRejected"),
            ("VerifyEmailIdentity", "MessageRejected"),
        ]
        assert fake.requests("VerifyEmailIdentity")[-1] == {"EmailAddress": "bad@example.com"}

    def test_stall_holds_a_request_until_released(self, fake: FakeSes) -> None:
        fake.stall("VerifyEmailIdentity", 30)
        done = threading.Event()

        def verify() -> None:
            fake.client().verify_email_identity(EmailAddress="slow@example.com")
            done.set()

        worker = threading.Thread(target=verify, daemon=True)
        worker.start()
        assert not done.wait(0.05)
        assert fake.identity_names() == []
        fake.release()
        assert done.wait(5)
        assert fake.identity_names() == ["slow@example.com"]

    def test_cache_builds_one_client_per_connection(self, fake: FakeSes) -> None:
        cache = FakeCache(fake)
        one, two = Connection(region="eu-west-1"), Connection(max_error_retry=0)
        first = cache.get(one)
        assert isinstance(first, FakeClient)
        assert cache.get(Connection(region="eu-west-1")) is first
        assert cache.get(two) is not first
        assert cache.connections == [one, two] and len(cache) == 2
        assert first.meta.region_name == "eu-west-1"
        cache.close()
        assert first.closed and cache.closed and len(cache) == 0
        assert cache.get(one).fake is fake  # like ClientCache: usable again after close

    def test_sent_messages_are_recorded(self, fake: FakeSes) -> None:
        fake.seed("example.com")
        client = fake.client()
        message = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
        destination = {"ToAddresses": ["a@b.com"], "CcAddresses": ["c@d.com"]}
        response = client.send_email(
            Source="Ann <ann@example.com>", Destination=destination, Message=message
        )
        assert fake.sent == [
            SentMessage(
                response["MessageId"],
                "SendEmail",
                "Ann <ann@example.com>",
                ("a@b.com", "c@d.com"),
                {"Source": "Ann <ann@example.com>", "Destination": destination, "Message": message},
            )
        ]
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200

    def test_run_fake_records_the_run(self, tmp_path: Path, fake: FakeSes) -> None:
        fake.seed("b.com", "a.com")
        run = run_fake(
            f'<AMAWSSES ACTIVITY="list_identities" {CREDS} RESULTDATASET="ids" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ids">\n'
            '<AMSHOWDIALOG MESSAGE="%ids.Identity%" />\n</AMLOOP>\n'
            '<AMWAIT SCALAR="2" />\n<AMEVENTLOG MESSAGE="careful" TYPE="warning" />\n',
            tmp_path,
            fake=fake,
        )
        assert run.ok, run.error
        assert run.shown == ["b.com", "a.com"]
        assert run.warnings == ["careful"]
        assert run.slept == [2.0]
        assert run.reporter.datasets == [(1, "ids")]
        assert run.reporter.progress_calls == [(2, 1, 2), (2, 2, 2)]
        assert run.steps[0] == ReportedStep(1, "AMAWSSES", "list_identities", "2 identities -> ids")
        assert [s.line for s in run.steps] == [1, 2, 3, 3, 5, 6]
        [connection] = run.cache.connections
        assert connection.access_key == "AKIAFAKESESTEST00001"
        assert run.cache.closed

    def test_run_fake_renders_the_ending_error(self, tmp_path: Path) -> None:
        run = run_fake(
            '<AMAWSSES ACTIVITY="send_email" FROM="eve@nowhere.test" TO="b@example.net" '
            'SUBJECT="s" TEXTBODY="t" />\n',
            tmp_path,
        )
        assert isinstance(run.error, AwsError) and run.error.code == "MessageRejected"
        assert run.status == "failed"
        assert run.error_lines[0].startswith(
            'task.aml:1: <AMAWSSES ACTIVITY="send_email">: AWS error MessageRejected from '
            "SendEmail: Email address not verified eve@nowhere.test"
        )
        assert run.fake.rejected_count == 1 and run.fake.sent == []


def test_module_exports_what_tests_use() -> None:
    import fakeses

    missing = [name for name in fakeses.__all__ if not hasattr(fakeses, name)]
    assert missing == []

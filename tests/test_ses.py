"""amlses.ses against moto over HTTP; effects are checked with a plain boto3 client."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore import exceptions as bx
from botocore.parsers import ResponseParserError

from amlses.errors import AmlError, AwsError, SessionError, StepError
from amlses.ses import (
    AUTOMATE_CIPHERTEXT,
    ClientCache,
    Connection,
    Identity,
    SendDataPoint,
    SendQuota,
    SesSession,
    default_user_agent,
    is_automate_ciphertext,
    region_from_endpoint,
    resolve_secret,
    translate_errors,
)
from clitools import closed_port
from conftest import AwsFiles
from proxy import SesProxy, xml_fields

KEY_ID = "AKIAEXAMPLEKEY000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CIPHERTEXT = "AM3i6P77pVEBOw=aME"  # the seed's encrypted SECRETKEY

ProxyFactory = Callable[..., SesProxy]


def connect(endpoint: str, cache: ClientCache, **fields: Any) -> SesSession:
    """An SesSession on ``endpoint`` with plain test credentials unless overridden."""
    fields.setdefault("access_key", KEY_ID)
    fields.setdefault("secret_key", SECRET)
    return SesSession(endpoint_url=endpoint, cache=cache, **fields)


def signing_secret(client: Any) -> str:
    # botocore offers no public accessor for the credentials a client signs with.
    return str(client._request_signer._credentials.secret_key)


class TestConnection:
    def test_repr_hides_secrets(self) -> None:
        connection = Connection(
            access_key=KEY_ID,
            secret_key=SECRET,
            session_token="token-value-123",
            proxy_host="proxy",
            proxy_port=3128,
            proxy_user="bob",
            proxy_password="hunter22",
        )
        text = repr(connection)
        assert KEY_ID in text and "bob" in text
        for secret in (SECRET, "token-value-123", "hunter22"):
            assert secret not in text

    def test_equal_settings_are_one_key(self) -> None:
        a = Connection(access_key="A", secret_key="s", endpoint_url="", region="")
        b = Connection(access_key="A", secret_key="s")
        assert a == b and hash(a) == hash(b)
        assert a.endpoint_url is None and a.region is None

    def test_secrets_take_part_in_equality(self) -> None:
        assert Connection(access_key="A", secret_key="s1") != Connection(
            access_key="A", secret_key="s2"
        )

    @pytest.mark.parametrize(
        ("host", "port", "expected"),
        [
            ("proxy.local:3128", None, ("proxy.local", 3128)),
            ("proxy.local", 3128, ("proxy.local", 3128)),
            ("proxy.local:3128", 3128, ("proxy.local", 3128)),
            ("http://proxy.local:3128/", None, ("proxy.local", 3128)),
            ("[::1]:8080", None, ("::1", 8080)),
            ("proxy.local", None, ("proxy.local", None)),
        ],
    )
    def test_proxy_host_forms(
        self, host: str, port: int | None, expected: tuple[str, int | None]
    ) -> None:
        connection = Connection(proxy_host=host, proxy_port=port)
        assert (connection.proxy_host, connection.proxy_port) == expected

    def test_proxy_url_percent_encodes_user_and_password(self) -> None:
        connection = Connection(
            proxy_host="proxy",
            proxy_port=8080,
            proxy_user="dom\\me@x",
            proxy_password="p@ss:w/rd %",
        )
        assert connection.proxy_url() == "http://dom%5Cme%40x:p%40ss%3Aw%2Frd%20%25@proxy:8080"
        assert Connection(proxy_host="::1", proxy_port=1).proxy_url() == "http://[::1]:1"
        assert Connection().proxy_url() is None

    @pytest.mark.parametrize(
        ("fields", "fragment"),
        [
            ({"proxy_user": "bob"}, "without a proxy host"),
            ({"proxy_password": "hunter22"}, "without a proxy host"),
            ({"proxy_port": 3128}, "without a proxy host"),
            ({"proxy_host": "proxy", "proxy_port": 0}, "1 to 65535"),
            ({"proxy_host": "proxy", "proxy_port": 65536}, "1 to 65535"),
            ({"proxy_host": "proxy:70000"}, "1 to 65535"),
            ({"proxy_host": "proxy:http"}, "1 to 65535"),
            ({"proxy_host": "proxy:3128", "proxy_port": 8080}, "give the port once"),
            ({"proxy_host": "socks5://proxy:1080"}, "only plain http://"),
            ({"proxy_host": "proxy/path"}, "not a host name"),
            ({"proxy_host": "bob:hunter22@proxy:3128"}, "must not contain a user or password"),
            ({"proxy_host": "socks5://bob:hunter22@proxy"}, "must not contain a user or password"),
            ({"proxy_host": "proxy", "proxy_password": "hunter22"}, "without a proxy user"),
            (
                {"proxy_host": "proxy", "proxy_user": "bob", "proxy_password": CIPHERTEXT},
                "encrypted form",
            ),
            ({"endpoint_url": "email.us-east-1.amazonaws.com"}, "http:// or https://"),
            ({"endpoint_url": "ftp://host"}, "http:// or https://"),
            ({"max_error_retry": -1}, "0 or more"),
        ],
    )
    def test_invalid_settings_fail_on_construction(
        self, fields: dict[str, Any], fragment: str
    ) -> None:
        with pytest.raises(SessionError) as info:
            Connection(**fields)
        assert fragment in info.value.message
        assert "hunter22" not in str(info.value) and CIPHERTEXT not in str(info.value)

    def test_user_agent_default(self) -> None:
        assert Connection().user_agent_extra == default_user_agent() == "amlses/0.1.0"
        assert Connection(user_agent="Automate").user_agent_extra == "Automate"


class TestRegion:
    @pytest.mark.parametrize(
        ("url", "region"),
        [
            ("https://email.us-east-1.amazonaws.com", "us-east-1"),
            ("https://email.eu-west-2.amazonaws.com/", "eu-west-2"),
            ("https://EMAIL.AP-SOUTHEAST-2.AMAZONAWS.COM", "ap-southeast-2"),
            ("https://email-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
            ("https://email-smtp.us-east-1.amazonaws.com", None),
            ("https://vpce-123.email.us-east-1.vpce.amazonaws.com", None),
            ("http://127.0.0.1:5000", None),
        ],
    )
    def test_region_from_endpoint(self, url: str, region: str | None) -> None:
        assert region_from_endpoint(url) == region

    def test_endpoint_host_beats_explicit_region(self, client_cache: ClientCache) -> None:
        connection = Connection(
            access_key=KEY_ID,
            secret_key=SECRET,
            endpoint_url="https://email.eu-west-2.amazonaws.com",
            region="us-west-1",
        )
        assert client_cache.get(connection).meta.region_name == "eu-west-2"

    def test_other_host_uses_explicit_region(self, client_cache: ClientCache) -> None:
        connection = Connection(
            access_key=KEY_ID,
            secret_key=SECRET,
            endpoint_url="http://127.0.0.1:1",
            region="sa-east-1",
        )
        assert client_cache.get(connection).meta.region_name == "sa-east-1"

    def test_other_host_uses_environment_region(
        self, client_cache: ClientCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
        connection = Connection(access_key=KEY_ID, secret_key=SECRET, endpoint_url="http://h:1")
        assert client_cache.get(connection).meta.region_name == "ca-central-1"

    def test_other_host_uses_profile_region(
        self, client_cache: ClientCache, clean_environ: AwsFiles
    ) -> None:
        clean_environ.config.write_text("[default]\nregion = eu-north-1\n")
        connection = Connection(access_key=KEY_ID, secret_key=SECRET, endpoint_url="http://h:1")
        assert client_cache.get(connection).meta.region_name == "eu-north-1"

    def test_fallback_is_us_east_1(self, client_cache: ClientCache) -> None:
        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        assert client.meta.region_name == "us-east-1"
        assert client.meta.endpoint_url == "https://email.us-east-1.amazonaws.com"


class TestEndpointFromEnvironment:
    """botocore honours AWS_ENDPOINT_URL_SES and AWS_ENDPOINT_URL itself; amlses relies on it."""

    @pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL"])
    def test_variable_sets_endpoint(
        self,
        variable: str,
        endpoint: str,
        client_cache: ClientCache,
        ses_client: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(variable, endpoint)
        ses_client.verify_email_identity(EmailAddress="env@example.com")
        session = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        assert session.client.meta.endpoint_url == endpoint
        assert session.list_identities() == [Identity("env@example.com", "EmailAddress")]

    def test_service_variable_beats_global(
        self, endpoint: str, client_cache: ClientCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        monkeypatch.setenv("AWS_ENDPOINT_URL_SES", endpoint)
        session = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        assert session.client.meta.endpoint_url == endpoint


class TestRetryConfig:
    def test_max_error_retry_is_retries_after_the_first(self, client_cache: ClientCache) -> None:
        client = client_cache.get(
            Connection(access_key=KEY_ID, secret_key=SECRET, max_error_retry=4)
        )
        assert client.meta.config.retries == {"total_max_attempts": 5, "mode": "standard"}

    def test_default_is_standard_with_three_attempts(self, client_cache: ClientCache) -> None:
        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        assert client.meta.config.retries == {"total_max_attempts": 3, "mode": "standard"}

    def test_a_client_keeps_a_connection_for_every_bulk_worker(
        self, client_cache: ClientCache
    ) -> None:
        from amlses.mail.bulk_runner import _MAX_WORKERS

        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        assert client.meta.config.max_pool_connections == _MAX_WORKERS == 32

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            ("AWS_MAX_ATTEMPTS", "7", {"total_max_attempts": 7, "mode": None}),
            ("AWS_RETRY_MODE", "adaptive", {"mode": "adaptive"}),
        ],
    )
    def test_environment_settings_are_left_to_botocore(
        self,
        variable: str,
        value: str,
        expected: dict[str, Any],
        client_cache: ClientCache,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(variable, value)
        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        if expected.get("mode") is None:  # whatever this botocore release defaults to
            expected = {**expected, "mode": botocore_default_retry_mode()}
        assert client.meta.config.retries == expected

    def test_profile_settings_are_left_to_botocore(
        self, client_cache: ClientCache, clean_environ: AwsFiles
    ) -> None:
        clean_environ.config.write_text("[default]\nmax_attempts = 9\n")
        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        assert client.meta.config.retries["total_max_attempts"] == 9
        assert client.meta.config.retries["mode"] == botocore_default_retry_mode()

    def test_max_error_retry_beats_environment(
        self, client_cache: ClientCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
        client = client_cache.get(
            Connection(access_key=KEY_ID, secret_key=SECRET, max_error_retry=0)
        )
        assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}


def botocore_default_retry_mode() -> str:
    """The retry mode a plain boto3 client gets with no mode configured (differs by release)."""
    plain = boto3.client(
        "ses", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return str(plain.meta.config.retries["mode"])


@pytest.mark.usefixtures("instant_retries")
class TestRetriesOverHttp:
    def test_throttled_twice_succeeds_with_two_retries(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        server.fail(2, action="ListIdentities")
        session = connect(server.url, client_cache, max_error_retry=2)
        assert session.list_identities() == []
        assert server.count("ListIdentities") == 3

    def test_throttled_twice_fails_with_one_retry(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        server.fail(2, action="ListIdentities")
        session = connect(server.url, client_cache, max_error_retry=1)
        with pytest.raises(AwsError) as info:
            session.list_identities()
        assert info.value.code == "Throttling"
        assert info.value.aws_message == "Rate exceeded"
        assert info.value.operation == "ListIdentities"
        assert server.count("ListIdentities") == 2

    def test_zero_retries_means_one_attempt(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        server.fail(1, status=503, code="ServiceUnavailable", error_type="Receiver")
        with pytest.raises(AwsError) as info:
            connect(server.url, client_cache, max_error_retry=0).list_identities()
        assert info.value.code == "ServiceUnavailable"
        assert server.count() == 1

    def test_service_unavailable_is_retried_by_default(
        self, proxy: ProxyFactory, client_cache: ClientCache, ses_client: Any
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="a@example.com")
        server = proxy()
        server.fail(2, status=503, code="ServiceUnavailable", error_type="Receiver")
        session = connect(server.url, client_cache)
        assert session.list_identities() == [Identity("a@example.com", "EmailAddress")]
        assert server.count("ListIdentities") == 3

    def test_client_errors_are_not_retried(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        server.fail(1, code="InvalidParameterValue", message="bad")
        with pytest.raises(AwsError):
            connect(server.url, client_cache, max_error_retry=5).list_identities()
        assert server.count() == 1


class TestProxySettings:
    def test_config_proxies_both_schemes(self, client_cache: ClientCache) -> None:
        connection = Connection(
            access_key=KEY_ID,
            secret_key=SECRET,
            proxy_host="proxy.local:3128",
            proxy_user="bob",
            proxy_password="p@ss word",
        )
        url = "http://bob:p%40ss%20word@proxy.local:3128"
        assert client_cache.get(connection).meta.config.proxies == {"http": url, "https": url}

    def test_no_proxy_config_without_host(self, client_cache: ClientCache) -> None:
        client = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        assert client.meta.config.proxies is None

    def test_requests_go_through_the_proxy_with_credentials(
        self, endpoint: str, proxy: ProxyFactory, client_cache: ClientCache, ses_client: Any
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="via@example.com")
        server = proxy()
        password = "p@ss:w/rd %x"
        session = connect(
            endpoint,
            client_cache,
            proxy_host=server.host,
            proxy_port=server.port,
            proxy_user="bob@corp",
            proxy_password=password,
        )
        assert session.list_identities() == [Identity("via@example.com", "EmailAddress")]
        (request,) = server.requests
        assert request.via_proxy and request.origin == endpoint
        scheme, _, encoded = request.headers["proxy-authorization"].partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(encoded).decode() == f"bob@corp:{password}"

    def test_unreachable_proxy_is_a_proxy_error(
        self, endpoint: str, client_cache: ClientCache, instant_retries: None
    ) -> None:
        session = connect(
            endpoint,
            client_cache,
            max_error_retry=0,
            proxy_host=f"127.0.0.1:{closed_port()}",
            proxy_user="bob",
            proxy_password="hunter22",
        )
        with pytest.raises(AwsError) as info:
            session.list_identities()
        assert info.value.code == "ProxyError"
        assert "hunter22" not in str(info.value) and "bob" not in str(info.value)
        assert isinstance(info.value.__cause__, bx.ProxyConnectionError)


class TestUserAgent:
    def test_default_is_appended(self, proxy: ProxyFactory, client_cache: ClientCache) -> None:
        server = proxy()
        connect(server.url, client_cache).list_identities()
        agent = server.requests[0].headers["user-agent"]
        assert agent.startswith("Boto3/") and agent.endswith(" amlses/0.1.0")

    def test_given_value_is_appended_verbatim(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        connect(server.url, client_cache, user_agent="Automate/11 (task X)").list_identities()
        agent = server.requests[0].headers["user-agent"]
        assert agent.endswith(" Automate/11 (task X)") and "amlses/" not in agent


class TestSecrets:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (CIPHERTEXT, True),
            ("AMxaME", True),
            ("AMaME", False),
            (SECRET, False),
            ("AM3i6P77pVEBOw=aME\n", False),
            ("", False),
        ],
    )
    def test_ciphertext_form(self, value: str, expected: bool) -> None:
        assert is_automate_ciphertext(value) is expected

    def test_ciphertext_pattern_is_public(self) -> None:
        assert AUTOMATE_CIPHERTEXT.pattern == r"^AM.+aME$"
        assert AUTOMATE_CIPHERTEXT.match(CIPHERTEXT)

    def test_plain_secret_is_used_as_given(self) -> None:
        assert resolve_secret(KEY_ID, SECRET) == SECRET

    def test_ciphertext_resolved_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        assert resolve_secret(KEY_ID, CIPHERTEXT) == SECRET

    def test_environment_for_another_key_does_not_match(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHER")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other-secret-value")
        with pytest.raises(SessionError):
            resolve_secret(KEY_ID, CIPHERTEXT)

    def test_ciphertext_resolved_from_credentials_profile(self, clean_environ: AwsFiles) -> None:
        clean_environ.credentials.write_text(
            "[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = nope-nope\n"
            f"[work]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        )
        assert resolve_secret(KEY_ID, CIPHERTEXT) == SECRET

    def test_ciphertext_resolved_from_config_profile(self, clean_environ: AwsFiles) -> None:
        clean_environ.config.write_text(
            f"[profile ops]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        )
        assert resolve_secret(KEY_ID, CIPHERTEXT) == SECRET

    def test_empty_secret_is_looked_up_too(self, clean_environ: AwsFiles) -> None:
        clean_environ.credentials.write_text(
            f"[work]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        )
        assert resolve_secret(KEY_ID, "") == SECRET

    def test_unresolvable_ciphertext_explains_the_ways_out(self, clean_environ: AwsFiles) -> None:
        clean_environ.credentials.write_text(
            "[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other-secret\n"
        )
        with pytest.raises(SessionError) as info:
            resolve_secret(KEY_ID, CIPHERTEXT)
        text = str(info.value)
        assert f"access key {KEY_ID} is Automate-encrypted" in text
        assert "cannot be decrypted outside Automate" in text
        for way_out in (
            "plain secret key in the task",
            "AWS_SECRET_ACCESS_KEY",
            "~/.aws/credentials",
        ):
            assert way_out in text
        assert CIPHERTEXT not in text and "other-secret" not in text

    def test_broken_credentials_file_is_a_session_error(self, clean_environ: AwsFiles) -> None:
        clean_environ.credentials.write_text("this is [not an ini file\n")
        with pytest.raises(SessionError, match="cannot be read"):
            resolve_secret(KEY_ID, CIPHERTEXT)

    def test_client_signs_with_resolved_secret_and_token(
        self, endpoint: str, client_cache: ClientCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
        session = SesSession(
            access_key=KEY_ID, secret_key=CIPHERTEXT, endpoint_url=endpoint, cache=client_cache
        )
        assert session.list_identities() == []
        credentials = session.client._request_signer._credentials
        assert signing_secret(session.client) == SECRET
        assert credentials.token == "session-token-value"

    def test_unresolvable_ciphertext_fails_before_any_request(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        session = connect(server.url, client_cache, secret_key=CIPHERTEXT)
        with pytest.raises(SessionError, match="Automate-encrypted"):
            session.list_identities()
        assert server.count() == 0

    def test_empty_access_key_uses_default_chain(
        self, endpoint: str, client_cache: ClientCache, aws_credentials: dict[str, str]
    ) -> None:
        session = SesSession(endpoint_url=endpoint, cache=client_cache)
        assert session.list_identities() == []
        assert signing_secret(session.client) == aws_credentials["AWS_SECRET_ACCESS_KEY"]


class TestClientCache:
    def test_equal_connections_share_a_client(self, client_cache: ClientCache) -> None:
        a = Connection(access_key=KEY_ID, secret_key=SECRET, proxy_host="p:3128")
        b = Connection(access_key=KEY_ID, secret_key=SECRET, proxy_host="p", proxy_port=3128)
        assert client_cache.get(a) is client_cache.get(b)
        assert len(client_cache) == 1

    def test_different_connections_get_different_clients(self, client_cache: ClientCache) -> None:
        a = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET))
        b = client_cache.get(Connection(access_key=KEY_ID, secret_key=SECRET, max_error_retry=1))
        assert a is not b
        assert len(client_cache) == 2

    def test_sessions_share_the_cache(self, client_cache: ClientCache) -> None:
        first = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        second = SesSession(Connection(access_key=KEY_ID, secret_key=SECRET), cache=client_cache)
        assert first.client is second.client

    def test_concurrent_gets_build_one_client(self, client_cache: ClientCache) -> None:
        connection = Connection(access_key=KEY_ID, secret_key=SECRET)
        clients: list[Any] = []
        barrier = threading.Barrier(8)

        def get() -> None:
            barrier.wait()
            clients.append(client_cache.get(connection))

        threads = [threading.Thread(target=get) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(clients) == 8 and all(c is clients[0] for c in clients)

    def test_close_forgets_clients(self, client_cache: ClientCache) -> None:
        connection = Connection(access_key=KEY_ID, secret_key=SECRET)
        first = client_cache.get(connection)
        client_cache.close()
        assert len(client_cache) == 0
        assert client_cache.get(connection) is not first


class TestSesSession:
    def test_list_identities_types(
        self, endpoint: str, client_cache: ClientCache, ses_client: Any
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="alice@example.com")
        ses_client.verify_domain_identity(Domain="example.com")
        assert connect(endpoint, client_cache).list_identities() == [
            Identity("alice@example.com", "EmailAddress"),
            Identity("example.com", "Domain"),
        ]

    def test_list_identities_follows_every_page(
        self, proxy: ProxyFactory, client_cache: ClientCache, ses_client: Any
    ) -> None:
        names = [f"user{i}@example.com" for i in range(5)] + ["example.com", "example.org"]
        for name in names:
            if "@" in name:
                ses_client.verify_email_identity(EmailAddress=name)
            else:
                ses_client.verify_domain_identity(Domain=name)
        server = proxy()
        server.page_identities(3)
        identities = connect(server.url, client_cache).list_identities()
        assert [i.identity for i in identities] == names
        calls = [r for r in server.requests if r.action == "ListIdentities"]
        assert len(calls) == 3
        assert [c.params.get("NextToken") for c in calls] == [None, "3", "6"]
        assert {c.params["MaxItems"] for c in calls} == {"1000"}

    def test_repeated_next_token_stops(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        body = "<Identities><member>a.com</member></Identities><NextToken>same</NextToken>"
        server.respond("ListIdentities", body)
        with pytest.raises(AwsError, match="same NextToken twice"):
            connect(server.url, client_cache).list_identities()
        assert server.count() == 2

    def test_verify_email_returns_empty_string(
        self, endpoint: str, client_cache: ClientCache, ses_client: Any
    ) -> None:
        assert connect(endpoint, client_cache).verify_identity("bob@example.com") == ""
        assert ses_client.list_identities()["Identities"] == ["bob@example.com"]

    def test_verify_domain_returns_its_token(
        self, proxy: ProxyFactory, client_cache: ClientCache, ses_client: Any
    ) -> None:
        server = proxy()
        token = connect(server.url, client_cache).verify_identity("example.com")
        # moto answers with a fixed token (and a different one from
        # GetIdentityVerificationAttributes), so compare with what it answers a plain client.
        assert (
            token
            and token == ses_client.verify_domain_identity(Domain="x.com")["VerificationToken"]
        )
        assert ses_client.list_identities()["Identities"] == ["example.com", "x.com"]
        server.respond("VerifyDomainIdentity", xml_fields(VerificationToken="tok+/123="))
        assert connect(server.url, client_cache).verify_identity("example.org") == "tok+/123="

    @pytest.mark.parametrize(
        ("identity_type", "action"),
        [
            ("email", "VerifyEmailIdentity"),
            ("EmailAddress", "VerifyEmailIdentity"),
            ("EMAIL_ADDRESS", "VerifyEmailIdentity"),
            ("Domain", "VerifyDomainIdentity"),
            ("", "VerifyEmailIdentity"),
            (None, "VerifyEmailIdentity"),
        ],
    )
    def test_identity_type_selects_the_call(
        self,
        identity_type: str | None,
        action: str,
        proxy: ProxyFactory,
        client_cache: ClientCache,
    ) -> None:
        server = proxy()
        connect(server.url, client_cache).verify_identity("x@example.com", identity_type)
        assert server.actions() == [action]

    def test_unknown_identity_type_lists_accepted_values(self, client_cache: ClientCache) -> None:
        session = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        with pytest.raises(StepError) as info:
            session.verify_identity("x@example.com", "phone")
        assert not isinstance(info.value, SessionError | AwsError)
        for accepted in ("'phone'", "email", "emailaddress", "email_address", "domain"):
            assert accepted in info.value.message

    def test_empty_identity_is_a_step_error(self, client_cache: ClientCache) -> None:
        session = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        with pytest.raises(StepError, match="empty"):
            session.verify_identity("  ")
        with pytest.raises(StepError, match="empty"):
            session.delete_identity("")

    def test_delete_identity(
        self, endpoint: str, client_cache: ClientCache, ses_client: Any
    ) -> None:
        ses_client.verify_email_identity(EmailAddress="gone@example.com")
        ses_client.verify_email_identity(EmailAddress="kept@example.com")
        connect(endpoint, client_cache).delete_identity("gone@example.com")
        assert ses_client.list_identities()["Identities"] == ["kept@example.com"]

    def test_delete_missing_identity_succeeds(
        self, endpoint: str, client_cache: ClientCache
    ) -> None:
        connect(endpoint, client_cache).delete_identity("never@example.com")

    def test_email_statistics_from_moto(self, endpoint: str, client_cache: ClientCache) -> None:
        quota, points = connect(endpoint, client_cache).email_statistics()
        assert quota == SendQuota(200.0, 1.0, 0.0)
        assert all(type(value) is float for value in quota)
        assert SendQuota._fields == ("Max24HourSend", "MaxSendRate", "SentLast24Hours")
        assert all(isinstance(point, SendDataPoint) for point in points)

    def test_email_statistics_sorted_and_typed(
        self, proxy: ProxyFactory, client_cache: ClientCache
    ) -> None:
        server = proxy()
        server.respond(
            "GetSendQuota", xml_fields(Max24HourSend=-1, MaxSendRate=50, SentLast24Hours=12)
        )
        points = "".join(
            "<member>"
            + xml_fields(Timestamp=stamp, DeliveryAttempts=n, Bounces=1, Complaints=0, Rejects=2)
            + "</member>"
            for stamp, n in [
                ("2024-05-02T10:15:00Z", 2),
                ("2024-05-01T08:00:00Z", 1),
                ("2024-05-03T00:00:00Z", 3),
            ]
        )
        server.respond("GetSendStatistics", f"<SendDataPoints>{points}</SendDataPoints>")
        quota, data = connect(server.url, client_cache).email_statistics()
        assert quota == SendQuota(-1.0, 50.0, 12.0)
        assert [p.DeliveryAttempts for p in data] == [1, 2, 3]
        assert data[0] == SendDataPoint(datetime(2024, 5, 1, 8, 0, tzinfo=UTC), 1, 1, 0, 2)
        assert SendDataPoint._fields == (
            "Timestamp",
            "DeliveryAttempts",
            "Bounces",
            "Complaints",
            "Rejects",
        )

    def test_closed_session_refuses_work(self, client_cache: ClientCache) -> None:
        with SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache) as session:
            assert not session.closed
        assert session.closed
        with pytest.raises(SessionError, match="closed"):
            session.list_identities()

    def test_close_leaves_shared_client_usable(
        self, endpoint: str, client_cache: ClientCache
    ) -> None:
        first = connect(endpoint, client_cache)
        second = connect(endpoint, client_cache)
        first.close()
        assert second.list_identities() == []

    def test_fields_override_connection(self) -> None:
        base = Connection(access_key=KEY_ID, secret_key=SECRET, region="eu-west-1")
        session = SesSession(base, region="us-west-2")
        assert session.connection == Connection(
            access_key=KEY_ID, secret_key=SECRET, region="us-west-2"
        )
        assert SECRET not in repr(session)


class TestTranslateErrors:
    """Each botocore exception maps to one amlses error; ``__cause__`` keeps the original."""

    @staticmethod
    def client_error() -> bx.ClientError:
        response: Any = {
            "Error": {"Code": "MessageRejected", "Message": "Address not verified"},
            "ResponseMetadata": {"RequestId": "req-123"},
        }
        return bx.ClientError(response, "SendEmail")

    @pytest.mark.parametrize(
        ("make", "kind", "code", "fragment"),
        [
            (
                client_error,
                AwsError,
                "MessageRejected",
                "Address not verified (request id req-123)",
            ),
            (
                lambda: bx.EndpointConnectionError(endpoint_url="http://h:1/"),
                AwsError,
                "ConnectionError",
                "Could not connect to http://h:1/",
            ),
            (
                lambda: bx.ConnectionClosedError(endpoint_url="http://h:1/"),
                AwsError,
                "ConnectionError",
                "closed the connection",
            ),
            (
                lambda: bx.ReadTimeoutError(endpoint_url="http://h:1/"),
                AwsError,
                "Timeout",
                "http://h:1/ did not answer in time",
            ),
            (
                lambda: bx.ConnectTimeoutError(endpoint_url="http://h:1/"),
                AwsError,
                "Timeout",
                "Timed out connecting to http://h:1/",
            ),
            (
                lambda: bx.ProxyConnectionError(proxy_url="http://bob:hunter22@proxy:3128"),
                AwsError,
                "ProxyError",
                "through the proxy http://proxy:3128",
            ),
            (
                lambda: bx.SSLError(endpoint_url="https://h/", error="bad cert"),
                AwsError,
                "SSLError",
                "bad cert",
            ),
            (bx.NoCredentialsError, SessionError, "SessionError", "AWS_ACCESS_KEY_ID"),
            (
                lambda: bx.PartialCredentialsError(
                    provider="env", cred_var="AWS_SECRET_ACCESS_KEY"
                ),
                SessionError,
                "SessionError",
                "from env are incomplete: AWS_SECRET_ACCESS_KEY is missing",
            ),
            (
                lambda: bx.ProfileNotFound(profile="nope"),
                SessionError,
                "SessionError",
                "nope",
            ),
            (
                lambda: bx.ParamValidationError(report="Missing required parameter"),
                StepError,
                "StepError",
                "Invalid parameters for SendEmail",
            ),
            (
                lambda: ResponseParserError("Unable to parse response"),
                AwsError,
                "InvalidResponse",
                "is not an SES response",
            ),
        ],
    )
    def test_mapping(
        self, make: Callable[[], Exception], kind: type[AmlError], code: str, fragment: str
    ) -> None:
        original = make()
        with pytest.raises(AmlError) as info, translate_errors("SendEmail"):
            raise original
        assert type(info.value) is kind
        assert info.value.code == code
        assert fragment in info.value.message
        assert info.value.__cause__ is original
        assert "hunter22" not in info.value.message

    def test_aws_error_fields(self) -> None:
        with pytest.raises(AwsError) as info, translate_errors("SendEmail"):
            raise self.client_error()
        assert (info.value.aws_message, info.value.request_id, info.value.operation) == (
            "Address not verified",
            "req-123",
            "SendEmail",
        )

    def test_amlses_and_foreign_errors_pass_through(self) -> None:
        ours = SessionError("x")
        with pytest.raises(SessionError) as info, translate_errors("X"):
            raise ours
        assert info.value is ours
        with pytest.raises(KeyError), translate_errors("X"):
            raise KeyError("bug")

    def test_aws_error_over_http(self, proxy: ProxyFactory, client_cache: ClientCache) -> None:
        server = proxy()
        server.fail(code="InvalidParameterValue", message="Domain is invalid")
        with pytest.raises(AwsError) as info:
            connect(server.url, client_cache).verify_identity("bad..domain")
        error = info.value
        assert (error.code, error.aws_message, error.operation) == (
            "InvalidParameterValue",
            "Domain is invalid",
            "VerifyDomainIdentity",
        )
        assert error.request_id
        assert str(error) == (
            "AWS error InvalidParameterValue from VerifyDomainIdentity: Domain is invalid "
            f"(request id {error.request_id})"
        )

    def test_connection_refused(self, client_cache: ClientCache, instant_retries: None) -> None:
        url = f"http://127.0.0.1:{closed_port()}"
        with pytest.raises(AwsError) as info:
            connect(url, client_cache, max_error_retry=0).list_identities()
        assert info.value.code == "ConnectionError"
        assert f"Could not connect to {url}/" in info.value.message
        assert isinstance(info.value.__cause__, bx.EndpointConnectionError)

    def test_connection_dropped(self, proxy: ProxyFactory, client_cache: ClientCache) -> None:
        server = proxy()
        server.drop()
        with pytest.raises(AwsError) as info:
            connect(server.url, client_cache, max_error_retry=0).list_identities()
        assert info.value.code == "ConnectionError"
        assert isinstance(info.value.__cause__, bx.ConnectionClosedError)

    def test_no_credentials(self, endpoint: str, client_cache: ClientCache) -> None:
        with pytest.raises(SessionError) as info:
            SesSession(endpoint_url=endpoint, cache=client_cache).list_identities()
        assert "No AWS credentials were found" in info.value.message
        assert isinstance(info.value.__cause__, bx.NoCredentialsError)

    def test_missing_profile(
        self, client_cache: ClientCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_PROFILE", "missing")
        session = SesSession(access_key=KEY_ID, secret_key=SECRET, cache=client_cache)
        with pytest.raises(SessionError, match="missing"):
            session.list_identities()

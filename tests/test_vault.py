"""Secrets at rest: amlses:v1: tokens, where the key comes from, and tokens in a task run.

No test touches the real home directory or OS keyring: the autouse ``key_home`` fixture points
XDG_CONFIG_HOME and AMLSES_KEY_FILE into the test's tmp_path and gives keyring a backend that
holds nothing, or an in-memory one where a test asks for it.
"""

from __future__ import annotations

import base64
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from click.testing import CliRunner, Result
from keyring.backend import KeyringBackend
from keyring.backends import fail

from amlses import api, cli, vault
from amlses.errors import StepError
from amlses.redact import Redactor
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, Connection, SesSession
from amlses.vault import Key, Vault

KEY_ID = "AKIAVAULTTEST0000001"
SECRET = "Vault/Secret+Key=0123456789abcdefghijkl"


class MemoryKeyring(KeyringBackend):
    """An OS keyring stand-in that lives for one test."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture(autouse=True)
def key_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No key anywhere: a config directory in tmp_path, no AMLSES_KEY, an empty keyring."""
    monkeypatch.delenv(vault.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(vault.KEY_FILE_ENV, str(tmp_path / "keys" / "amlses.key"))
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield tmp_path / "keys" / "amlses.key"
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> Key:
    """A fresh key in AMLSES_KEY."""
    material = vault.generate_key()
    monkeypatch.setenv(vault.KEY_ENV, material.decode())
    return Key(material, vault.KEY_ENV)


def invoke(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli.cli, list(args), input=input)
    assert "Traceback" not in result.output
    return result


class TestTokens:
    def test_round_trip_keeps_any_text(self, env_key: Key) -> None:
        for secret in (SECRET, "pässwörd ✓", " spaces kept ", "x" * 5000):
            token = vault.encrypt(secret, env_key)
            assert token.startswith("amlses:v1:")
            assert secret not in token
            assert vault.decrypt(token, env_key) == secret

    def test_each_encryption_differs(self, env_key: Key) -> None:
        assert vault.encrypt(SECRET, env_key) != vault.encrypt(SECRET, env_key)

    def test_wrong_key_names_the_key_source_and_never_the_values(self, env_key: Key) -> None:
        token = vault.encrypt(SECRET, Key(vault.generate_key(), "elsewhere"))
        with pytest.raises(StepError) as info:
            vault.decrypt(token, env_key)
        message = info.value.message
        assert "cannot be decrypted with the key from AMLSES_KEY" in message
        assert "another key, or it was changed" in message
        assert SECRET not in message and token not in message

    def test_a_changed_character_fails_the_mac(self, env_key: Key) -> None:
        token = vault.encrypt(SECRET, env_key)
        middle = len(token) // 2
        changed = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
        with pytest.raises(StepError, match="another key, or it was changed"):
            vault.decrypt(changed, env_key)

    @pytest.mark.parametrize(
        "damage",
        [
            lambda t: t[:-21],  # cut short while copying (a MAC-sized cut fails the MAC)
            lambda t: t + "x",  # a stray character after the padding
            lambda t: t.replace("amlses:v1:", "amlses:v1:%%"),  # not base64
            lambda t: "amlses:v1:",  # nothing left
            lambda t: "amlses:v1:" + "QUJD",  # base64, but not a Fernet token
        ],
        ids=["truncated", "trailing", "not-base64", "empty", "not-fernet"],
    )
    def test_damaged_tokens_are_refused(self, env_key: Key, damage: Any) -> None:
        with pytest.raises(StepError, match="The token is damaged"):
            vault.decrypt(damage(vault.encrypt(SECRET, env_key)), env_key)

    def test_unknown_version_is_refused_not_used(self, env_key: Key) -> None:
        token = vault.encrypt(SECRET, env_key).replace("amlses:v1:", "amlses:v2:")
        with pytest.raises(StepError, match='format "v2", which this amlses cannot read'):
            vault.decrypt(token, env_key)
        assert vault.is_token(token)

    def test_is_token(self) -> None:
        assert vault.is_token("amlses:v1:abc") and vault.is_token("amlses:v9:")
        assert not vault.is_token(SECRET) and not vault.is_token("AM3i6P77pVEBOw=aME")
        assert not vault.is_token(None)


class TestKeyLookup:
    def test_nothing_found_lists_the_three_ways(self, key_home: Path) -> None:
        assert vault.find_key() is None
        with pytest.raises(StepError) as info:
            vault.load_key()
        message = info.value.message
        for way in ("set AMLSES_KEY", "amlses key init", "OS keyring", str(key_home)):
            assert way in message

    def test_environment_wins_over_file_and_keyring(
        self, env_key: Key, memory_keyring: MemoryKeyring
    ) -> None:
        vault.init_key_file()
        memory_keyring.set_password("amlses", "key", vault.generate_key().decode())
        assert vault.load_key() == env_key

    def test_key_file_wins_over_keyring(
        self, key_home: Path, memory_keyring: MemoryKeyring
    ) -> None:
        memory_keyring.set_password("amlses", "key", vault.generate_key().decode())
        vault.init_key_file()
        found = vault.load_key()
        assert found.source == f"the key file {key_home}"
        assert found.material == key_home.read_bytes().strip()

    def test_keyring_when_nothing_else(self, memory_keyring: MemoryKeyring) -> None:
        material = vault.generate_key()
        memory_keyring.set_password("amlses", "key", material.decode())
        found = vault.load_key()
        assert found.material == material
        assert found.source == "the OS keyring (MemoryKeyring)"

    def test_default_key_file_honours_xdg_config_home(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv(vault.KEY_FILE_ENV)
        assert vault.key_file_path() == tmp_path / "config" / "amlses" / "key"
        monkeypatch.delenv("XDG_CONFIG_HOME")
        assert vault.key_file_path() == Path.home() / ".config" / "amlses" / "key"

    def test_default_key_file_on_windows_is_in_appdata(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setattr(sys, "platform", "win32")
        path = vault.default_key_file({"APPDATA": str(tmp_path)})
        assert path == tmp_path / "amlses" / "key"

    def test_bad_environment_key_is_an_error_without_the_value(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(vault.KEY_ENV, "not-a-key-at-all")
        with pytest.raises(StepError) as info:
            vault.load_key()
        assert "from AMLSES_KEY is not a valid key" in info.value.message
        assert "not-a-key-at-all" not in info.value.message

    def test_key_file_readable_by_others_is_refused(self, key_home: Path) -> None:
        vault.init_key_file()
        key_home.chmod(0o644)
        with pytest.raises(StepError, match=r"can be read by other users \(mode 0644\)"):
            vault.load_key()


class TestKeyInit:
    def test_creates_a_private_file_in_a_private_directory(self, key_home: Path) -> None:
        path = vault.init_key_file()
        assert path == key_home
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        Key(path.read_bytes().strip(), "check")  # a valid key
        assert [p.name for p in path.parent.iterdir()] == ["amlses.key"]  # no temporary left

    def test_refuses_to_replace_a_key_unless_forced(self, key_home: Path) -> None:
        first = vault.init_key_file().read_bytes()
        with pytest.raises(StepError, match="already exists"):
            vault.init_key_file()
        assert key_home.read_bytes() == first
        vault.init_key_file(force=True)
        assert key_home.read_bytes() != first
        assert stat.S_IMODE(key_home.stat().st_mode) == 0o600

    def test_keyring_storage(self, memory_keyring: MemoryKeyring) -> None:
        assert vault.store_key_in_keyring() == "MemoryKeyring"
        with pytest.raises(StepError, match="already holds"):
            vault.store_key_in_keyring()
        assert vault.load_key().source == "the OS keyring (MemoryKeyring)"

    def test_keyring_without_a_backend_says_so(self) -> None:
        with pytest.raises(StepError, match="No OS keyring is available"):
            vault.store_key_in_keyring()


class TestVault:
    def test_reveal_passes_plain_values_and_never_loads_a_key_for_them(self) -> None:
        empty = Vault()
        assert empty.reveal(SECRET) == SECRET  # no key anywhere, and none needed
        assert "not loaded yet" in repr(empty)

    def test_reveal_decrypts_once_and_names_the_attribute_on_failure(self, env_key: Key) -> None:
        token = vault.encrypt(SECRET, env_key)
        given = Vault(env_key.material.decode())
        assert given.reveal(token, "SECRETKEY") == SECRET
        assert SECRET not in repr(given) and env_key.material.decode() not in repr(given)
        other = Vault(vault.generate_key())
        with pytest.raises(StepError, match="^SECRETKEY holds an amlses token: The token"):
            other.reveal(token, "SECRETKEY")

    def test_python_api_decrypts_tokens_in_a_connection(
        self, env_key: Key, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        connection = Connection(
            access_key=KEY_ID,
            secret_key=vault.encrypt(SECRET, env_key),
            session_token=vault.encrypt("api-session-token", env_key),
            endpoint_url=front.url,
        )
        SesSession(connection, cache=client_cache).list_identities()
        (request,) = front.requests
        assert KEY_ID in request.headers["authorization"]
        assert request.headers["x-amz-security-token"] == "api-session-token"


def _task(*steps: str) -> str:
    return "\n".join(steps) + "\n"


class TestRun:
    """Tokens in a task: decrypted before the first step, errors at the attribute."""

    def test_tokens_sign_and_reach_the_proxy_decrypted(
        self, env_key: Key, proxy: Any, endpoint: str, client_cache: ClientCache
    ) -> None:
        upstream_proxy = proxy()
        text = _task(
            f'<AMAWSSES ACTIVITY="create_session" SESSION="s" ACCESSKEY="{KEY_ID}" '
            f'SECRETKEY="{vault.encrypt(SECRET, env_key)}" '
            f'SESSIONTOKEN="{vault.encrypt("run-session-token", env_key)}" '
            f'PROXYHOST="127.0.0.1" PROXYPORT="{upstream_proxy.port}" PROXYUSER="proxy-user" '
            f'PROXYPWD="{vault.encrypt("proxy-pass-1", env_key)}" />',
            '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="s" '
            'RESULTDATASET="ids" />',
        )
        result = api.run(
            text, "t.aml", options=RunOptions(endpoint_url=endpoint), cache=client_cache
        )
        assert result.ok, result.error
        (request,) = upstream_proxy.requests
        assert request.via_proxy
        assert f"Credential={KEY_ID}/" in request.headers["authorization"]
        assert request.headers["x-amz-security-token"] == "run-session-token"
        basic = base64.b64encode(b"proxy-user:proxy-pass-1").decode()
        assert request.headers["proxy-authorization"] == f"Basic {basic}"

    def test_a_bad_token_fails_before_the_first_step(
        self, env_key: Key, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        other = vault.encrypt(SECRET, Key(vault.generate_key(), "another"))
        text = _task(
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="plain-secret" '
            'RESULTDATASET="ids" />',
            f'<AMAWSSES ACTIVITY="create_session" ACCESSKEY="{KEY_ID}"  PROXYHOST="h" '
            f'PROXYUSER="u" PROXYPWD="{other}" />',
        )
        redactor = Redactor()
        result = api.run(
            text,
            "t.aml",
            options=RunOptions(endpoint_url=front.url),
            cache=client_cache,
            redactor=redactor,
        )
        assert result.status == "failed"
        assert front.count() == 0  # the first step did not run either
        error = result.error
        assert error is not None
        column = text.splitlines()[1].index("PROXYPWD") + 1
        assert (error.position.line, error.position.column) == (2, column)  # type: ignore[union-attr]
        rendered = redactor(error.render())
        assert rendered.startswith(
            't.aml:2: <AMAWSSES ACTIVITY="create_session">: PROXYPWD holds an amlses token: The '
            "token cannot be decrypted with the key from AMLSES_KEY"
        )
        assert other not in rendered and 'PROXYPWD="****"' in rendered

    def test_without_any_key_the_error_says_how_to_get_one(
        self, proxy: Any, client_cache: ClientCache
    ) -> None:
        token = vault.encrypt(SECRET, Key(vault.generate_key(), "elsewhere"))
        text = _task(
            f'<AMAWSSES ACTIVITY="create_session" ACCESSKEY="{KEY_ID}" SECRETKEY="{token}" />'
        )
        result = api.run(text, "t.aml", cache=client_cache)
        assert result.error is not None
        assert "SECRETKEY holds an amlses token: No amlses key was found" in result.error.message
        assert "amlses key init" in result.error.message

    def test_a_token_from_a_variable_is_decrypted_by_its_step(
        self, env_key: Key, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        options = RunOptions(
            endpoint_url=front.url, variables={"secret": vault.encrypt(SECRET, env_key)}
        )
        text = _task(
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="%secret%" '
            'RESULTDATASET="ids" />'
        )
        redactor = Redactor()
        result = api.run(text, "t.aml", options=options, cache=client_cache, redactor=redactor)
        assert result.ok, result.error
        assert redactor(f"x {SECRET} y") == "x **** y"  # registered once decrypted

    def test_a_bad_token_from_a_variable_fails_its_step(
        self, env_key: Key, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        options = RunOptions(endpoint_url=front.url, variables={"secret": "amlses:v1:broken"})
        text = _task(
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" SECRETKEY="%secret%" '
            'RESULTDATASET="ids" />'
        )
        result = api.run(text, "t.aml", options=options, cache=client_cache)
        assert result.error is not None and result.error.position is not None
        assert result.error.position.line == 1
        assert result.error.message.startswith(
            "SECRETKEY holds an amlses token: The token is damaged"
        )
        assert front.count() == 0


class TestCli:
    def test_encrypt_from_stdin_then_run_the_pasted_token(
        self, env_key: Key, tmp_path: Path, proxy: Any
    ) -> None:
        result = invoke("encrypt", "--as", "secretkey", input=SECRET + "\n")
        assert result.exit_code == 0, result.output
        pasted = result.stdout.strip()
        assert pasted.startswith('SECRETKEY="amlses:v1:') and SECRET not in result.output
        task = tmp_path / "task.aml"
        task.write_text(
            f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY_ID}" {pasted} '
            'RESULTDATASET="ids" />\n'
        )
        front = proxy()
        run = invoke("run", str(task), "--endpoint-url", front.url)
        assert run.exit_code == 0, run.output
        assert front.count("ListIdentities") == 1
        assert SECRET not in run.output

    def test_encrypt_prompts_without_echo_on_a_terminal(
        self, env_key: Key, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
        result = invoke("encrypt", input=f"{SECRET}\n{SECRET}\n")
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        assert "Secret to encrypt" in result.stderr
        token = result.stdout.strip()
        assert vault.decrypt(token, env_key) == SECRET

    def test_encrypt_refuses_an_empty_secret_and_a_missing_key(self) -> None:
        assert invoke("encrypt", input="\n").exit_code == 2
        result = invoke("encrypt", input="x\n")
        assert result.exit_code == 1
        assert result.stderr.startswith("amlses: No amlses key was found")

    def test_decrypt_only_behind_the_flag(self, env_key: Key) -> None:
        token = vault.encrypt(SECRET, env_key)
        refused = invoke("decrypt", token)
        assert refused.exit_code == 2 and SECRET not in refused.output
        assert "--i-know-this-prints-the-secret" in refused.stderr
        shown = invoke("decrypt", "--i-know-this-prints-the-secret", input=token)
        assert shown.exit_code == 0 and shown.stdout == SECRET + "\n"
        bad = invoke("decrypt", "--i-know-this-prints-the-secret", "plain-text")
        assert bad.exit_code == 2

    def test_key_init_and_status(self, key_home: Path) -> None:
        assert invoke("key", "status").exit_code == 1
        created = invoke("key", "init")
        assert created.exit_code == 0, created.output
        assert created.stdout == f"created a new amlses key in {key_home} (mode 0600)\n"
        assert key_home.read_text().strip() not in created.output
        status = invoke("key", "status")
        assert status.stdout == f"key from the key file {key_home}\n"
        assert invoke("key", "init").exit_code == 1  # never replaced silently
        assert invoke("key", "init", "--force").exit_code == 0

    def test_key_init_in_the_keyring_warns_when_shadowed(
        self, memory_keyring: MemoryKeyring, env_key: Key
    ) -> None:
        result = invoke("key", "init", "--keyring")
        assert result.exit_code == 0, result.output
        assert "the OS keyring (MemoryKeyring)" in result.stdout
        assert "AMLSES_KEY is set and is used instead" in result.stderr
        assert memory_keyring.values[("amlses", "key")] not in result.output

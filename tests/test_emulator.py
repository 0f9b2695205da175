"""amlses.emulator: moto on 127.0.0.1, seeded from fixtures, quiet; a clear error without moto."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from amlses.emulator import LocalEmulator, load_fixture, quiet_werkzeug
from amlses.errors import UsageError
from amlses.ses import ClientCache, Identity, SesSession

EXAMPLE = Path(__file__).parent.parent / "examples" / "identities.json"


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[LocalEmulator]:
    """One emulator for the module: stopping one costs werkzeug's 0.5 s poll interval."""
    with LocalEmulator() as running:
        yield running


@pytest.fixture
def emulator(shared_emulator: LocalEmulator) -> LocalEmulator:
    """The module's emulator, emptied for this test."""
    shared_emulator.reset()
    return shared_emulator


class TestLifecycle:
    def test_listens_on_loopback_with_a_random_port(self, emulator: LocalEmulator) -> None:
        parts = urlsplit(emulator.endpoint_url)
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1"
        assert parts.port and parts.port > 0
        assert emulator.running

    def test_starts_empty_and_reset_empties(self, emulator: LocalEmulator) -> None:
        emulator.seed({"identities": ["a@example.com"]})
        with LocalEmulator() as other:
            assert other.endpoint_url != emulator.endpoint_url
            # moto's state is per process, so starting `other` emptied `emulator` as well.
            assert emulator.client().list_identities()["Identities"] == []
            other.seed({"identities": ["b@example.com"]})
            assert emulator.client().list_identities()["Identities"] == ["b@example.com"]
        emulator.reset()
        assert emulator.client().list_identities()["Identities"] == []

    def test_stop_is_idempotent_and_forgets_the_endpoint(self) -> None:
        emulator = LocalEmulator().start()
        emulator.stop()
        emulator.stop()
        assert not emulator.running
        with pytest.raises(UsageError, match="not been started"):
            _ = emulator.endpoint_url

    def test_missing_moto_explains_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "moto.server", None)  # makes the import fail
        with pytest.raises(UsageError) as info:
            LocalEmulator().start()
        assert "pip install 'amlses[local]'" in info.value.message
        assert isinstance(info.value.__cause__, ImportError)


class TestSeed:
    def test_seed_from_mapping(self, emulator: LocalEmulator) -> None:
        seeded = emulator.seed({"identities": ["a@example.com", "example.com"]})
        assert seeded == ["a@example.com", "example.com"]
        client = emulator.client()
        assert client.list_identities(IdentityType="EmailAddress")["Identities"] == [
            "a@example.com"
        ]
        assert client.list_identities(IdentityType="Domain")["Identities"] == ["example.com"]

    def test_seed_from_the_shipped_example(self, emulator: LocalEmulator) -> None:
        expected = json.loads(EXAMPLE.read_text())["identities"]
        assert {"alice@example.com", "bob@example.com", "example.com"} <= set(expected)
        emulator.seed(EXAMPLE)
        assert emulator.client().list_identities()["Identities"] == expected

    def test_amlses_session_sees_seeded_identities(
        self, emulator: LocalEmulator, client_cache: ClientCache, aws_credentials: object
    ) -> None:
        emulator.seed({"identities": ["alice@example.com", "mail.example.org"]})
        session = SesSession(endpoint_url=emulator.endpoint_url, cache=client_cache)
        assert session.list_identities() == [
            Identity("alice@example.com", "EmailAddress"),
            Identity("mail.example.org", "Domain"),
        ]

    @pytest.mark.parametrize(
        ("content", "fragment"),
        [
            ("{not json", "cannot be read as JSON"),
            ("[1, 2]", "must be a JSON object"),
            ('{"identities": "a@example.com"}', "must be a list"),
            ('{"identities": [""]}', "must be a list"),
        ],
    )
    def test_bad_fixture_files(self, tmp_path: Path, content: str, fragment: str) -> None:
        path = tmp_path / "fixture.json"
        path.write_text(content)
        with pytest.raises(UsageError) as info:
            load_fixture(path)
        assert fragment in info.value.message and str(path) in info.value.message

    def test_missing_fixture_file(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="cannot be read"):
            load_fixture(tmp_path / "absent.json")

    def test_empty_mapping_seeds_nothing(self, emulator: LocalEmulator) -> None:
        assert emulator.seed({}) == []


class TestQuiet:
    def test_request_lines_are_not_logged(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        logger = logging.getLogger("werkzeug")
        monkeypatch.setattr(logger, "level", logging.NOTSET)
        with LocalEmulator() as emulator:
            emulator.seed({"identities": ["a@example.com"]})
        captured = capfd.readouterr()
        assert "POST /" not in captured.err + captured.out
        assert "MotoServer" not in captured.out
        assert logger.level == logging.WARNING

    def test_a_configured_level_is_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        logger = logging.getLogger("werkzeug")
        monkeypatch.setattr(logger, "level", logging.DEBUG)
        quiet_werkzeug()
        assert logger.level == logging.DEBUG

"""The documented Python snippets run verbatim against ``amlses emulator``.

Each ```` ```python ```` block of the snippet source runs in a fresh interpreter, from the
repository's root, against its own ``amlses emulator --fixture examples/identities.json``
(one server per block, so no block depends on what another left behind), with exactly the
environment the command prints in its ``export`` lines and no other AWS setting: what a reader
who pastes those lines gets.

The snippets live in README.md.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from test_emulator_command import FIXTURE, exported, start_server

ROOT = Path(__file__).parent.parent
#: where the snippets are read from
SOURCE = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets() -> list[str]:
    return _BLOCK.findall(SOURCE.read_text(encoding="utf-8"))


def test_the_source_has_snippets() -> None:
    assert len(snippets()) >= 4


@pytest.mark.parametrize(
    "snippet", snippets(), ids=[f"block-{n}" for n in range(1, len(snippets()) + 1)]
)
def test_snippet_runs_verbatim(snippet: str, tmp_path: Path) -> None:
    server = start_server("--fixture", str(FIXTURE))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(exported(server.banner))
        # no ~/.aws and no instance metadata: only what the command printed
        env.update(
            AWS_CONFIG_FILE=str(tmp_path / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        result = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        code, _, err = server.stop(signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and "Traceback" not in result.stderr
    assert (code, err) == (143, "emulator stopped\n")

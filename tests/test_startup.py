"""What start-up imports: ``amlses --help`` and ``amlses check`` stay free of the heavy modules.

A ``sys.modules`` check in a fresh interpreter, not a timing assert: timings depend on the
machine, an import does not.  ``bench/startup.py`` measures the time.  Each forbidden module
is there because it once crept in: boto3/botocore (~150–250 ms, needed only to build a client),
moto (the emulator), rich (tables of a run), and ``email``/``http.client``/``urllib.request``/
``xml.sax``, which ``xml.sax.saxutils`` pulled into every command through :mod:`amlses.redact`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[1] / "examples" / "seed-verify.aml"

#: modules neither ``amlses --help`` nor ``amlses check`` may import (or any of their submodules)
HEAVY = (
    "boto3",
    "botocore",
    "s3transfer",
    "moto",
    "rich",
    "email",
    "http.client",
    "urllib.request",
    "xml.sax",
)

_PROBE = """
import contextlib, io, json, sys
heavy = json.loads(sys.argv[1])
def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
# What the interpreter itself loaded before amlses (site, .pth files) is not amlses's doing.
before = set(loaded())
from amlses.cli import main
sys.argv = ["amlses", *sys.argv[2:]]
code = None
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main()
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "heavy": [m for m in loaded() if m not in before]}))
"""


def _heavy_after(*argv: str) -> tuple[object, list[str]]:
    """(exit code, heavy modules loaded) of ``amlses ARGV`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], result["heavy"]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["check", "--help"]])
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    code, heavy = _heavy_after(*argv)
    assert code == 0
    assert heavy == []


def test_check_imports_no_heavy_module() -> None:
    """``amlses check`` on the sample task: parsing, the static check, the report."""
    code, heavy = _heavy_after("check", str(SEED))
    assert code == 0
    assert heavy == []


def test_importing_the_cli_and_redaction_loads_no_heavy_module() -> None:
    """The modules every command imports, and a redactor that has registered a secret (its
    URL, base64 and XML forms) — the path that used to import ``xml.sax.saxutils``."""
    code = (
        "import json, sys\n"
        "heavy = json.loads(sys.argv[1])\n"
        "before = {m for m in sys.modules}\n"
        "import amlses.cli, amlses.redact\n"
        "r = amlses.redact.Redactor(); r.add('s3cr<e>t&\"x\"'); r('s3cr&lt;e&gt;t&amp;&quot;x')\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before\n"
        "    if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == []


def test_building_a_client_imports_botocore_but_not_boto3() -> None:
    """Clients come from botocore's session: boto3 would bring s3transfer and its resource
    layer to every run.  The User-Agent still starts like boto3's (tests/test_ses.py)."""
    code = (
        "import sys\n"
        "from amlses.aws.clients import ClientCache\n"
        "from amlses.aws.connection import Connection\n"
        "client = ClientCache().get(Connection(access_key='AKIAEXAMPLE000000001',\n"
        "    secret_key='example-secret', endpoint_url='http://127.0.0.1:9'))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 's3transfer'}),\n"
        "    'botocore' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["[]", "True"]

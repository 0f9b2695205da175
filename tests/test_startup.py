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


_GC_PROBE = """
import gc, json, sys
import amlses.api
seen = {}
def spy(name, function):
    def wrapper(*args, **kwargs):
        seen[name] = {
            "collecting": gc.isenabled(),
            "frozen": gc.get_freeze_count(),
            "botocore": "botocore.session" in sys.modules,
        }
        return function(*args, **kwargs)
    setattr(amlses.api, name, wrapper)
spy("prepare", amlses.api.prepare)
spy("run", amlses.api.run)
from amlses.cli import main
sys.argv = ["amlses", "run", sys.argv[1], "-q"]
try:
    main()
except SystemExit as exit:
    seen["code"] = exit.code
seen["after"] = gc.isenabled()
seen["unfrozen"] = len(gc.get_objects())  # what the exit's collection would still walk
print(json.dumps(seen))
"""


@pytest.mark.parametrize("ses", [True, False], ids=["with-ses-steps", "without"])
def test_start_up_pauses_the_collector_and_the_task_runs_with_it(tmp_path: Path, ses: bool) -> None:
    """The command's process checks the task with the collector off, then freezes start-up's
    objects (botocore's among them when the task has SES steps) and runs the task with the
    collector on; at its exit it freezes everything (amlses.startup)."""
    steps = '<AMAWSSES ACTIVITY="create_session" SESSION="S" />\n' if ses else ""
    task = tmp_path / "task.aml"
    task.write_text(
        '<AMVARIABLE NAME="x" VALUE="1" />\n'
        f'<AMIF EXPRESSION="%x% = 2">\n{steps}<AMSHOWDIALOG MESSAGE="never" />\n</AMIF>\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, str(task)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["prepare"]["collecting"] is False
    assert seen["run"]["collecting"] is True and seen["run"]["frozen"] > 10_000
    assert seen["run"]["botocore"] is ses
    assert seen["after"] is True
    assert seen["unfrozen"] < 1000  # exiting() froze the rest: the exit walks nothing


def test_a_program_that_embeds_the_cli_keeps_its_collector(tmp_path: Path) -> None:
    """Only the amlses command's own process pauses and freezes: not a caller of ``cli``."""
    import gc

    from clitools import invoke

    task = tmp_path / "task.aml"
    task.write_text('<AMVARIABLE NAME="x" VALUE="1" />\n')
    frozen = gc.get_freeze_count()
    result = invoke("run", str(task), "-q")
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen

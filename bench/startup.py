"""How long does amlses take to start, compared with what it competes with?

Whole processes, timed from the outside, against baselines measured in the same run:

* ``amlses --help`` against a bare interpreter (``python -c pass``); goal: at most
  3 x bare + 50 ms.  What this measures is amlses's own import path (click, the foundation
  modules): the interpreter's start-up (``site`` and its ``.pth`` files) is in both.
* ``amlses run examples/seed-verify.aml --endpoint-url URL`` against a plain boto3 script
  making the same calls (ListIdentities, then VerifyEmailIdentity for each address) with the
  client amlses would build (standard retries, 3 attempts, amlses's User-Agent); goal <= 1.0.
  ``--quiet`` (no step lines, no tables) is shown for reference.
* ``amlses run … --local --fixture examples/identities.json`` against the same run with
  ``--endpoint-url``: what starting the emulator costs; goal <= 0.5 s.

The endpoint is moto's SES, seeded with ``examples/identities.json``, in a child process (as in
bench/overhead.py: in the measured processes it would not be, and it must not compete with
them for the GIL).  The seed's secret is Automate-encrypted, so amlses looks it up by access key
id; the children get that key in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and empty AWS
config files, so nothing of the machine's AWS setup takes part.  amlses is started the way its
console script starts it (``from amlses.cli import main``), without the launcher a version
manager may put in front (pyenv's shim alone costs ~150 ms).

Rounds alternate between the variants (rotating their order, so none always follows the same
one) and the median of each is used: a slow moment of the machine hits all of them alike.  The
goals are on wall time; the CPU time of each variant (user + system, the emulator child's
included for ``--local``) is printed too, and the CPU ratio of the seed run, since on a machine
busy with other work the wall times of a run vary by a factor of two where its CPU time hardly
moves.  ``--local``'s CPU time includes its emulator child's, which starts alongside the run,
on another CPU when one is free: on an idle machine its wall time is less than its CPU time.

    python bench/startup.py [--rounds N] [--pythonpath DIR] [--no-local] [--bytecode-as-is]

``--pythonpath`` puts DIR first on the children's module path, to measure another copy of the
source tree (a before/after comparison) against the same baselines.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "seed-verify.aml"
FIXTURE = ROOT / "examples" / "identities.json"
KEY = "AKIAJ25JAKOPAC7GSQ7A"  # the seed task's access key; its secret is looked up by this id

_CHILD = """
import sys
from amlses.emulator import LocalEmulator
emulator = LocalEmulator().start()
emulator.seed(sys.argv[1])
print(emulator.endpoint_url, flush=True)
sys.stdin.read()
emulator.stop()
"""
# What the `amlses` console script runs, without the launcher in front of it.
_AMLSES = "import sys; from amlses.cli import main; sys.argv[0] = 'amlses'; sys.exit(main())"
# The seed task's calls, written the plain way: one client, as amlses configures a step's.
_PLAIN = """
import sys
import boto3
from botocore.config import Config

url, agent = sys.argv[1:3]
retries = {"mode": "standard", "total_max_attempts": 3}
client = boto3.client(
    "ses", endpoint_url=url, region_name="us-east-1",
    config=Config(retries=retries, user_agent_extra=agent),
)
identities = client.list_identities()["Identities"]
for identity in identities:
    print(identity)
for identity in identities:
    if "@" in identity:
        client.verify_email_identity(EmailAddress=identity)
        print(f"verification started for {identity}")
"""


def _environment(home: Path, pythonpath: str | None, bytecode_as_is: bool) -> dict[str, str]:
    """The children's environment: the seed's key, no AWS files, no proxies, and byte code
    cached in ``home`` (unless ``bytecode_as_is``).

    The cache matters: with ``PYTHONDONTWRITEBYTECODE`` set (as in a development shell) every
    module whose source changed since its ``.pyc`` was written is compiled again by every
    process — 29 of amlses's modules in a tree under edit, ~100 ms a run, which no installed
    amlses pays.  ``PYTHONPYCACHEPREFIX`` gives the children a private cache, written by the
    warm-up round, so the source tree is left alone and every variant starts like an
    installed one.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name.lower() not in {"http_proxy", "https_proxy"}
    }
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    env.update(
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY="bench-secret-0000000000000000000000000000",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
    )
    if not bytecode_as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds ``command`` takes, start to exit; fails loudly when it fails.

    CPU time (user + system, of the child alone) is shown next to the wall time because it
    hardly depends on what else the machine runs; the ratios use wall time.
    """
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{command[-4:]} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, used


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds")
    parser.add_argument("--pythonpath", help="a source tree to measure instead of the installed")
    parser.add_argument(
        "--bytecode-as-is",
        action="store_true",
        help="keep this shell's byte-code settings (PYTHONDONTWRITEBYTECODE) for the children",
    )
    parser.add_argument(
        "--no-local", action="store_true", help="skip the --local variant (the slowest by far)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        env = _environment(Path(home), args.pythonpath, args.bytecode_as_is)
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(FIXTURE)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        try:
            agent = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from amlses.ses import default_user_agent as a; print(a())",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            python, run = [sys.executable], [sys.executable, "-c", _AMLSES, "run", str(TASK)]
            variants = {
                "bare": [*python, "-c", "pass"],
                "help": [*python, "-c", _AMLSES, "--help"],
                "boto3": [*python, "-c", _PLAIN, url, agent],
                "run": [*run, "--endpoint-url", url],
                "quiet": [*run, "--endpoint-url", url, "--quiet"],
                "local": [*run, "--local", "--fixture", str(FIXTURE)],
            }
            if args.no_local:
                del variants["local"]
            for command in variants.values():  # warm-up: page cache, pyc files
                _timed(command, env)
            samples: dict[str, list[float]] = {name: [] for name in variants}
            cpu: dict[str, list[float]] = {name: [] for name in variants}
            order = list(variants)
            for round_ in range(args.rounds):
                shift = round_ % len(order)
                for name in order[shift:] + order[:shift]:
                    elapsed, used = _timed(variants[name], env)
                    samples[name].append(elapsed)
                    cpu[name].append(used)
        finally:
            child.stdin.close()
            child.wait(timeout=30)

    median = {name: statistics.median(values) for name, values in samples.items()}
    ms = {name: value * 1000 for name, value in median.items()}
    print(f"{args.rounds} alternating rounds, medians; moto at {url}")
    if args.pythonpath:
        print(f"amlses from {args.pythonpath}")
    if args.bytecode_as_is:
        print("byte code as this shell has it (modules without a fresh .pyc are compiled)")
    for name in variants:
        spread = f"{min(samples[name]) * 1000:.0f}-{max(samples[name]) * 1000:.0f}"
        used = statistics.median(cpu[name]) * 1000
        print(f"  {name:<6} {ms[name]:7.1f} ms  (range {spread} ms; cpu {used:.0f} ms)")
    limit = 3 * ms["bare"] + 50
    print(
        f"--help / bare interpreter:       {ms['help'] / ms['bare']:.2f}x  "
        f"({ms['help']:.0f} ms; goal <= 3 x bare + 50 ms = {limit:.0f} ms: "
        f"{'met' if ms['help'] <= limit else 'NOT met'})"
    )
    cpu_ratio = statistics.median(cpu["run"]) / statistics.median(cpu["boto3"])
    print(
        f"seed run / plain boto3 script:   {median['run'] / median['boto3']:.2f}x  (goal <= 1.0; "
        f"cpu {cpu_ratio:.2f}x)"
    )
    print(f"seed run --quiet / plain boto3:  {median['quiet'] / median['boto3']:.2f}x  (reference)")
    if args.no_local:
        return
    overhead = median["local"] - median["run"]
    print(
        f"--local over --endpoint-url:     +{overhead:.2f} s = "
        f"{median['local'] / median['run']:.2f}x  (goal <= +0.5 s)"
    )


if __name__ == "__main__":
    main()

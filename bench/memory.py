"""Does a run's memory grow with the number of steps it executes?

Runs ``amlses run`` in a child process on loops of increasing length (no SES calls: the body
increments a variable) and prints each run's peak resident set size, with the ratio of the
longest run's peak to the shortest's.  A flat profile means per-step records are kept only
where an output needs them; the goal is a 1,000,000-step loop under 80 MB with ``--quiet``.

    python bench/memory.py [--steps 10000,100000,1000000] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

LOOP = """<AMVARIABLE NAME="n" VALUE="0" />
<AMLOOP FROM="1" TO="{steps}" RESULTVARIABLE="i">
  <AMVARIABLE ACTIVITY="increment" RESULTVARIABLE="n" />
</AMLOOP>
"""

_PEAK = (
    "import resource, runpy, sys; sys.argv = ['amlses', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('amlses', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "else:\n"
    "    code = 0\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def peak_kib(task: Path, flags: list[str]) -> int:
    """The child's peak RSS in KiB (``ru_maxrss`` is KiB on Linux)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, "run", str(task), *flags],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"amlses run failed: {done.stderr.strip()[-500:]}")
    return int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10000,100000,1000000", help="loop lengths")
    parser.add_argument("--json", action="store_true", help="also measure with --json")
    args = parser.parse_args()
    modes = [["--quiet"], *([["--json"]] if args.json else [])]
    with tempfile.TemporaryDirectory() as folder:
        for flags in modes:
            peaks = []
            for steps in (int(s) for s in args.steps.split(",")):
                task = Path(folder) / f"loop{steps}.aml"
                task.write_text(LOOP.format(steps=steps))
                peak = peak_kib(task, flags)
                peaks.append(peak)
                print(f"{' '.join(flags):8} {steps:>10,} steps: peak RSS {peak / 1024:6.1f} MB")
            print(f"{' '.join(flags):8} longest/shortest peak: {peaks[-1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()

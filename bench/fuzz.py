"""Fuzz amlses's parser, static check, ``%…%`` scanner and evaluators with many inputs.

    python bench/fuzz.py                       # 100,000 inputs, seed 1, one process per CPU
    python bench/fuzz.py --count 1000000 --seed 7 --timeout 5 --crashes fuzz-crashes/

Inputs come from the generators of ``tests/test_fuzz.py`` (mutated seed samples and example
tasks, well-formed steps full of character references, AML and BASIC token soup, random text)
driven by a seeded ``random.Random``, so a run is reproducible: input ``i`` of seed ``s`` is
always the same.  Even inputs are task texts (parse, check, prepare); odd ones expressions and
attribute values (scan, evaluate, substitute, both condition modes, static analysis).

Each input either gives a result or an amlses error with a position; anything else is a
crash, and an input that runs longer than ``--timeout`` seconds is a hang.  Crashes and hangs
are written to ``--crashes`` (one file each, input and traceback) and make the exit code 1.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_fuzz import (  # noqa: E402  (the generators and properties live with the tests)
    check_expression,
    check_scan,
    check_task,
    expression_text,
    task_text,
)

T = TypeVar("T")
# Random text: mostly ASCII, some Latin-1 and beyond; never a lone surrogate, which no file
# (read as UTF-8 or Windows-1252) can hold.
_ALPHABET = [chr(c) for c in range(0x20, 0x7F)] + list("\t\n\r\x00éß€\u2028\ufeff\U0001f600")


class Hang(Exception):  # noqa: N818 (a signal, reported as a hang)
    """Raised by the alarm when one input runs longer than the timeout."""


class RandomChoices:
    """The :class:`test_fuzz.Choices` interface over a seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def element(self, items: Any) -> Any:
        return items[self._rng.randrange(len(items))]

    def text(self, max_size: int) -> str:
        return "".join(self._rng.choice(_ALPHABET) for _ in range(self._rng.randint(0, max_size)))


@dataclass
class Report:
    """What a share of the inputs did."""

    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, int, str, str]] = field(default_factory=list)  # kind, i, text, why
    slowest: tuple[float, int] = (0.0, -1)

    def merge(self, other: Report) -> None:
        self.inputs += other.inputs
        self.outcomes.update(other.outcomes)
        self.failures.extend(other.failures)
        self.slowest = max(self.slowest, other.slowest)


def generate(seed: int, index: int) -> tuple[str, str]:
    """Input ``index`` of ``seed``: ("task", text) for even indexes, else ("expression", text)."""
    choose = RandomChoices(random.Random(f"{seed}:{index}"))
    if index % 2 == 0:
        return "task", task_text(choose)
    return "expression", expression_text(choose)


def _checks(kind: str) -> list[Callable[[str], dict[str, str]]]:
    return [check_task] if kind == "task" else [check_scan, check_expression]


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def run_share(job: tuple[int, range, float]) -> Report:
    """Run the inputs of ``indexes`` (in a worker process)."""
    seed, indexes, timeout = job
    signal.signal(signal.SIGALRM, _alarm)
    report = Report()
    for index in indexes:
        kind, text = generate(seed, index)
        report.inputs += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            for check in _checks(kind):
                for target, outcome in check(text).items():
                    report.outcomes[f"{target}: {outcome}"] += 1
        except Hang:
            report.failures.append(("hang", index, text, f"ran longer than {timeout} s"))
        except Exception:  # noqa: BLE001 (a crash is what we are looking for)
            report.failures.append(("crash", index, text, traceback.format_exc()))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        report.slowest = max(report.slowest, (time.perf_counter() - start, index))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs to run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    shares = [(args.seed, range(i, args.count, args.jobs), args.timeout) for i in range(args.jobs)]
    report = Report()
    with Pool(args.jobs) as pool:
        for share in pool.imap_unordered(run_share, shares):
            report.merge(share)
    elapsed = time.perf_counter() - started

    crashes = sum(1 for f in report.failures if f[0] == "crash")
    hangs = len(report.failures) - crashes
    print(
        f"amlses fuzz: {report.inputs:,} inputs (seed {args.seed}, {args.jobs} processes) "
        f"in {elapsed:,.0f} s, {report.inputs / elapsed:,.0f} inputs/s"
    )
    for name, count in sorted(report.outcomes.items()):
        print(f"  {name:<28} {count:>9,}")
    seconds, index = report.slowest
    print(f"  slowest input: #{index}, {seconds * 1000:,.0f} ms (timeout {args.timeout:g} s)")
    print(f"  crashes: {crashes}, hangs: {hangs}")
    if report.failures:
        args.crashes.mkdir(parents=True, exist_ok=True)
        for kind, index, text, why in report.failures[:100]:
            path = args.crashes / f"{kind}-seed{args.seed}-{index}.txt"
            path.write_text(f"{text}\n\n---- {kind} ----\n{why}", encoding="utf-8")
        print(f"  written to {args.crashes}/ (reproduce: generate({args.seed}, index))")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

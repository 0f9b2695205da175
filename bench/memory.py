"""How much memory does a run take: does it grow with the steps it runs, and what does a bulk
send of 100,000 rows cost?

Every figure is the peak resident set size (``ru_maxrss``) of a fresh child process, so
imports and every allocation count and nothing of this process does.

* ``loops``: ``amlses run`` on loops of increasing length (no SES calls: the body increments
  a variable), with the ratio of the longest run's peak to the shortest's.  A flat profile
  means per-step records are kept only where an output needs them; the goal is a
  1,000,000-step loop under 80 MB with ``--quiet``.
* ``bulk``: ``--bulk-rows`` rows (default 100,000) sent with a template
  (``SendBulkTemplatedEmail``, 50 a call) at a MaxSendRate of 1,000,000/s, so that the send
  takes seconds, against an SES server in another process — by default the stub of
  ``bulk_send.py`` (``--server stub``: it answers like SES, MessageIds of SES's length, and
  stores nothing), because moto takes ~30 s for 100k rows; ``--server moto`` uses moto.  Five
  children: ``floor`` (Python, amlses, boto3 and a client that sent one message: what every
  run pays), ``boto3`` (a plain ``ThreadPoolExecutor`` of 32 workers sending the same rows:
  what a bulk send needs at least), ``library`` (``mail.send_bulk_email`` on a list of
  ``BulkRecipient`` with its journal, and ``library, no journal``) and ``task`` (``amlses run
  --quiet`` of a task whose ``send_bulk_email`` step reads a CSV file: what a user runs; the
  journal as the step keeps it, in a temporary ``AMLSES_JOURNAL_DIR``).  Goal: the task under
  150 MB.
* ``--profile``: where the task's memory goes, by tracemalloc, at the moment the send's
  workers are done (every per-row structure alive; the peak of a bulk send): the lines of
  amlses that allocated the most, in MB and bytes per row; then what each per-row object
  costs, and what ``__slots__`` would save.

    python bench/memory.py [--steps 10000,100000,1000000] [--json] [--bulk-rows N]
        [--server stub|moto] [--only loops|bulk] [--profile [--top N]]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
GOAL_MB = 150

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
# A bulk child: this file's bulk_child(), then its peak RSS (KiB) as the last line of stderr.
_BULK = (
    "import resource, sys; sys.path.insert(0, sys.argv[1]); import memory\n"
    "memory.bulk_child(*sys.argv[2:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)
RATE = 1_000_000
#: the frames tracemalloc keeps per allocation (more is slower)
FRAMES = 16


def child_peak(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a child; its peak RSS in KiB (the last line of its stderr) and its stdout."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the child failed: {done.stderr.strip()[-800:]}")
    return int(done.stderr.strip().splitlines()[-1]), done.stdout


def peak_kib(task: Path, flags: list[str]) -> int:
    """The peak RSS in KiB of ``amlses run task`` (``ru_maxrss`` is KiB on Linux)."""
    return child_peak([sys.executable, "-c", _PEAK, "run", str(task), *flags])[0]


def loops(args: argparse.Namespace, folder: Path) -> None:
    modes = [["--quiet"], *([["--json"]] if args.json else [])]
    for flags in modes:
        peaks = []
        for steps in (int(s) for s in args.steps.split(",")):
            task = folder / f"loop{steps}.aml"
            task.write_text(LOOP.format(steps=steps))
            peak = peak_kib(task, flags)
            peaks.append(peak)
            print(f"{' '.join(flags):8} {steps:>10,} steps: peak RSS {peak / 1024:6.1f} MB")
        print(f"{' '.join(flags):8} longest/shortest peak: {peaks[-1] / peaks[0]:.2f}")


# --------------------------------------------------------------------------------------------
# Bulk sends: the children


def bulk_child(mode: str, url: str, rows: str, folder: str) -> None:
    """One measured bulk send (run in a child process by :func:`bulk`)."""
    import bulk_send as b

    count = int(rows)
    emails = b.emails_for(mode.replace(" ", "").replace(",", ""), count)
    if mode == "floor":
        b.boto3_baseline(b.boto3_client(url), b.Case(True, RATE), emails[:1], 1)
    elif mode == "boto3":
        b.boto3_baseline(b.boto3_client(url), b.Case(True, RATE), emails, 32)
    elif mode.startswith("library"):
        from amlses.ses import SesSession

        session = SesSession(endpoint_url=url, access_key=b.KEY, secret_key=b.SECRET)
        journal = None if "no journal" in mode else Path(folder) / "library.journal"
        result = b.amlses_library(session, b.Case(True, RATE), emails, journal)
        assert result.sent == count, result
    elif mode.startswith("profile"):
        profile_child(url, emails, Path(folder), int(mode.partition(":")[2]))
    else:
        raise SystemExit(f"no bulk mode {mode}")


def bulk(args: argparse.Namespace, folder: Path) -> None:
    import bulk_send as b

    child, url = b.start_server(0.0, args.server)
    try:
        b.seed(url, 1)
        rows = args.bulk_rows
        server = "the SES stub" if args.server == "stub" else "moto SES"
        print(
            f"bulk send of {rows:,} rows, templated, at {RATE:,}/s, against {server} in "
            "another process: peak RSS of each child"
        )
        peaks: dict[str, int] = {}
        for mode in ("floor", "boto3", "library", "library, no journal"):
            argv = [sys.executable, "-c", _BULK, str(BENCH), mode, url, str(rows), str(folder)]
            peaks[mode] = child_peak(argv)[0]
        csv_file = b.write_csv(folder / "task.csv", b.emails_for("task", rows))
        task = folder / "bulk.aml"
        task.write_text(b.bulk_task(url, csv_file, RATE, templated=True))
        env = {**os.environ, "AMLSES_JOURNAL_DIR": str(folder / "journals")}
        argv = [sys.executable, "-c", _PEAK, "run", str(task), "--quiet"]
        peaks["task"] = child_peak(argv, env)[0]
        floor = peaks["floor"]
        for mode, peak in peaks.items():
            extra = (peak - floor) * 1024 / rows
            print(
                f"  {mode:<21} peak RSS {peak / 1024:6.1f} MB"
                + (f"  (+{(peak - floor) / 1024:5.1f} MB over floor = {extra:4.0f} B/row)")
                * (mode != "floor")
            )
        met = peaks["task"] / 1024 < GOAL_MB
        print(f"goal: the task under {GOAL_MB} MB: {'met' if met else 'NOT met'}")
        if args.profile:
            argv = [sys.executable, "-c", _BULK, str(BENCH), f"profile:{args.top}", url]
            print(child_peak([*argv, str(args.profile_rows), str(folder)])[1], end="")
        delivered = b.accepted(url, args.server)
        twice = sum(1 for n in delivered.values() if n > 1)
        print(f"recipients accepted more than once: {twice}")
    finally:
        b.stop_server(child)


# --------------------------------------------------------------------------------------------
# Where the memory goes (--profile)


class PeakWatch:
    """A thread that takes a tracemalloc snapshot whenever the traced memory has grown 3 %
    past the last one: its last snapshot is within 3 % of the peak (as sampled every 20 ms),
    with what the main thread was doing then (its innermost amlses function)."""

    def __init__(self) -> None:
        import threading

        self.best = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.doing = ""
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            current = tracemalloc.get_traced_memory()[0]
            if current > self.best * 1.03:
                self.snapshot, self.best = tracemalloc.take_snapshot(), current
                self.doing = _main_doing(self._main)


def _main_doing(thread: int | None) -> str:
    frame = sys._current_frames().get(thread or 0)
    while frame is not None:
        if "/amlses/" in frame.f_code.co_filename:
            where = frame.f_code.co_filename.split("/amlses/")[-1]
            return f"{where}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def profile_child(url: str, emails: list[str], folder: Path, top: int) -> None:
    """The task's send under tracemalloc: snapshots at the peak and when the workers are done."""
    import bulk_send as b

    from amlses.runtime import RunOptions
    from amlses.ses import ClientCache

    csv_file = b.write_csv(folder / "profile.csv", emails)
    task = b.bulk_task(url, csv_file, RATE, templated=True)
    cache = ClientCache()
    settings: dict[str, Any] = {"journal_dir": str(folder / "pj")} if b.TASK_JOURNAL else {}
    options = RunOptions(**settings)
    b.run_task(b.bulk_task(url, b.write_csv(folder / "w.csv", ["w@x.com"]), RATE, True), "w", cache)
    snapshots: list[tracemalloc.Snapshot] = []
    runner = b.bulk_internal("BulkRunner", "_BulkRunner")
    run = runner.run

    def snapshot_after(self: Any, *args: Any, **kwargs: Any) -> Any:
        stop = run(self, *args, **kwargs)
        snapshots.append(tracemalloc.take_snapshot())
        return stop

    runner.run = snapshot_after
    _remember_sources()  # the lines as imported: the files may change while this runs
    tracemalloc.start(FRAMES)
    with PeakWatch() as watch:
        b.run_task(task, "profile.aml", cache, options)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = len(emails)
    done = sum(t.size for t in snapshots[0].traces)
    assert watch.snapshot is not None
    print(
        f"\ntracemalloc of the task ({rows:,} rows): traced peak {peak / 2**20:.1f} MB "
        f"({peak / rows:.0f} B/row); {done / 2**20:.1f} MB when the workers were done.\n"
        f"At the peak ({watch.best / 2**20:.1f} MB sampled, in {watch.doing}), by the innermost "
        f"line of amlses on the allocating stack (of {FRAMES} frames; else the innermost line):"
    )
    table(watch.snapshot, rows, top)
    if peak > 1.5 * watch.best:
        print(
            f"(the traced peak is {peak / watch.best:.1f}x the sampled one: something large "
            "lived for less than the 20 ms between samples, such as a read buffer)"
        )
    print("When the workers were done:")
    table(snapshots[0], rows, top)
    objects(rows)


def table(snapshot: tracemalloc.Snapshot, rows: int, top: int) -> None:
    by_line: dict[str, list[int]] = {}
    for trace in snapshot.traces:
        frames = list(trace.traceback)  # the oldest frame first
        mine = [f for f in frames if "/amlses/" in f.filename]
        frame = mine[-1] if mine else frames[-1]
        name = frame.filename.split("/amlses/")[-1] if mine else Path(frame.filename).name
        entry = by_line.setdefault(f"{name}:{frame.lineno}", [0, 0])
        entry[0] += trace.size
        entry[1] += 1
    print(f"  {'MB':>6} {'B/row':>6} {'blocks':>8}  line")
    for key, (size, blocks) in sorted(by_line.items(), key=lambda kv: -kv[1][0])[:top]:
        source = _source_line(key)
        print(f"  {size / 2**20:6.1f} {size / rows:6.0f} {blocks:>8}  {key}  {source}")


def _remember_sources() -> None:
    """Read every amlses module's source into linecache now, as it was imported."""
    import linecache

    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None) or ""
        if "/amlses/" in filename and filename.endswith(".py"):
            linecache.getlines(filename)


def _source_line(key: str) -> str:
    import linecache

    import amlses

    name, _, line = key.rpartition(":")
    path = Path(amlses.__file__).parent / name
    return linecache.getline(str(path), int(line)).strip()[:64] if path.exists() else ""


def measured(build: Any, count: int) -> float:
    """Bytes per item of what ``build(i)`` makes, ``count`` of them alive at once."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [build(i) for i in range(count)]
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return size / count - 8  # less the list's pointer


def objects(rows: int) -> None:
    """What each per-row object costs, as amlses builds it, and with ``__slots__``."""
    from bulk_send import bulk_internal

    from amlses.mail import BulkRecipient, Delivery

    pending_class = bulk_internal("Pending", "_Pending")

    count = min(rows, 100_000)
    mid = "0100018f0000abcd-0000abcd-1111-2222-3333-00000000abcd-000000"
    address = "task-1@example.com"
    recipient = BulkRecipient(1, address, {"Name": "N1"})
    # the same classes with __slots__ (same fields, so the comparison follows bulk.py)
    recipient_fields = [f.name for f in dataclasses.fields(BulkRecipient)]
    pending_fields = [f.name for f in dataclasses.fields(pending_class)]
    slotted_recipient = dataclasses.make_dataclass("R", recipient_fields, slots=True)
    slotted_pending = dataclasses.make_dataclass("P", pending_fields, slots=True)
    values: dict[str, Any] = {
        "index": 0,
        "recipient": recipient,
        "to": [address],
        "data": '{"Name": "N1"}',
        "attempts": 0,
        "key": address,
    }
    pending: dict[str, Any] = {name: values.get(name) for name in pending_fields}
    costs = [
        ("the To address string", lambda i: f"task-{i}@example.com"),
        ("a row's data dict {'Name': 'N1'}", lambda i: {"Name": f"N{i}"}),
        ("BulkRecipient (object + its __dict__)", lambda i: BulkRecipient(i, address, {})),
        ("  the same with __slots__", lambda i: slotted_recipient(i, address, {})),
        ("Pending (object + its __dict__)", lambda i: pending_class(**pending)),
        ("  the same with __slots__", lambda i: slotted_pending(**pending)),
        ("Pending.to: a list of one address", lambda i: [address]),
        ("the JSON data string", lambda i: json.dumps({"Name": f"N{i}"})),
        ("Delivery (NamedTuple of 5)", lambda i: Delivery(i, address, "Success", "", "")),
        ("a MessageId string (SES's length)", lambda i: f"{i:016x}{mid[16:]}"),
        ("a tuple of 5 (a dataset row)", lambda i: (i, address, "Success", "", "")),
    ]
    print(f"\nwhat each per-row object costs (bytes each, {count:,} alive at once; strings")
    print("and dicts that are shared or counted elsewhere excluded):")
    for what, build in costs:
        print(f"  {measured(build, count):6.0f}  {what}")
    keyed: dict[int, None] = {}
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        keyed[i] = None
    entry = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    print(f"  {entry:6.0f}  an entry of a dict keyed by row index (results, new)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", default="10000,100000,1000000", help="loop lengths")
    parser.add_argument("--json", action="store_true", help="also measure loops with --json")
    parser.add_argument("--bulk-rows", type=int, default=100_000, help="rows of the bulk send")
    parser.add_argument("--server", choices=("stub", "moto"), default="stub")
    parser.add_argument("--only", choices=("loops", "bulk"), help="one part only")
    parser.add_argument("--profile", action="store_true", help="where the bulk memory goes")
    parser.add_argument("--top", type=int, default=20, help="lines of the profile")
    parser.add_argument(
        "--profile-rows", type=int, default=10_000, help="rows of the profiled send (slow)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "bulk":
            loops(args, Path(folder))
        if args.only != "loops":
            bulk(args, Path(folder))


if __name__ == "__main__":
    main()

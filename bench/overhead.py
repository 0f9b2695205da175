"""What does running SES calls as AML task steps cost over plain boto3?

Against a local moto SES server (in a child process), in one run:

* baseline: N ``list_identities`` calls with one reused plain boto3 client configured as
  amlses configures a step's client (standard retries, 3 attempts, amlses's User-Agent), so
  the ratio measures the AML layer rather than a retry-mode choice;
* default-config baseline: the same with boto3's defaults, shown for reference;
* session-based: a task of N ``list_identities`` steps on one ``create_session`` session;
* host-based: the same N steps, each carrying its own credentials (no session).

The task timings include parsing, the static check and dataset building — everything a user
pays.  Rounds alternate between the variants and the median of each is used, so a slow moment
of the machine hits all of them alike.  Prints the ratios; goals: task/baseline <= 1.05,
host-based/session-based <= 1.10.

    python bench/overhead.py [--calls N] [--rounds R] [--identities K]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import boto3
from botocore.config import Config

from amlses import api
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, default_user_agent

_CHILD = """
import sys
from amlses.emulator import LocalEmulator
emulator = LocalEmulator().start()
emulator.seed({"identities": [f"user{i}@example.com" for i in range(int(sys.argv[1]))]})
print(emulator.endpoint_url, flush=True)
sys.stdin.read()
emulator.stop()
"""
KEY, SECRET = "AKIABENCHMARK0000001", "bench-secret-0000000000000000000000000000"


def session_task(calls: int) -> str:
    steps = [
        f'<AMAWSSES ACTIVITY="create_session" SESSION="b" ACCESSKEY="{KEY}" SECRETKEY="{SECRET}" />'
    ]
    steps += [
        '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="b" '
        'RESULTDATASET="ids" />'
    ] * calls
    steps.append('<AMAWSSES ACTIVITY="end_session" SESSION="b" />')
    return "\n".join(steps)


def host_task(calls: int) -> str:
    step = (
        f'<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="{KEY}" SECRETKEY="{SECRET}" '
        'RESULTDATASET="ids" />'
    )
    return "\n".join([step] * calls)


class _StubClient:
    """Answers ListIdentities at once: what remains of a step's time is amlses's own work."""

    def __init__(self, identities: int) -> None:
        self.page = {"Identities": [f"user{i}@example.com" for i in range(identities)]}

    def list_identities(self, **params: object) -> dict[str, list[str]]:
        return self.page


class _StubCache(ClientCache):
    def __init__(self, client: _StubClient) -> None:
        super().__init__()
        self._stub = client

    def get(self, connection: object) -> object:  # type: ignore[override]
        return self._stub


def layer_cost(calls: int, identities: int, rounds: int) -> dict[str, float]:
    """Seconds per step of amlses's own work (parse, check, bind, dataset), no network."""
    cache = _StubCache(_StubClient(identities))
    options = RunOptions(endpoint_url="http://127.0.0.1:9")
    cost = {}
    for kind, text in (("session", session_task(calls)), ("host", host_task(calls))):
        api.run(text, "warm.aml", options=options, cache=cache)
        cost[kind] = (
            statistics.median(
                timed(lambda t=text: api.run(t, "stub.aml", options=options, cache=cache))
                for _ in range(rounds)
            )
            / calls
        )
    return cost


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="SES calls per measurement")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    parser.add_argument("--identities", type=int, default=20, help="identities in the account")
    args = parser.parse_args()

    # moto runs in a child process: in this one it would compete with the client for the GIL
    # and make every variant's timing depend on the others' garbage.
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(args.identities)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    url = child.stdout.readline().strip()
    try:
        same = {"mode": "standard", "total_max_attempts": 3}  # what amlses gives a step
        plain = boto3.client(
            "ses",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=Config(retries=same, user_agent_extra=default_user_agent()),
        )
        default = boto3.client(
            "ses",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )
        cache = ClientCache()  # warm, like the plain client: model loading is not measured
        options = RunOptions(endpoint_url=url)
        tasks = {"session": session_task(args.calls), "host": host_task(args.calls)}

        def baseline() -> None:
            for _ in range(args.calls):
                plain.list_identities()

        def baseline_default() -> None:
            for _ in range(args.calls):
                default.list_identities()

        def run(kind: str) -> Callable[[], object]:
            def go() -> None:
                result = api.run(tasks[kind], f"{kind}.aml", options=options, cache=cache)
                assert result.ok, result.error

            return go

        variants: dict[str, Callable[[], object]] = {
            "baseline": baseline,
            "default": baseline_default,
            "session": run("session"),
            "host": run("host"),
        }
        for action in variants.values():  # warm-up: clients, models, caches
            action()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        order = list(variants)
        for round_ in range(args.rounds):  # rotate, so no variant always follows the same one
            for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
                samples[name].append(timed(variants[name]))
    finally:
        child.stdin.close()
        child.wait(timeout=30)

    median = {name: statistics.median(values) for name, values in samples.items()}
    own = layer_cost(args.calls, args.identities, args.rounds)
    per_call = {name: value / args.calls * 1000 for name, value in median.items()}
    print(
        f"{args.calls} list_identities calls x {args.rounds} rounds, "
        f"{args.identities} identities, moto at {url}"
    )
    for name in variants:
        print(f"  {name:<9} median {median[name]:.3f} s  ({per_call[name]:.2f} ms/call)")
    print(
        f"ratio session-based task / plain boto3: {median['session'] / median['baseline']:.3f}"
        "  (goal <= 1.05)"
    )
    print(f"ratio host-based task / plain boto3:    {median['host'] / median['baseline']:.3f}")
    print(
        f"ratio session-based task / boto3 with its default config: "
        f"{median['session'] / median['default']:.3f}  (reference)"
    )
    print(
        f"ratio host-based / session-based:       {median['host'] / median['session']:.3f}"
        "  (goal <= 1.10)"
    )
    call = median["baseline"] / args.calls
    for kind in ("session", "host"):
        print(
            f"amlses's own work per {kind}-based step (stub client, no network): "
            f"{own[kind] * 1000:.3f} ms = {own[kind] / call:.1%} of a plain call here"
        )


if __name__ == "__main__":
    main()

"""What does running SES calls as AML task steps cost over plain boto3?

Against a local moto SES server, in one run:

* baseline: N ``list_identities`` calls with one reused plain boto3 client;
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
import time
from collections.abc import Callable

import boto3

from amlses import api
from amlses.emulator import LocalEmulator
from amlses.runtime import RunOptions
from amlses.ses import ClientCache

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

    with LocalEmulator() as emulator:
        emulator.seed({"identities": [f"user{i}@example.com" for i in range(args.identities)]})
        url = emulator.endpoint_url
        plain = boto3.client(
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

        def run(kind: str) -> Callable[[], object]:
            def go() -> None:
                result = api.run(tasks[kind], f"{kind}.aml", options=options, cache=cache)
                assert result.ok, result.error

            return go

        variants: dict[str, Callable[[], object]] = {
            "baseline": baseline,
            "session": run("session"),
            "host": run("host"),
        }
        for action in variants.values():  # warm-up: clients, models, caches
            action()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, action in variants.items():
                samples[name].append(timed(action))

    median = {name: statistics.median(values) for name, values in samples.items()}
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
        f"ratio host-based / session-based:       {median['host'] / median['session']:.3f}"
        "  (goal <= 1.10)"
    )


if __name__ == "__main__":
    main()

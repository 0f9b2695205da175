"""How close does ``send_bulk_email`` get to MaxSendRate, and how much faster is it than a loop?

In one run, against a moto SES server in a child process (so that its work does not compete
for this process's GIL, as real SES would not; sped up as described at ``_CHILD``), with a
fixed delay added to every send request to stand in for the network round trip to SES
(``--latency``, default 20 ms: a client close to its SES region; from an office to a remote
region it is more, which only favours bulk):

* baseline: a plain AML task — ``list_identities`` into a dataset, then ``<AMLOOP>`` calling
  ``send_email`` once per row, the way an Automate user writes it today;
* ``send_bulk_email`` at MAXSENDRATE 50/s and 200/s, one ``SendEmail`` per row and with a
  template (``SendBulkTemplatedEmail``, 50 rows a call), each over ``--seconds`` worth of rows.

Every timing is the whole task as a user runs it (parse, check, CSV, sends).  Printed: each
bulk send's achieved rate as a fraction of MaxSendRate (goal >= 0.9) and its speed-up over the
loop; then every recipient is checked to have been accepted exactly once.

    python bench/bulk_send.py [--seconds S] [--latency MS] [--loop-rows N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3

from amlses import api
from amlses.emulator import read_outbox
from amlses.runtime import RunOptions
from amlses.ses import ClientCache

KEY, SECRET = "AKIABENCHMARK0000001", "bench-secret-0000000000000000000000000000"
SENDER = "bench@example.com"
GOAL = 0.9

# The child: moto's SES with a delay before every send, on 127.0.0.1, until stdin closes.
# moto spends ~10 ms of CPU per request, most of it re-listing its own package folder and
# re-inspecting the response class on every call, and its server closes every connection;
# two caches and HTTP/1.1 keep-alive (which SES's endpoint offers too) bring that to a few ms,
# so that on a small machine the emulator is not what limits a 200/s send.  The answers are
# unchanged.
_CHILD = """
import functools, sys, time
import moto.backends, moto.core.responses
from werkzeug.serving import WSGIRequestHandler
WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as SES's endpoint allows
_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _modules
moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
    moto.core.responses.method_names_from_class
)
from moto.ses.responses import EmailResponse
delay = float(sys.argv[1])
def slowed(send):
    def handler(self):
        time.sleep(delay)
        return send(self)
    return handler
for name in ("send_email", "send_raw_email", "send_templated_email", "send_bulk_templated_email"):
    setattr(EmailResponse, name, slowed(getattr(EmailResponse, name)))
from amlses.emulator import LocalEmulator
emulator = LocalEmulator().start()
print(emulator.endpoint_url, flush=True)
sys.stdin.read()
emulator.stop()
"""


def loop_task(url: str) -> str:
    return f"""
<AMAWSSES ACTIVITY="create_session" SESSION="B" ACCESSKEY="{KEY}" SECRETKEY="{SECRET}"
  SERVICEURL="{url}" />
<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="B" RESULTDATASET="Ids" />
<AMLOOP ACTIVITY="dataset" DATASET="Ids">
  <AMIF EXPRESSION="%Ids.Type%=EmailAddress">
    <AMAWSSES ACTIVITY="send_email" PROVIDER="session_based" SESSION="B" FROM="{SENDER}"
      TO="%Ids.Identity%" SUBJECT="Loop" TEXTBODY="One at a time." />
  </AMIF>
</AMLOOP>
<AMAWSSES ACTIVITY="end_session" SESSION="B" />
"""


def bulk_task(url: str, csv_file: Path, rate: int, templated: bool) -> str:
    content = 'TEMPLATE="Bench"' if templated else 'SUBJECT="Bulk" TEXTBODY="At the rate."'
    return (
        f'<AMAWSSES ACTIVITY="send_bulk_email" ACCESSKEY="{KEY}" SECRETKEY="{SECRET}" '
        f'SERVICEURL="{url}" FROM="{SENDER}" CSVFILE="{csv_file}" TOFIELD="Email" {content} '
        f'MAXSENDRATE="{rate}" RESULTDATASET="Sent" />\n'
    )


def timed_run(task: str, name: str, cache: ClientCache) -> tuple[float, api.RunResult]:
    start = time.perf_counter()
    result = api.run(task, name, options=RunOptions(), cache=cache)
    seconds = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"{name} failed: {result.error}")
    return seconds, result


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def write_rows(folder: Path, prefix: str, count: int) -> tuple[Path, list[str]]:
    """A CSV file of ``count`` recipients (Email, Name) and their addresses."""
    emails = [f"{prefix}-{i}@example.com" for i in range(count)]
    csv_file = folder / f"{prefix}.csv"
    csv_file.write_text("Email,Name\n" + "".join(f"{e},N{i}\n" for i, e in enumerate(emails)))
    return csv_file, emails


def seed(url: str, loop_rows: int) -> None:
    """The verified sender, the loop's recipients (as identities) and the template."""
    client = boto3.client(
        "ses",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    client.verify_email_identity(EmailAddress=SENDER)
    for i in range(loop_rows - 1):
        client.verify_email_identity(EmailAddress=f"loop{i}@example.com")
    client.create_template(
        Template={"TemplateName": "Bench", "SubjectPart": "Hi {{Name}}", "TextPart": "x"}
    )


def measure(args: argparse.Namespace, url: str, folder: Path) -> None:
    cache = ClientCache()  # warm and shared by every run: model loading is not measured
    warm_csv, warm_emails = write_rows(folder, "warm", 20)
    timed_run(bulk_task(url, warm_csv, 1000, False), "warm-up.aml", cache)
    seconds, _ = timed_run(loop_task(url), "loop.aml", cache)
    loop_rate = args.loop_rows / seconds
    print(
        f"plain AML loop of send_email: {args.loop_rows} rows in {seconds:.2f} s = "
        f"{loop_rate:.1f} messages/s"
    )
    print(
        f"{'send_bulk_email':<26}{'MaxSendRate':>12}{'rows':>7}{'seconds':>9}"
        f"{'achieved/s':>12}{'fraction':>10}{'speed-up vs loop':>18}"
    )
    fractions: list[float] = []
    expected: Counter[str] = Counter(warm_emails)
    for rate in (int(r) for r in args.rates.split(",")):
        for templated in (False, True):
            prefix = f"r{rate}{'t' if templated else 'p'}"
            csv_file, emails = write_rows(folder, prefix, int(rate * args.seconds))
            expected.update(emails)
            task = bulk_task(url, csv_file, rate, templated)
            seconds, result = timed_run(task, f"{prefix}.aml", cache)
            sent = sum(1 for row in result.datasets["Sent"].rows if row[2] == "Success")
            achieved = sent / seconds
            fractions.append(achieved / rate)
            mode = "SendBulkTemplatedEmail" if templated else "SendEmail per row"
            print(
                f"  {mode:<24}{rate:>10}/s{len(emails):>7}{seconds:>9.2f}{achieved:>12.1f}"
                f"{achieved / rate:>10.2f}{achieved / loop_rate:>17.1f}x"
            )
    delivered = Counter(a for m in read_outbox(url) for a in m.recipients)
    bulk = {a: n for a, n in delivered.items() if not a.startswith(("loop", SENDER))}
    met = all(f >= GOAL for f in fractions)
    print(
        f"goal: every bulk send >= {GOAL} of MaxSendRate: {'met' if met else 'NOT met'}; "
        f"each of {len(expected)} bulk recipients accepted exactly once: "
        f"{'yes' if bulk == dict(expected) else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="rows per bulk send = rate x S")
    parser.add_argument("--latency", type=float, default=20, help="ms added to every send")
    parser.add_argument("--loop-rows", type=int, default=200, help="rows of the AML loop")
    parser.add_argument("--rates", default="50,200", help="MaxSendRates to try, comma-separated")
    args = parser.parse_args()

    child, url = start_server(args.latency / 1000)
    try:
        seed(url, args.loop_rows)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"bulk_send: moto SES in a child process, {args.latency:g} ms added to every send "
            f"(the network round trip); {os.cpu_count()} CPUs, load average {load}"
        )
        with tempfile.TemporaryDirectory() as folder:
            measure(args, url, Path(folder))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


if __name__ == "__main__":
    main()

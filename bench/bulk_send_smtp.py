"""How close does ``send_bulk_email`` over SES's SMTP interface get to the rate it is given?

``bulk_send.py`` measures bulk sends over SES's API; this script is its SMTP row (issue 11):
``mail.send_bulk_email`` on a session whose endpoint is ``smtps://host:port``, against
amlses's local SES SMTP endpoint (:class:`amlses.smtp.local.LocalSmtpServer`: real TLS from
the first byte, AUTH, ``250 Ok <id>``) in a child process, so that the server's event loop
neither competes for this process's GIL nor counts in its CPU.  The server answers at once:
there is no added latency (the figures are the client's pace and overhead on loopback, not a
client near its region).

For each rate of ``--rates`` (default 50 and 200 messages a second), ``--seconds`` worth of
rows are sent three ways, each to its own recipients, in ``--rounds`` interleaved parts:

* ``amlses`` — ``send_bulk_email`` with its send journal (a file in a temporary folder);
* ``no journal`` — the same with ``journal=None``;
* ``smtplib`` — the floor: a plain :class:`smtplib.SMTP_SSL` per worker thread (one
  connection each, logged in once), on a ``ThreadPoolExecutor`` of as many workers as amlses
  starts, paced by a simple token bucket, one MIME message built per row.

Printed per rate: the achieved rate as a fraction of the rate asked for, and the process CPU
per message (``time.process_time``: every thread here; the server is another process).  A
fraction a little above 1 is the pacers' start-up credit (a tenth of a second's sends, or so)
over a short send; longer ``--seconds`` bring it to 1.  The goal: amlses >= 0.9 of the rate
at 50 and 200/s.  Then the recipients the server received are checked against every recipient
sent to: each accepted exactly once.

    python bench/bulk_send_smtp.py [--rates 50,200] [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NamedTuple

from amlses import mail
from amlses.mail.bulk_runner import _ASSUMED_LATENCY, _MAX_WORKERS
from amlses.ses import SesSession
from amlses.smtp.password import smtp_password

KEY, SECRET = "AKIABENCHSMTP0000001", "bench-smtp-secret-000000000000000000000000"
REGION = "us-east-1"
SENDER = "bench@example.com"
SUBJECT, TEXT = "Bulk", "At the rate."
GOAL = 0.9
GOAL_RATES = (50, 200)

# The child: the local SMTP endpoint until stdin closes; then it prints how often each
# recipient arrived (from received(), independently of what the client reports) and stops.
_CHILD = """
import json, sys
from collections import Counter
from amlses.smtp.local import LocalSmtpServer
server = LocalSmtpServer(access_key=sys.argv[1], secret_key=sys.argv[2], region=sys.argv[3])
server.start()
print(json.dumps({"host": server.host, "port": server.implicit_port, "ca_file": server.ca_file}),
      flush=True)
sys.stdin.read()
got = Counter(r for message in server.received() for r in message.recipients)
print(json.dumps({"received": got, "connections": server.connections,
                  "loop_errors": len(server.loop_errors)}), flush=True)
server.stop()
"""


class Server(NamedTuple):
    child: subprocess.Popen[str]
    host: str
    port: int
    ca_file: str


def start_server() -> Server:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, KEY, SECRET, REGION],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise SystemExit("the local SMTP server did not start (see its error above)")
    info = json.loads(line)
    return Server(child, info["host"], int(info["port"]), info["ca_file"])


def stop_server(server: Server) -> dict[str, Any]:
    """Close the child's stdin; what it received (empty if it died)."""
    child = server.child
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.close()
        line = child.stdout.readline()
        child.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        child.kill()
        child.wait()
        return {}
    return dict(json.loads(line)) if line else {}


# --------------------------------------------------------------------------------------------
# The ways of sending


# the result of one way of sending, and its timing: the same as bulk_send.py's
from bulk_send import Result, timed  # noqa: E402 (bench/ is this script's folder)


def amlses_workers(rate: float) -> int:
    """The worker threads amlses starts for one message per row (its bulk runner's formula)."""
    return max(1, min(_MAX_WORKERS, math.ceil(rate * _ASSUMED_LATENCY) + 1))


def amlses_send(session: SesSession, rate: float, emails: list[str], journal: Path | None) -> int:
    report = mail.send_bulk_email(
        session,
        emails,
        sender=SENDER,
        subject=SUBJECT,
        text=TEXT,
        max_send_rate=rate,
        journal=journal,
    )
    return report.sent


class SimpleBucket:
    """The token bucket a user would write: ``rate`` a second, bursts of a tenth of a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 10) / rate  # seconds of credit
        self.lock = threading.Lock()
        self.free = time.monotonic()

    def take(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(self.free, now - self.burst)
            self.free = start + 1 / self.rate
        if start > now:
            time.sleep(start - now)


def smtplib_send(server: Server, rate: float, emails: list[str]) -> int:
    """Plain smtplib on a thread pool: one logged-in connection per worker, paced."""
    bucket = SimpleBucket(rate)
    context = ssl.create_default_context(cafile=server.ca_file)
    password = smtp_password(SECRET, REGION)
    local = threading.local()
    connections: list[smtplib.SMTP_SSL] = []
    lock = threading.Lock()

    def connection() -> smtplib.SMTP_SSL:
        smtp: smtplib.SMTP_SSL | None = getattr(local, "smtp", None)
        if smtp is None:
            smtp = smtplib.SMTP_SSL(server.host, server.port, context=context, timeout=30)
            smtp.login(KEY, password)
            local.smtp = smtp
            with lock:
                connections.append(smtp)
        return smtp

    def one(email: str) -> bool:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, email, SUBJECT
        message.set_content(TEXT)
        bucket.take()
        try:
            connection().sendmail(SENDER, [email], message.as_bytes())
        except (smtplib.SMTPException, OSError):
            return False
        return True

    try:
        with ThreadPoolExecutor(max_workers=amlses_workers(rate)) as pool:
            return sum(pool.map(one, emails))
    finally:
        for smtp in connections:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


# --------------------------------------------------------------------------------------------
# The measurements


class Bench:
    """One server, one session, and every recipient sent to (for the exactly-once check)."""

    def __init__(self, server: Server, folder: Path, rounds: int) -> None:
        self.server, self.folder, self.rounds = server, folder, rounds
        self.session = SesSession(
            endpoint_url=f"smtps://{server.host}:{server.port}",
            access_key=KEY,
            secret_key=SECRET,
            region=REGION,
        )
        self.expected: Counter[str] = Counter()
        self.short: list[str] = []  # "way at rate: n of m sent"

    def recipients(self, prefix: str, count: int) -> list[str]:
        emails = [f"{prefix}-{i}@example.com" for i in range(count)]
        self.expected.update(emails)
        return emails

    def run(self, way: str, rate: int, emails: list[str]) -> Result:
        if way == "smtplib":
            result = timed(lambda: smtplib_send(self.server, rate, emails))
        else:
            journal = self.folder / f"{emails[0].partition('-')[0]}.journal"
            path = journal if way == "amlses" else None
            result = timed(lambda: amlses_send(self.session, rate, emails, path))
        if result.sent != len(emails):
            self.short.append(f"{way} at {rate}/s: {result.sent} of {len(emails)} sent")
        return result

    def warm_up(self) -> None:
        for way in ("amlses", "no journal", "smtplib"):
            self.run(way, 200, self.recipients(f"warm{way[0]}", 40))

    def rate(self, rate: int, seconds: float) -> dict[str, Result]:
        """The three ways, each on its own recipients, in interleaved parts (in a rotating
        order), so that a busy moment of the machine hits them alike."""
        count = max(1, int(rate * seconds / self.rounds))
        ways = ["amlses", "no journal", "smtplib"]
        parts: dict[str, list[Result]] = {way: [] for way in ways}
        for n in range(self.rounds):
            for way in ways[n % 3 :] + ways[: n % 3]:
                emails = self.recipients(f"r{rate}n{n}{way[0]}", count)
                parts[way].append(self.run(way, rate, emails))
        return {way: Result(*map(sum, zip(*got, strict=True))) for way, got in parts.items()}


def table(bench: Bench, rates: list[int], seconds: float) -> dict[int, dict[str, Result]]:
    print("achieved/rate (fraction of the rate asked for) and process CPU ms per message sent")
    print(
        f"{'case':<12}{'rate/s':>7}{'rows':>7}{'workers':>8}{'amlses':>8}{'no jrnl':>8}"
        f"{'smtplib':>8}{'CPU ms: amlses':>16}{'no jrnl':>8}{'smtplib':>8}{'amlses/smtplib':>15}"
    )
    outcome: dict[int, dict[str, Result]] = {}
    for rate in rates:
        got = outcome[rate] = bench.rate(rate, seconds)
        mine, off, base = got["amlses"], got["no journal"], got["smtplib"]
        print(
            f"  {'smtp':<10}{rate:>7}{mine.sent:>7}{amlses_workers(rate):>8}"
            f"{mine.achieved / rate:>8.2f}{off.achieved / rate:>8.2f}{base.achieved / rate:>8.2f}"
            f"{mine.cpu_per_send * 1000:>16.2f}{off.cpu_per_send * 1000:>8.2f}"
            f"{base.cpu_per_send * 1000:>8.2f}{mine.cpu_per_send / base.cpu_per_send:>15.2f}"
        )
    return outcome


def goal(outcome: dict[int, dict[str, Result]]) -> None:
    fractions = {
        rate: outcome[rate]["amlses"].achieved / rate for rate in GOAL_RATES if rate in outcome
    }
    if not fractions:
        print(f"goal: not measured (it is for the rates {', '.join(map(str, GOAL_RATES))})")
        return
    shown = ", ".join(f"{rate}/s {value:.3f}" for rate, value in fractions.items())
    met = all(value >= GOAL for value in fractions.values())
    where = " and ".join(str(rate) for rate in GOAL_RATES)
    if len(fractions) < len(GOAL_RATES):
        met = False  # a rate of the goal was not measured
        shown += "; not all measured"
    verdict = "met" if met else "NOT met"
    print(f"goal: amlses >= {GOAL} of the rate at {where}/s ({shown}): {verdict}")


def exactly_once(bench: Bench, final: dict[str, Any]) -> None:
    received: Counter[str] = Counter(final.get("received", {}))
    missing = sum(1 for email in bench.expected if received[email] == 0)
    twice = sum(1 for email, n in received.items() if n > 1)
    stray = sum(1 for email in received if email not in bench.expected)
    ok = received == bench.expected
    detail = "" if ok else f" ({missing} missing, {twice} more than once, {stray} not sent to)"
    print(
        f"each recipient accepted exactly once: {'yes' if ok else 'no'}{detail} "
        f"({sum(received.values())} messages, {final.get('connections', '?')} connections)"
    )
    for line in bench.short:
        print(f"  short: {line}")
    if final.get("loop_errors"):
        print(f"  the server's event loop reported {final['loop_errors']} errors")


def rate_list(text: str) -> list[int]:
    rates = [int(part) for part in text.split(",") if part.strip()]
    if not rates or min(rates) < 1:
        raise argparse.ArgumentTypeError(f"rates are whole numbers from 1, not {text!r}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", type=rate_list, default=[50, 200], help="e.g. 50,200")
    parser.add_argument("--seconds", type=float, default=8, help="rows per way = rate x S")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved parts per rate")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be above 0 and --rounds at least 1")

    server = start_server()
    final: dict[str, Any] = {}
    try:
        os.environ["SSL_CERT_FILE"] = server.ca_file  # amlses trusts the server's private CA
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"bulk_send_smtp: amlses's local SES SMTP endpoint (implicit TLS) in a child "
            f"process, no added latency; {os.cpu_count()} CPUs, load average {load}"
        )
        with tempfile.TemporaryDirectory() as folder:
            bench = Bench(server, Path(folder), args.rounds)
            try:
                bench.warm_up()
                outcome = table(bench, args.rates, args.seconds)
            finally:
                bench.session.close()
            goal(outcome)
    finally:
        final = stop_server(server)
    exactly_once(bench, final)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

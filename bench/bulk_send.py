"""How close does ``send_bulk_email`` get to MaxSendRate, and what does amlses cost over boto3?

In one run, against an SES server in a child process (its work must not compete for this
process's GIL, as real SES would not), with ``--latency`` ms (default 20: a client near its
region) added to every send for the network round trip:

* a plain AML task — ``list_identities``, then ``<AMLOOP>`` calling ``send_email`` per row, as
  an Automate user writes it today (the "vs loop" speed-up);
* each case of ``--cases`` (default ``SendEmail`` per row at MaxSendRate 50, 200, 500 and
  1,000/s, and ``SendBulkTemplatedEmail``, 50 rows a call, at 1,000/s), ``--seconds`` worth of
  rows sent three ways, each to its own recipients: ``amlses`` (``mail.send_bulk_email``
  with its SQLite send journal), ``no journal`` (``journal=None``) and
  ``boto3`` (a plain client, retries off as amlses's, on a ``ThreadPoolExecutor`` of as many
  workers as amlses starts, paced by a simple token bucket: the floor for amlses's CPU).
  Without a ``journal`` parameter yet, ``amlses`` runs without and "journal: not available
  yet" is printed.  ``--via task`` sends through whole AML tasks (CSV file, step, dataset).

Printed per case: the achieved rate as a fraction of MaxSendRate, the journal's cost (rate lost,
CPU added) and the process CPU per message sent (``time.process_time``: every thread here; the
server is another process), amlses's over boto3's.  Goals: >= 0.9 of MaxSendRate per row at 50
and 200/s and templated at 1,000/s; journal cost <= 5 %.  Then every recipient is checked to
have been accepted exactly once.

The server is moto (``--server moto``, sped up as said at ``_CHILD``) or a stub that answers
without doing the work (``--server stub``, :func:`serve_stub`): on two CPUs moto answers some
300 ``SendEmail`` a second, so per-row cases above that measure moto, for boto3 as for amlses.

``--profile`` instead runs ``--profile-cases`` under cProfile in every thread and lists where
amlses's own CPU goes (its functions, and what they call outside botocore) next to boto3's.

    python bench/bulk_send.py [--seconds S] [--latency MS] [--cases row:50,templated:1000]
        [--server moto|stub] [--via library|task] [--loop-rows N] [--profile]
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from amlses import api, mail
from amlses.emulator import read_outbox
from amlses.mail import BulkRecipient
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, SesSession

KEY, SECRET = "AKIABENCHMARK0000001", "bench-secret-0000000000000000000000000000"
SENDER = "bench@example.com"
TEMPLATE = "Bench"
GOAL = 0.9
#: the cases the rate goal applies to (the others show where the limit is)
GOAL_CASES = ("row:50", "row:200", "templated:1000")
JOURNAL_GOAL = 5.0  # per cent
#: whether send_bulk_email takes a journal yet (the lead is adding it), and the AML step
HAS_JOURNAL = "journal" in inspect.signature(mail.send_bulk_email).parameters
TASK_JOURNAL = "journal" in {f.name for f in dataclasses.fields(RunOptions)}
BENCH = Path(__file__).resolve().parent

# The child: moto's SES with a delay before every send, on 127.0.0.1, until stdin closes.
# moto spends ~10 ms of CPU per request, most of it re-listing its own package folder and
# re-inspecting the response class on every call, and its server closes every connection; two
# caches and HTTP/1.1 keep-alive (as SES's endpoint offers) bring that to a few ms, so that on a
# small machine moto does not limit a 200/s send.  The answers are unchanged.
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
_STUB_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[2]); import bulk_send; "
    "bulk_send.serve_stub(float(sys.argv[1]))"
)


# --------------------------------------------------------------------------------------------
# The servers


def serve_stub(delay: float) -> None:
    """An SES stand-in on 127.0.0.1 until stdin closes: one asyncio thread, HTTP/1.1 keep-alive,
    ``delay`` s before each send's answer.  Sends answer Success with MessageIds of SES's
    length (so a client keeps as much per row as with SES); ``VerifyEmailIdentity`` and
    ``ListIdentities`` keep a list, ``GetTemplate`` knows any name, other actions get an empty
    answer; ``GET /stats`` is how often each recipient was accepted (JSON).  Nothing is checked.
    """
    import asyncio
    import urllib.parse

    accepted: Counter[str] = Counter()
    identities: list[str] = []
    serial = iter(range(1 << 62))
    xmlns = 'xmlns="http://ses.amazonaws.com/doc/2010-12-01/"'

    def message_id() -> str:
        n = next(serial)
        return f"0100018f{n:08x}-{n:08x}-1111-2222-3333-{n:012x}-000000"

    def result(action: str, inner: str) -> bytes:
        return (
            f"<{action}Response {xmlns}><{action}Result>{inner}</{action}Result>"
            f"<ResponseMetadata><RequestId>{message_id()[8:44]}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        ).encode()

    def answer(form: dict[str, str]) -> tuple[bytes, bool]:
        """The XML answer to one request, and whether it is a send (to be delayed)."""
        action = form.get("Action", "")
        if action == "SendEmail":
            accepted.update(v for k, v in form.items() if "Addresses.member." in k)
            return result(action, f"<MessageId>{message_id()}</MessageId>"), True
        if action == "SendBulkTemplatedEmail":
            count = 0
            for key, value in form.items():
                if "Addresses.member." in key:
                    accepted[value] += 1
                if key.startswith("Destinations.member.") and key.endswith(".member.1"):
                    count += 1
            members = "".join(
                f"<member><Status>Success</Status><MessageId>{message_id()}</MessageId></member>"
                for _ in range(count)
            )
            return result(action, f"<Status>{members}</Status>"), True
        if action == "VerifyEmailIdentity":
            identities.append(form.get("EmailAddress", ""))
        if action == "ListIdentities":
            members = "".join(f"<member>{i}</member>" for i in identities)
            return result(action, f"<Identities>{members}</Identities>"), False
        if action == "GetTemplate":
            name = form.get("TemplateName", "")
            inner = f"<TemplateName>{name}</TemplateName><SubjectPart>Hi</SubjectPart>"
            return result(action, f"<Template>{inner}<TextPart>x</TextPart></Template>"), False
        return result(action, ""), False

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = (await reader.readexactly(length)).decode() if length else ""
                if lines[0].startswith("GET /stats"):
                    payload, kind = json.dumps(accepted).encode(), "application/json"
                else:
                    payload, send = answer(dict(urllib.parse.parse_qsl(body)))
                    kind = "text/xml"
                    if send and delay:
                        await asyncio.sleep(delay)
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went, or the server is stopping
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


def start_server(latency: float, kind: str = "moto") -> tuple[subprocess.Popen[str], str]:
    """moto's SES or the stub in a child process; its URL.  Closing its stdin stops it."""
    code = [_CHILD, str(latency)] if kind == "moto" else [_STUB_CHILD, str(latency), str(BENCH)]
    child = subprocess.Popen(
        [sys.executable, "-c", *code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def stop_server(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=30)


def accepted(url: str, kind: str) -> Counter[str]:
    """How many times the server accepted each recipient."""
    if kind == "moto":
        return Counter(a for m in read_outbox(url) for a in m.recipients)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/stats", timeout=60) as answer:
        return Counter(json.loads(answer.read()))


def boto3_client(url: str) -> Any:
    """A plain boto3 SES client, retries off as for amlses's sends."""
    retries: Any = {"total_max_attempts": 1, "mode": "standard"}
    keys = {"aws_access_key_id": KEY, "aws_secret_access_key": SECRET}
    return boto3.client(
        "ses", endpoint_url=url, region_name="us-east-1", **keys, config=Config(retries=retries)
    )


def seed(url: str, loop_rows: int) -> None:
    """The verified sender, the loop's recipients (as identities) and the template."""
    client = boto3_client(url)
    client.verify_email_identity(EmailAddress=SENDER)
    for i in range(loop_rows - 1):
        client.verify_email_identity(EmailAddress=f"loop{i}@example.com")
    client.create_template(
        Template={"TemplateName": TEMPLATE, "SubjectPart": "Hi {{Name}}", "TextPart": "x"}
    )


# --------------------------------------------------------------------------------------------
# The three ways to send


class Case(NamedTuple):
    templated: bool
    rate: int

    @property
    def name(self) -> str:
        return f"{'templated' if self.templated else 'row'}:{self.rate}"

    @property
    def title(self) -> str:
        return "SendBulkTemplatedEmail" if self.templated else "SendEmail per row"


def parse_cases(text: str) -> list[Case]:
    cases = []
    for item in text.split(","):
        mode, _, rate = item.strip().partition(":")
        if mode not in ("row", "templated") or not rate.isdigit():
            raise SystemExit(f"a case is row:RATE or templated:RATE, not {item!r}")
        cases.append(Case(mode == "templated", int(rate)))
    return cases


class Result(NamedTuple):
    sent: int
    seconds: float
    cpu: float  # process CPU seconds, every thread

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds

    @property
    def cpu_per_send(self) -> float:
        return self.cpu / max(self.sent, 1)


def timed(action: Callable[[], int]) -> Result:
    cpu, wall = time.process_time(), time.perf_counter()
    sent = action()
    return Result(sent, time.perf_counter() - wall, time.process_time() - cpu)


def emails_for(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}@example.com" for i in range(count)]


#: where the bulk sender's parts have lived (it is being split up): searched in this order
_BULK_MODULES = ("amlses.mail.bulk_runner", "amlses.mail.rows", "amlses.mail.bulk")


def bulk_internal(*names: str, default: Any = None) -> Any:
    """The first of ``names`` found in the bulk sender's modules (private names: the bench
    follows the code as it moves), else ``default``."""
    import importlib

    for module_name in _BULK_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            if hasattr(module, name):
                return getattr(module, name)
    return default


def amlses_workers(case: Case) -> int:
    """The worker threads amlses starts for ``case`` (its formula, in its bulk runner)."""
    most = int(bulk_internal("_MAX_WORKERS", "MAX_WORKERS", default=32))
    latency = float(bulk_internal("_ASSUMED_LATENCY", "ASSUMED_LATENCY", default=0.15))
    calls = case.rate / (50 if case.templated else 1)
    return max(1, min(most, math.ceil(calls * latency) + 1))


def amlses_library(
    session: SesSession, case: Case, emails: list[str], journal: Path | None
) -> Result:
    """``mail.send_bulk_email`` on ``emails`` (with a Name each when templated)."""
    rows = [BulkRecipient(i, e, {"Name": f"N{i}"}) for i, e in enumerate(emails, start=1)]
    content: dict[str, Any] = (
        {"template": TEMPLATE} if case.templated else {"subject": "Bulk", "text": "At the rate."}
    )
    if HAS_JOURNAL:
        content["journal"] = journal

    def send() -> int:
        report = mail.send_bulk_email(
            session, rows, sender=SENDER, max_send_rate=case.rate, **content
        )
        return sum(1 for d in report.deliveries if d.Status == "Success")

    return timed(send)


def bulk_task(url: str, csv_file: Path, rate: int, templated: bool) -> str:
    content = f'TEMPLATE="{TEMPLATE}"' if templated else 'SUBJECT="Bulk" TEXTBODY="At the rate."'
    return (
        f'<AMAWSSES ACTIVITY="send_bulk_email" ACCESSKEY="{KEY}" SECRETKEY="{SECRET}" '
        f'SERVICEURL="{url}" FROM="{SENDER}" CSVFILE="{csv_file}" TOFIELD="Email" {content} '
        f'MAXSENDRATE="{rate}" RESULTDATASET="Sent" />\n'
    )


def write_csv(path: Path, emails: list[str]) -> Path:
    path.write_text("Email,Name\n" + "".join(f"{e},N{i}\n" for i, e in enumerate(emails, 1)))
    return path


def run_task(
    task: str, name: str, cache: ClientCache, options: RunOptions | None = None
) -> api.RunResult:
    result = api.run(task, name, options=options or RunOptions(), cache=cache)
    if not result.ok:
        raise SystemExit(f"{name} failed: {result.error}")
    return result


def amlses_task(
    url: str, cache: ClientCache, case: Case, emails: list[str], folder: Path, journal: bool
) -> Result:
    """The whole AML task a user runs: parse, check, CSV, the bulk step, its dataset; with the
    step's journal (in ``folder``) on or off when the runner has the option."""
    csv_file = write_csv(folder / f"{emails[0].partition('-')[0]}.csv", emails)
    task = bulk_task(url, csv_file, case.rate, case.templated)
    settings: dict[str, Any] = {}
    if TASK_JOURNAL:
        settings = {"journal": journal, "journal_dir": str(folder / "journals")}
    options = RunOptions(**settings)

    def send() -> int:
        result = run_task(task, "bulk.aml", cache, options)
        return sum(1 for row in result.datasets["Sent"].rows if row[2] == "Success")

    return timed(send)


class SimpleBucket:
    """The token bucket a user would write: ``rate`` a second, bursts of a tenth of a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 10) / rate  # seconds of credit
        self.lock = threading.Lock()
        self.free = time.monotonic()

    def take(self, tokens: int) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(self.free, now - self.burst)
            self.free = start + tokens / self.rate
        if start > now:
            time.sleep(start - now)


def boto3_baseline(client: Any, case: Case, emails: list[str], workers: int) -> Result:
    """Plain boto3 on a thread pool at the case's rate; the number of recipients accepted.

    Like amlses it keeps a line per row (row, address, status, MessageId) until the end."""
    bucket = SimpleBucket(case.rate)
    size = 50 if case.templated else 1
    batches = [list(enumerate(emails[i : i + size], i + 1)) for i in range(0, len(emails), size)]
    Line = tuple[int, str, str, str]

    def one(batch: list[tuple[int, str]]) -> list[Line]:
        bucket.take(len(batch))
        try:
            if not case.templated:
                answer = client.send_email(
                    Source=SENDER,
                    Destination={"ToAddresses": [batch[0][1]]},
                    Message={
                        "Subject": {"Data": "Bulk", "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": "At the rate.", "Charset": "UTF-8"}},
                    },
                )
                return [(batch[0][0], batch[0][1], "Success", answer["MessageId"])]
            response = client.send_bulk_templated_email(
                Source=SENDER,
                Template=TEMPLATE,
                DefaultTemplateData="{}",
                Destinations=[
                    {
                        "Destination": {"ToAddresses": [email]},
                        "ReplacementTemplateData": json.dumps({"Name": f"N{i}"}),
                    }
                    for i, email in batch
                ],
            )
            return [
                (i, email, status.get("Status") or "Success", status.get("MessageId", ""))
                for (i, email), status in zip(batch, response["Status"], strict=False)
            ]
        except (ClientError, BotoCoreError) as error:
            return [(i, email, str(error), "") for i, email in batch]

    def send() -> int:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            lines = [line for lines in pool.map(one, batches) for line in lines]
        return sum(1 for line in lines if line[2] == "Success")

    return timed(send)


# --------------------------------------------------------------------------------------------
# The measurements


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


class Bench:
    """One server, warm clients, and every recipient sent to (for the exactly-once check)."""

    def __init__(self, args: argparse.Namespace, url: str, folder: Path) -> None:
        self.args, self.url, self.folder = args, url, folder
        self.cache = ClientCache()  # warm and shared by every run: model loading is not measured
        self.session = SesSession(
            endpoint_url=url, access_key=KEY, secret_key=SECRET, cache=self.cache
        )
        self.client = boto3_client(url)  # botocore's default pool of 10, as amlses's client
        self.expected: Counter[str] = Counter()

    def recipients(self, prefix: str, count: int) -> list[str]:
        emails = emails_for(prefix, count)
        self.expected.update(emails)
        return emails

    def warm_up(self) -> None:
        for templated in (False, True):
            case = Case(templated, 1000)
            self.amlses(case, self.recipients(f"warm{templated:d}a", 60), journal=True)
            self.boto3(case, self.recipients(f"warm{templated:d}b", 60))

    @property
    def journal(self) -> bool:
        """Whether the journal can be switched on and off (for the way amlses is run)."""
        return TASK_JOURNAL if self.args.via == "task" else HAS_JOURNAL

    def amlses(self, case: Case, emails: list[str], *, journal: bool) -> Result:
        if self.args.via == "task":
            return amlses_task(self.url, self.cache, case, emails, self.folder, journal)
        path = self.folder / f"{emails[0].partition('-')[0]}.journal" if journal else None
        return amlses_library(self.session, case, emails, path)

    def boto3(self, case: Case, emails: list[str]) -> Result:
        workers = amlses_workers(case)
        return boto3_baseline(self.client, case, emails, workers)

    def case(self, case: Case) -> dict[str, Result]:
        """The three ways, each on its own recipients, in ``--rounds`` interleaved parts (in
        a rotating order), so that a busy moment of the machine hits them alike."""
        count = max(1, int(case.rate * self.args.seconds / self.args.rounds))
        ways: list[tuple[str, Callable[[list[str]], Result]]] = [
            ("amlses", lambda e: self.amlses(case, e, journal=True)),
            ("boto3", lambda e: self.boto3(case, e)),
        ]
        if self.journal:
            ways.insert(1, ("no journal", lambda e: self.amlses(case, e, journal=False)))
        parts: dict[str, list[Result]] = {way: [] for way, _ in ways}
        for n in range(self.args.rounds):
            for way, send in ways[n % len(ways) :] + ways[: n % len(ways)]:
                prefix = f"{'t' if case.templated else 'r'}{case.rate}n{n}{way[0]}"
                parts[way].append(send(self.recipients(prefix, count)))
        return {
            way: Result(*map(sum, zip(*results, strict=True))) for way, results in parts.items()
        }


def pct(value: float) -> str:
    return f"{value:+.1f} %" if math.isfinite(value) else "n/a"


def table(bench: Bench, cases: list[Case], loop_rate: float | None) -> None:
    via = "AML task" if bench.args.via == "task" else "library"
    print(
        f"achieved/rate (fraction of MaxSendRate) and process CPU ms per message sent; "
        f"amlses through the {via}"
    )
    print(
        f"{'case':<23}{'rate/s':>7}{'rows':>7}{'amlses':>8}{'no jrnl':>8}{'boto3':>7}"
        f"{'journal: rate':>15}{'CPU':>9}{'CPU ms: amlses':>16}{'no jrnl':>8}{'boto3':>7}"
        f"{'amlses/boto3':>13}{'vs loop':>9}"
    )
    outcome: dict[str, dict[str, Result]] = {}
    for case in cases:
        results = outcome[case.name] = bench.case(case)
        mine, base = results["amlses"], results["boto3"]
        off = results.get("no journal")
        rate_cost = (off.achieved / mine.achieved - 1) * 100 if off else math.nan
        cpu_cost = (mine.cpu_per_send / off.cpu_per_send - 1) * 100 if off else math.nan
        speed_up = f"{mine.achieved / loop_rate:8.1f}x" if loop_rate else f"{'':9}"
        off_rate = f"{off.achieved / case.rate:8.2f}" if off else f"{'-':>8}"
        off_cpu = f"{off.cpu_per_send * 1000:8.2f}" if off else f"{'-':>8}"
        print(
            f"  {case.title:<21}{case.rate:>7}{mine.sent:>7}{mine.achieved / case.rate:>8.2f}"
            f"{off_rate}{base.achieved / case.rate:>7.2f}{pct(rate_cost):>15}{pct(cpu_cost):>9}"
            f"{mine.cpu_per_send * 1000:>16.2f}{off_cpu}{base.cpu_per_send * 1000:>7.2f}"
            f"{mine.cpu_per_send / base.cpu_per_send:>13.2f}{speed_up}"
        )
    goals(bench, outcome)


def goals(bench: Bench, outcome: dict[str, dict[str, Result]]) -> None:
    rates = {
        name: outcome[name]["amlses"].achieved / int(name.partition(":")[2])
        for name in GOAL_CASES
        if name in outcome
    }
    shown = ", ".join(f"{name} {value:.3f}" for name, value in rates.items())
    met = all(value >= GOAL for value in rates.values())
    print(f"goal: amlses >= {GOAL} of MaxSendRate at {shown}: {'met' if met else 'NOT met'}")
    if not bench.journal:
        print("journal: not available yet")
    else:
        costs = {
            name: (r["no journal"].achieved / r["amlses"].achieved - 1) * 100
            for name, r in outcome.items()
        }
        worst = max(costs, key=lambda name: costs[name])
        verdict = "met" if costs[worst] <= JOURNAL_GOAL else "NOT met"
        print(
            f"goal: journal cost <= {JOURNAL_GOAL:g} % of the rate: {verdict} "
            f"(worst {pct(costs[worst])} at {worst})"
        )
    for templated in (False, True):
        own = [
            (r["amlses"].cpu_per_send - r["boto3"].cpu_per_send) * 1000
            for name, r in outcome.items()
            if name.startswith("templated" if templated else "row")
        ]
        if own:
            mode = "templated" if templated else "per row"
            print(
                f"amlses's own CPU per message {mode} (amlses - boto3): "
                + ", ".join(f"{ms:+.3f} ms" for ms in own)
            )


def measure(args: argparse.Namespace, url: str, folder: Path) -> None:
    bench = Bench(args, url, folder)
    bench.warm_up()
    loop_rate = None
    if args.loop_rows > 0:
        start = time.perf_counter()
        run_task(loop_task(url), "loop.aml", bench.cache)
        seconds = time.perf_counter() - start
        loop_rate = args.loop_rows / seconds
        bench.expected.update(f"loop{i}@example.com" for i in range(args.loop_rows - 1))
        bench.expected[SENDER] += 1  # the loop sends to every identity, the sender included
        print(
            f"plain AML loop of send_email: {args.loop_rows} rows in {seconds:.2f} s = "
            f"{loop_rate:.1f} messages/s"
        )
    table(bench, parse_cases(args.cases), loop_rate)
    delivered = accepted(url, args.server)
    print(
        f"each of {len(bench.expected)} recipients accepted exactly once: "
        f"{'yes' if delivered == bench.expected else 'NO'}"
    )


# --------------------------------------------------------------------------------------------
# Where the CPU goes (--profile)


def profiled(action: Callable[[], Result]) -> tuple[Result, Any]:
    """``action`` with cProfile in every thread it starts (and this one); merged stats.

    The timer is each thread's CPU time, so waiting (the bucket's sleeps, locks, sockets)
    costs nothing and a function's time is the CPU it used."""
    import cProfile
    import pstats

    profiles: list[cProfile.Profile] = []
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile(time.thread_time)
    try:
        main.enable()
        result = action()
        main.disable()
    finally:
        threading.Thread.run = original  # type: ignore[method-assign]
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    return result, stats


def _bucket(filename: str) -> str:
    for part in ("amlses", "botocore", "boto3", "urllib3", "sqlite3", "json", "threading"):
        if f"/{part}/" in filename or filename.endswith(f"/{part}.py"):
            return part
    if filename == "~":
        return "builtins"
    return "other stdlib" if "python3" in filename else "other"


def own_costs(stats: Any) -> dict[str, float]:
    """amlses's own CPU: its functions' own time, plus the time of what they call outside
    amlses, botocore and boto3 (the SES call itself is the baseline's work too): cumulative
    for Python functions, own for builtins."""
    costs: Counter[str] = Counter()
    for func, (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        filename, line, name = func
        if "/amlses/" in filename:
            costs[f"{filename.split('/amlses/')[-1]}:{line} {name}"] += tottime
            continue
        if _bucket(filename) in ("botocore", "boto3"):
            continue
        for caller, (_ccc, _cnc, own, cumulative) in callers.items():
            if "/amlses/" in caller[0]:
                where = f"{caller[0].split('/amlses/')[-1]}:{caller[1]} {caller[2]}"
                # a builtin's cumulative time holds the generators it consumed (amlses code,
                # counted already): its own time only
                costs[f"  {name} (from {where})"] += own if filename == "~" else cumulative
    return dict(costs)


def helpers() -> None:
    """What the per-row helpers cost without a profiler (timeit, microseconds a call)."""
    import timeit

    from amlses.mail import address_of, parse_addresses, parse_template_data

    address, key = "someone-12345@example.com", bulk_internal("recipient_key", default=str)
    calls: list[tuple[str, Callable[[], object]]] = [
        ("parse_addresses(address)", lambda: parse_addresses(address, "row 1")),
        ("address_of(address)", lambda: address_of(address)),
        ("recipient_key([address])", lambda: key([address])),
        ("parse_template_data({'Name': 'N1'})", lambda: parse_template_data({"Name": "N1"})),
        ("json.dumps({'Name': 'N1'}) (for scale)", lambda: json.dumps({"Name": "N1"})),
    ]
    print("\nper-row helpers without a profiler, us a call:")
    for what, call in calls:
        best = min(timeit.repeat(call, number=2000, repeat=5)) / 2000
        print(f"  {best * 1e6:7.2f}  {what}")


def profile(args: argparse.Namespace, url: str, folder: Path) -> None:
    helpers()
    bench = Bench(args, url, folder)
    bench.warm_up()
    print(
        "cProfile in every thread, timed by each thread's CPU clock (profiling slows "
        "everything several times: compare shares, not rates); microseconds per message sent"
    )
    for n, case in enumerate(parse_cases(args.profile_cases)):
        count = max(1, int(case.rate * args.seconds))
        mails, base_mails = bench.recipients(f"p{n}a", count), bench.recipients(f"p{n}b", count)
        mine, mine_stats = profiled(partial(bench.amlses, case, mails, journal=True))
        base, base_stats = profiled(partial(bench.boto3, case, base_mails))
        print(f"\n{case.title} at {case.rate}/s, {count} rows")
        for way, result, stats in (("amlses", mine, mine_stats), ("boto3", base, base_stats)):
            buckets: Counter[str] = Counter()
            for (filename, _line, _name), row in stats.stats.items():
                buckets[_bucket(filename)] += row[2]
            total = sum(buckets.values())
            shares = ", ".join(
                f"{b} {t / max(result.sent, 1) * 1e6:.0f}" for b, t in buckets.most_common(7)
            )
            print(
                f"  {way:<7} total {total / max(result.sent, 1) * 1e6:.0f} us/message "
                f"(process CPU {result.cpu_per_send * 1e6:.0f}); by package, us: {shares}"
            )
        costs = own_costs(mine_stats)
        own = sum(v for k, v in costs.items() if not k.startswith("  "))
        called = sum(v for k, v in costs.items() if k.startswith("  "))
        per = 1e6 / max(mine.sent, 1)
        print(
            f"  amlses's own: {own * per:.0f} us/message in its functions + {called * per:.0f} "
            f"in what they call outside botocore; the top {args.top}:"
        )
        for key, value in sorted(costs.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"    {value * per:8.1f} us  {key.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="rows per way = rate x S")
    parser.add_argument("--latency", type=float, default=20, help="ms added to every send")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved parts per case")
    parser.add_argument("--loop-rows", type=int, default=100, help="rows of the AML loop (0: none)")
    parser.add_argument(
        "--cases",
        default="row:50,row:200,row:500,row:1000,templated:1000",
        help="row:RATE or templated:RATE, comma-separated",
    )
    parser.add_argument("--server", choices=("moto", "stub"), default="moto")
    parser.add_argument("--via", choices=("library", "task"), default="library")
    parser.add_argument("--profile", action="store_true", help="where the CPU goes, not rates")
    parser.add_argument("--profile-cases", default="row:1000,templated:1000")
    parser.add_argument("--top", type=int, default=15, help="lines of the profile")
    args = parser.parse_args()

    child, url = start_server(args.latency / 1000, args.server)
    try:
        seed(url, args.loop_rows)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        server = "moto SES" if args.server == "moto" else "the SES stub"
        print(
            f"bulk_send: {server} in a child process, {args.latency:g} ms added to every send "
            f"(the network round trip); {os.cpu_count()} CPUs, load average {load}"
        )
        with tempfile.TemporaryDirectory() as folder:
            (profile if args.profile else measure)(args, url, Path(folder))
        print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        stop_server(child)


if __name__ == "__main__":
    main()

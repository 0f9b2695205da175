"""``amlses journal``: the sends the journal remembers — list them, show one, forget one.

Every bulk send of ``amlses run`` keeps a journal (:mod:`amlses.mail.journal`), so a rerun
resumes it rather than mailing anyone twice.  These commands make that memory visible: which
sends are open (a rerun resumes them) or finished, how their rows ended, every row with its
MessageId as CSV, and a way to forget a send on purpose (the next run then sends to everyone).

Only click is imported at first; sqlite3 and the journal module come with a command, so
registering the group costs ``amlses --help`` nothing.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from ..errors import AmlError, failure_text

if TYPE_CHECKING:
    from ..mail.journal import JournalRow, SendInfo

__all__ = ["journal"]

_DIR = click.option(
    "--journal-dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Where the journals are (default: AMLSES_JOURNAL_DIR, else the user's state folder).",
)
#: the order statuses are counted in, the rest after them
_ORDER = ("Success", "AlreadySent", "Duplicate", "Unknown", "InFlight", "Pending", "NotSent")


def _folder(given: str | None) -> Path:
    from ..mail.journal import default_journal_dir

    return Path(given) if given else default_journal_dir()


def _fail(error: BaseException) -> NoReturn:
    text, code = failure_text(error)
    click.echo(f"amlses: {text}", err=True)
    sys.exit(code)


def _counts(info: SendInfo) -> str:
    """``3 Success, 1 Unknown`` in a fixed order: what matters first."""
    known = [s for s in _ORDER if s in info.counts]
    rest = sorted(s for s in info.counts if s not in _ORDER)
    return ", ".join(f"{info.counts[s]:,} {s}" for s in (*known, *rest)) or "no rows"


def _state(info: SendInfo) -> str:
    if info.meta.get("campaign"):
        return "campaign"
    return "finished" if info.finished else "open"


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def _as_dict(info: SendInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "path": str(info.path),
        "task": info.meta.get("task", ""),
        "step": info.meta.get("step", ""),
        "campaign": info.meta.get("campaign", ""),
        "state": _state(info),
        "created": info.meta.get("created", ""),
        "updated": _when(info.updated),
        "counts": info.counts,
    }


@click.group(
    "journal",
    short_help="List, show or forget the sends the journal remembers.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def journal() -> None:
    """The send journal: each bulk send's recipients and how each one ended.

    \b
    A rerun of a task resumes its open sends (nobody is mailed twice); a finished send run
    again is a new send.  A campaign (CAMPAIGN="…") is never finished: nobody on it is
    ever mailed twice under its name.
    """


@journal.command("list")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the sends as JSON.")
def list_command(journal_dir: str | None, as_json: bool) -> None:
    """List every send: id, state (open, finished, campaign), when, task, step, counts."""
    from ..mail.journal import list_sends

    try:
        folder = _folder(journal_dir)
        sends = list_sends(folder)
    except (AmlError, OSError) as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps([_as_dict(s) for s in sends], indent=2))
        return
    if not sends:
        click.echo(f"no sends in {folder}")
        return
    for info in sends:
        campaign = info.meta.get("campaign")
        what = f"campaign {campaign}" if campaign else info.meta.get("step", "")
        click.echo(f"{info.id}  {_state(info):<8}  {_when(info.updated)}")
        click.echo(f"    {info.meta.get('task', '?')}: {what}")
        click.echo(f"    {_counts(info)}")


@journal.command("show")
@click.argument("send_id", metavar="ID")
@_DIR
@click.option(
    "--csv",
    "csv_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write every row (Row, Recipient, Status, MessageId, Error) to FILE (created 0600).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the send as JSON.")
def show(send_id: str, journal_dir: str | None, csv_file: str | None, as_json: bool) -> None:
    """Show one send (ID or the start of it): where it came from and how its rows ended."""
    from ..mail.journal import find_send, read_rows

    try:
        info = find_send(_folder(journal_dir), send_id)
        if csv_file:
            rows = read_rows(info)
            _write_csv(Path(csv_file), rows)
    except (AmlError, OSError) as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps(_as_dict(info), indent=2))
        return
    click.echo(f"send      {info.id} ({_state(info)})")
    click.echo(f"journal   {info.path}")
    for name in ("task", "step", "campaign", "created"):
        if info.meta.get(name):
            click.echo(f"{name:<9} {info.meta[name]}")
    click.echo(f"updated   {_when(info.updated)}")
    click.echo(f"rows      {info.total:,}: {_counts(info)}")
    if info.meta.get("doubt_bound"):
        click.echo(
            f"bound     after a kill at any instant, at most {info.meta['doubt_bound']} rows "
            "could be in doubt"
        )
    if csv_file:
        click.echo(f"wrote {info.total:,} rows to {csv_file}")


def _write_csv(path: Path, rows: list[JournalRow]) -> None:
    """The rows as CSV, private (it lists every recipient's address): a new file is made
    0600, an existing one is made 0600 before anything is written, and a symbolic link is not
    followed (it could point anywhere)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Row", "Recipient", "Status", "MessageId", "Error"])
        for row in rows:
            writer.writerow([row.row, row.recipient, row.status, row.message_id, row.error])


@journal.command("forget")
@click.argument("send_id", metavar="ID")
@_DIR
@click.option("--yes", is_flag=True, help="Do not ask; forget the send.")
def forget(send_id: str, journal_dir: str | None, yes: bool) -> None:
    """Delete one send's journal: running its task again then sends to every recipient."""
    from ..mail.journal import find_send, forget_send

    try:
        info = find_send(_folder(journal_dir), send_id)
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError("give --yes to forget a send without a terminal to ask")
            click.confirm(
                f"Forget send {info.id} ({_counts(info)})? Running its task again will send "
                "to every recipient again",
                abort=True,
            )
        forget_send(info)
    except (AmlError, OSError) as error:
        _fail(error)
    click.echo(f"forgot send {info.id}")

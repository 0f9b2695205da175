"""``amlses stats``: the last two weeks of SES sending, drawn, with the rates SES reviews.

``GetSendStatistics`` gives up to 1,344 rows of 15-minute counts; this command sums them per
hour or per day (whatever fits the terminal), draws delivery attempts, bounces, complaints and
rejects as bar charts, and marks the bounce and complaint rates OK / WARNING / AT RISK against
SES's review thresholds.  ``--png``/``--svg`` write the same picture with matplotlib (the
``plot`` extra), ``--json`` prints the buckets and rates for other tools.

The statistics are fetched through :class:`amlses.ses.SesSession`, so credentials, profiles,
regions, endpoints and errors behave as in ``amlses run``.  Everything after the fetch is
:func:`show`, a function of the points alone, which the tests call with generated data.
Heavy imports (boto3, rich, matplotlib, moto) happen inside the functions, so registering the
command costs ``amlses --help`` nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ..errors import AmlError, UsageError, failure_text

if TYPE_CHECKING:
    from ..aws.connection import Connection
    from ..redact import Redactor
    from ..ses import SendDataPoint, SendQuota

__all__ = ["fetch", "show", "stats"]

#: how many buckets a PNG or SVG may have: two weeks per hour (336) fit, so figures are hourly
_FIGURE_COLUMNS = 400


@click.command(
    "stats",
    short_help="Chart the last two weeks of sending and the bounce/complaint rates.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--profile",
    metavar="NAME",
    help="AWS profile to use (default: AWS_PROFILE, else the default credential chain).",
)
@click.option("--region", metavar="REGION", help="SES region (default: your AWS configuration).")
@click.option("--endpoint-url", metavar="URL", help="SES endpoint, e.g. an SES-compatible one.")
@click.option(
    "--local",
    is_flag=True,
    help="Ask a local SES emulator (moto) started for this command; it has no sending history.",
)
@click.option(
    "--png",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write the chart as a PNG image (needs the 'plot' extra: matplotlib).",
)
@click.option(
    "--svg",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write the chart as an SVG image (needs the 'plot' extra: matplotlib).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the hourly buckets and the rates as JSON."
)
def stats(
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    local: bool,
    png: str | None,
    svg: str | None,
    as_json: bool,
) -> None:
    """Draw delivery attempts, bounces, complaints and rejects over the last two weeks.

    \b
    amlses stats                        real SES, AWS credentials as usual
    amlses stats --png stats.png        also write the chart as an image
    amlses stats --json                 buckets and rates for other tools

    The bounce rate (bounces / delivery attempts) and the complaint rate (complaints /
    delivery attempts) are marked OK, WARNING (SES places an account under review at 5 % and
    0.1 %) or AT RISK (sending may be paused at 10 % and 0.5 %).  SES computes its own rates
    over a representative volume of mail, so these are an early indication.
    """
    from ..redact import Redactor

    redactor = Redactor()
    try:
        if local and endpoint_url:
            raise UsageError("--local and --endpoint-url both say where SES is: give one")
        from ..charts import require_matplotlib

        if png:  # before any request: a missing extra must not cost a round trip first
            require_matplotlib("--png")
        if svg:
            require_matplotlib("--svg")
        quota, points = _fetch_for(profile, region, endpoint_url, local)
        show(quota, points, png=png, svg=svg, as_json=as_json)
    except AmlError as error:
        _fail(error, redactor)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error, redactor)


def _fetch_for(
    profile: str | None, region: str | None, endpoint_url: str | None, local: bool
) -> tuple[SendQuota, list[SendDataPoint]]:
    """The statistics from SES, or from an emulator started (and stopped) for the command."""
    from ..aws.connection import LOCAL_ACCESS_KEY, LOCAL_SECRET, Connection

    if not local:
        return fetch(Connection(profile=profile, region=region, endpoint_url=endpoint_url))
    from ..emulator import LocalEmulator

    with LocalEmulator() as emulator:
        click.echo(f"local SES emulator at {emulator.endpoint_url}", err=True)
        return fetch(
            Connection(
                access_key=LOCAL_ACCESS_KEY,
                secret_key=LOCAL_SECRET,
                region=region,
                endpoint_url=emulator.endpoint_url,
            )
        )


def fetch(connection: Connection) -> tuple[SendQuota, list[SendDataPoint]]:
    """``GetSendQuota`` and ``GetSendStatistics`` over ``connection``, through SesSession."""
    from ..ses import SesSession

    with SesSession(connection) as ses:
        return ses.email_statistics()


def show(
    quota: SendQuota | None,
    points: Sequence[SendDataPoint],
    *,
    png: str | None = None,
    svg: str | None = None,
    as_json: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    width: int | None = None,
) -> None:
    """Everything ``amlses stats`` does after the fetch, for any points in any order.

    The terminal chart is bucketed to fit ``width`` columns (the terminal's by default); the
    images and the JSON document are hourly (coarser only beyond two weeks of data).  "wrote
    FILE" lines go to ``err``, so that ``out`` holds only the chart or the JSON document.
    """
    import json

    from .. import charts
    from ..stats import choose_width, summarize, to_json

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if png or svg:
        figure = summarize(points, choose_width(points, _FIGURE_COLUMNS), quota)
        for path in (p for p in (png, svg) if p):
            written = charts.write_figure(figure, path)
            click.echo(f"wrote {written}", file=err)
    if as_json:
        hourly = summarize(points, choose_width(points, _FIGURE_COLUMNS), quota)
        click.echo(json.dumps(to_json(hourly), indent=2), file=out)
        return
    console = _console(out, width)
    columns = charts.chart_columns(console.width)
    charts.print_statistics(summarize(points, choose_width(points, columns), quota), console)


def _console(out: IO[str], width: int | None) -> Any:
    from rich.console import Console

    return Console(file=out, width=width, highlight=False, soft_wrap=False)


def _fail(error: BaseException, redactor: Redactor) -> NoReturn:
    """One redacted ``amlses:`` paragraph on stderr and the error's exit code, as in ``run``."""
    text, code = failure_text(error, "the command line")
    click.echo(redactor(f"amlses: {text}"), err=True)
    sys.exit(code)

"""Sending statistics as pictures: bar charts in the terminal (rich) and PNG/SVG (matplotlib).

Both draw the same :class:`~amlses.stats.Statistics`: the four counted series on one time axis
and the period's bounce and complaint rates against SES's review thresholds.  The arithmetic
lives in :mod:`amlses.stats`; this module only decides how it looks.

rich and matplotlib are imported inside the functions that draw, so that ``amlses --help``
does not pay for them; matplotlib is an optional extra (``amlses[plot]``) and
:func:`require_matplotlib` turns its absence into one clear usage error.  The figure is built
on :class:`matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``: no GUI
backend is ever chosen, no global figure registry grows, and two threads may draw at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .errors import UsageError
from .stats import BOUNCE, COMPLAINT, DAY, HOUR, SERIES, Level, Rate, Statistics, Threshold

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

__all__ = [
    "AT_RISK_COLOR",
    "EMPTY_MESSAGE",
    "FIGURE_COLORS",
    "FIGURE_DPI",
    "FIGURE_SIZE",
    "LABELS",
    "WARNING_COLOR",
    "bar_rows",
    "chart_columns",
    "print_statistics",
    "require_matplotlib",
    "terminal_chart",
    "time_axis",
    "write_figure",
]

#: the series' names as the charts label them
LABELS: Final = {
    "DeliveryAttempts": "Delivery attempts",
    "Bounces": "Bounces",
    "Complaints": "Complaints",
    "Rejects": "Rejects",
}
#: terminal styles of the series and of the three levels
_STYLES: Final = {
    "DeliveryAttempts": "cyan",
    "Bounces": "yellow",
    "Complaints": "magenta",
    "Rejects": "red",
}
_LEVEL_STYLES: Final = {
    Level.OK: "bold green",
    Level.WARNING: "bold yellow",
    Level.AT_RISK: "bold red",
}

#: the figure's series colours (matplotlib's "tab" palette, minus orange and red: those two
#: mean "warning" and "at risk" on the rate panels, and must not be confused with a series)
FIGURE_COLORS: Final = {
    "DeliveryAttempts": "#1f77b4",
    "Bounces": "#8c564b",
    "Complaints": "#9467bd",
    "Rejects": "#7f7f7f",
}
WARNING_COLOR: Final = "#ff9f00"
AT_RISK_COLOR: Final = "#d62728"
#: the default figure: 11 × 8 inches at 100 dpi, i.e. 1100 × 800 pixels
FIGURE_SIZE: Final = (11.0, 8.0)
FIGURE_DPI: Final = 100

_BLOCKS: Final = " ▁▂▃▄▅▆▇█"
_ZERO: Final = "·"
_LABEL_WIDTH: Final = 16
_INDENT: Final = 2
_AXIS_SUFFIX: Final = "  UTC"
#: rows of each series' bar chart in the terminal: 3 rows × 8 eighths = 24 levels
BAR_HEIGHT: Final = 3
EMPTY_MESSAGE: Final = "no sending in the last two weeks"


# --------------------------------------------------------------------------------------------
# The terminal


def chart_columns(console_width: int) -> int:
    """How many buckets fit in a terminal this wide: the bars are indented, and the axis line
    ends with "  UTC" after the last label."""
    return max(12, console_width - _INDENT - len(_AXIS_SUFFIX))


def bar_rows(values: Sequence[int], height: int = BAR_HEIGHT) -> list[str]:
    """``values`` as a bar chart ``height`` rows high, one character per value, top row first.

    Bars are scaled to the largest value; any value above zero is at least one eighth high, so
    a single complaint among thousands of attempts still shows.  Zero — sent nothing, or no
    data point at all — is a dot on the baseline, the same for both.
    """
    peak = max(values, default=0)
    levels = height * 8
    rows = [[" "] * len(values) for _ in range(height)]
    for column, value in enumerate(values):
        if value <= 0 or peak <= 0:
            rows[-1][column] = _ZERO
            continue
        filled = max(1, round(value / peak * levels))
        for row in range(height):
            floor = (height - 1 - row) * 8
            rows[row][column] = _BLOCKS[min(8, max(0, filled - floor))]
    return ["".join(row) for row in rows]


def time_axis(starts: Sequence[datetime], width: timedelta) -> tuple[str, str]:
    """A tick line and a label line under ``len(starts)`` columns, as long as the chart.

    Labels go where a day (or, within a day, a round hour) begins, left to right, as many as
    fit with a space between them; each label starts under its tick.
    """
    ticks = ["─"] * len(starts)
    labels = [" "] * len(starts)
    free = 0  # the first column a new label may use
    span = (starts[-1] - starts[0] + width) if starts else width
    step = _hour_step(span) if width < DAY else None
    for column, start in enumerate(starts):
        if width < DAY:
            at_midnight = start.hour == 0 and start.minute == 0
            round_hour = step is not None and start.minute == 0 and start.hour % step == 0
            if not (at_midnight or round_hour):
                continue
            text = start.strftime("%m-%d") if at_midnight else start.strftime("%H:%M")
        else:
            text = start.strftime("%m-%d")
        if column < free or column + len(text) > len(starts):
            continue
        ticks[column] = "┬"
        labels[column : column + len(text)] = text
        free = column + len(text) + 1
    return "".join(ticks), "".join(labels)


def _hour_step(span: timedelta) -> int | None:
    """Label every 3rd, 6th or 12th hour within a short period; none when days will do."""
    if span <= timedelta(hours=36):
        return 3
    if span <= timedelta(days=4):
        return 12
    return None


def _describe_width(width: timedelta) -> str:
    if width >= DAY and width % DAY == timedelta(0):
        days = width // DAY
        return "per day" if days == 1 else f"per {days} days"
    hours = width // HOUR
    return "per hour" if hours == 1 else f"per {hours} hours"


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "?"


def _rate_text(rate: Rate) -> Text:
    from rich.text import Text

    level = rate.level
    text = Text()
    text.append(f"{rate.threshold.name.capitalize():<{_LABEL_WIDTH}}")
    text.append(f"{rate.percent():>8}  ")
    if level is None:
        text.append(" " * 8)  # no level: nothing to compare with the thresholds
        text.append("  no delivery attempts", style="dim")
    else:
        text.append(f"{level:<8}", style=_LEVEL_STYLES[level])
        text.append(f"  {rate.count:,} of {rate.attempts:,} delivery attempts", style="dim")
    return text


def _threshold_note() -> Text:
    """SES's levels in two lines that fit 80 columns: the words WARNING and AT RISK explained."""
    from rich.text import Text

    return Text(
        f"SES reviews an account at a {_percent(BOUNCE.warning)} bounce or "
        f"{_percent(COMPLAINT.warning)} complaint rate (WARNING)\n"
        f"and may pause its sending at {_percent(BOUNCE.at_risk)} or "
        f"{_percent(COMPLAINT.at_risk)} (AT RISK).",
        style="dim",
    )


def _percent(fraction: Any) -> str:
    return f"{float(fraction) * 100:g} %"


def terminal_chart(stats: Statistics) -> RenderableType:
    """The chart of ``stats`` as one rich renderable (header, four bar charts, axis, rates).

    Each series is a title line (its total and its peak) over a bar chart indented by
    :data:`_INDENT`, so the bars get the whole width of the terminal but two columns.
    """
    from rich.console import Group
    from rich.text import Text

    if stats.sent_nothing:
        why = "no data points" if stats.empty else "data points of zeros only"
        return Text.assemble(EMPTY_MESSAGE, (f" (GetSendStatistics returned {why})", "dim"))
    buckets = stats.buckets
    every = _describe_width(stats.width)
    lines = [
        Text.assemble(
            ("SES sending statistics", "bold"),
            f"  {_stamp(stats.start)} to {_stamp(stats.end)} UTC, {every}",
        )
    ]
    if stats.quota is not None:
        quota = stats.quota
        limit = "unlimited" if quota.Max24HourSend < 0 else f"{quota.Max24HourSend:,.0f}"
        lines.append(
            Text(
                f"quota: {quota.SentLast24Hours:,.0f} of {limit} sent in the last 24 hours, "
                f"at most {quota.MaxSendRate:g} per second",
                style="dim",
            )
        )
    pad = " " * _INDENT
    for name in SERIES:
        values = stats.series(name)
        lines.append(Text(""))
        lines.append(
            Text.assemble(
                (LABELS[name], "bold"),
                (f"  {sum(values):,} in total, at most {max(values):,} {every}", "dim"),
            )
        )
        lines.extend(Text(pad + row, _STYLES[name], no_wrap=True) for row in bar_rows(values))
    ticks, labels = time_axis([bucket.start for bucket in buckets], stats.width)
    lines.append(Text(pad + ticks, "dim", no_wrap=True))
    lines.append(Text(f"{pad}{labels}{_AXIS_SUFFIX}", "dim", no_wrap=True, overflow="crop"))
    lines.append(Text(""))
    lines.append(_rate_text(stats.bounce_rate))
    lines.append(_rate_text(stats.complaint_rate))
    lines.append(_threshold_note())
    return Group(*lines)


def print_statistics(stats: Statistics, console: Console) -> None:
    """Print ``stats`` (see :func:`terminal_chart`) on ``console``."""
    console.print(terminal_chart(stats))


# --------------------------------------------------------------------------------------------
# PNG and SVG


def require_matplotlib(option: str = "--png") -> None:
    """Raise :class:`~amlses.errors.UsageError` (exit 2) when matplotlib cannot be imported.

    Called before any request, so that ``--png`` without the extra fails at once.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{option} needs matplotlib: pip install 'amlses[plot]'") from None


def write_figure(
    stats: Statistics,
    path: str | PathLike[str],
    *,
    size: tuple[float, float] = FIGURE_SIZE,
    dpi: int = FIGURE_DPI,
    image_format: str | None = None,
) -> Path:
    """Draw ``stats`` into ``path`` as PNG or SVG (by ``image_format``, else the suffix).

    The image is exactly ``size`` × ``dpi`` pixels (no tight bounding box): delivery attempts,
    then bounces, complaints and rejects, then the bounce rate and the complaint rate per
    bucket with SES's thresholds as horizontal lines.  Raises UsageError when matplotlib is
    missing or the file cannot be written.
    """
    require_matplotlib("--svg" if _format(path, image_format) == "svg" else "--png")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = Path(path)
    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    if stats.sent_nothing:
        figure.suptitle("Amazon SES sending statistics", fontweight="bold")
        figure.text(0.5, 0.5, EMPTY_MESSAGE, ha="center", va="center", fontsize="x-large")
    else:
        _draw(figure, stats)
    try:
        figure.savefig(target, format=_format(path, image_format), dpi=dpi)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def _format(path: str | PathLike[str], image_format: str | None) -> str:
    return (image_format or Path(path).suffix.lstrip(".") or "png").lower()


def _draw(figure: Any, stats: Statistics) -> None:
    """The four panels of :func:`write_figure` on ``figure``."""
    from matplotlib import dates, ticker

    # matplotlib.dates is not annotated (matplotlib 3.8-3.11): hence the three ignores below
    edges = dates.date2num(  # type: ignore[no-untyped-call]
        [b.start for b in stats.buckets] + [stats.end]
    )
    left = edges[:-1]
    bar_width = stats.width / DAY  # matplotlib's date unit is the day
    axes = figure.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2.2, 2, 2]})
    attempts, problems, bounce, complaint = axes

    attempts.bar(
        left,
        stats.series("DeliveryAttempts"),
        width=bar_width,
        align="edge",
        color=FIGURE_COLORS["DeliveryAttempts"],
        label=LABELS["DeliveryAttempts"],
    )
    attempts.set_ylabel(f"Delivery attempts\n{_describe_width(stats.width)}")
    # bounces filled underneath, so that the zero baseline the three lines share stays readable
    problems.stairs(
        stats.series("Bounces"),
        edges,
        fill=True,
        color=FIGURE_COLORS["Bounces"],
        alpha=0.45,
        label=LABELS["Bounces"],
    )
    for name in ("Complaints", "Rejects"):
        problems.stairs(
            stats.series(name), edges, color=FIGURE_COLORS[name], linewidth=1.6, label=LABELS[name]
        )
    problems.set_ylabel(f"Messages\n{_describe_width(stats.width)}")
    problems.legend(loc="upper left", ncols=3, fontsize="small", frameon=False).set_in_layout(False)

    _rate_panel(bounce, edges, stats, stats.bounce_rate, FIGURE_COLORS["Bounces"])
    _rate_panel(complaint, edges, stats, stats.complaint_rate, FIGURE_COLORS["Complaints"])
    for axis in axes:
        axis.grid(axis="y", color="#dddddd", linewidth=0.6)
        axis.set_axisbelow(True)
        axis.spines[["top", "right"]].set_visible(False)
        axis.yaxis.set_major_locator(
            ticker.MaxNLocator(nbins=4, integer=axis in (attempts, problems))
        )
    locator = dates.AutoDateLocator(  # type: ignore[no-untyped-call]
        tz=UTC, minticks=4, maxticks=12
    )
    complaint.xaxis.set_major_locator(locator)
    concise = dates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    complaint.xaxis.set_major_formatter(concise)
    complaint.set_xlim(edges[0], edges[-1])
    complaint.set_xlabel("Time (UTC)")
    figure.suptitle(
        f"Amazon SES sending statistics, {_stamp(stats.start)} to {_stamp(stats.end)} UTC\n"
        f"bounce rate {stats.bounce_rate.percent()} ({_level_word(stats.bounce_rate)}), "
        f"complaint rate {stats.complaint_rate.percent()} ({_level_word(stats.complaint_rate)})"
        f" over {stats.total('DeliveryAttempts'):,} delivery attempts",
        fontsize="large",
    )


def _level_word(rate: Rate) -> str:
    level = rate.level
    return "n/a" if level is None else str(level)


def _rate_panel(axis: Any, edges: Any, stats: Statistics, overall: Rate, color: str) -> None:
    """The rate over a trailing day at each bucket, the period's rate and SES's two levels.

    In percent, with a gap where the trailing day holds no delivery attempt.  The y axis always
    shows both thresholds, and is cut at twice the higher one: an outlier must not flatten the
    lines that matter (a value beyond is drawn at the top edge).
    """
    import math

    from matplotlib import ticker

    threshold: Threshold = overall.threshold
    rolling = stats.rolling_rates(threshold)
    values = [math.nan if r.value is None else r.value * 100 for r in rolling]
    warning, at_risk = float(threshold.warning) * 100, float(threshold.at_risk) * 100
    finite = [v for v in values if not math.isnan(v)]
    # headroom above the highest line for the legend; beyond 2.5 × at risk, clipped to the edge
    headroom = 1.4 if axis.figure.get_figwidth() >= 9 else 1.8
    top = min(at_risk * 2.5, max([at_risk, *finite]) * headroom)
    clipped = [min(v, top) for v in values]
    window = "24 hours" if stats.width < DAY else _describe_width(stats.width).removeprefix("per ")
    axis.stairs(
        clipped,
        edges,
        baseline=None,  # no drop to zero at the ends: 0 % is a value, not the frame
        color=color,
        linewidth=1.8,
        label=f"{threshold.name}, last {window}",
    )
    if overall.value is not None:
        axis.axhline(
            overall.value * 100,
            color=color,
            linewidth=1,
            linestyle=":",
            label=f"whole period: {overall.percent()}",
        )
    axis.axhline(
        warning,
        color=WARNING_COLOR,
        linewidth=2,
        linestyle="--",
        label=f"{warning:g} %: {threshold.warning_meaning}",
    )
    axis.axhline(
        at_risk,
        color=AT_RISK_COLOR,
        linewidth=2,
        label=f"{at_risk:g} %: {threshold.at_risk_meaning}",
    )
    axis.set_ylim(0, top)
    axis.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=None))
    axis.set_ylabel(threshold.name.capitalize())
    # four entries in a row on a wide figure, two on a narrow one; never part of the layout,
    # or constrained layout would narrow the axes to make room for a legend wider than they are
    wide = axis.figure.get_figwidth() >= 9
    legend = axis.legend(
        loc="upper left",
        ncols=4 if wide else 2,
        fontsize="small" if wide else "x-small",
        framealpha=0.85,
        edgecolor="none",
    )
    legend.set_in_layout(False)

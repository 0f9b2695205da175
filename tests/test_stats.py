"""``amlses stats``: bucketing, rates and thresholds, the terminal chart, PNG/SVG and the command.

The arithmetic (:mod:`amlses.stats`) is tested on generated points — unsorted, with gaps, with
zero attempts, at and around SES's thresholds.  The pictures are tested by what a reader
relies on: every line fits the terminal, zeros look alike, the PNG has the size asked for and
the threshold lines' colours are in it.  The command runs against moto over HTTP (which counts
the messages sent through it) and, with ``--local``, against the built-in emulator.
"""

from __future__ import annotations

import io
import json
import random
import sys
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from amlses import charts
from amlses.commands.stats import show, stats
from amlses.ses import SendDataPoint, SendQuota
from amlses.stats import (
    BOUNCE,
    COMPLAINT,
    DAY,
    HOUR,
    Bucket,
    Level,
    bucket_points,
    choose_width,
    classify,
    rate,
    summarize,
    to_json,
)

T0 = datetime(2026, 11, 18, 0, 0, tzinfo=UTC)


def point(
    minutes: int, attempts: int = 0, bounces: int = 0, complaints: int = 0, rejects: int = 0
) -> SendDataPoint:
    """A data point ``minutes`` after T0."""
    return SendDataPoint(T0 + timedelta(minutes=minutes), attempts, bounces, complaints, rejects)


def two_weeks(seed: int = 7, missing: float = 0.3) -> list[SendDataPoint]:
    """Generated statistics as SES keeps them: 15-minute points over 14 days, some absent,
    busy in office hours, about 3 % bounces and 0.2 % complaints, shuffled."""
    rng = random.Random(seed)
    points = []
    for index in range(14 * 24 * 4):
        moment = T0 + timedelta(minutes=15 * index)
        if rng.random() < missing:
            continue
        attempts = rng.randint(20, 80) if 8 <= moment.hour <= 18 else rng.randint(0, 3)
        bounces = sum(rng.random() < 0.03 for _ in range(attempts))
        complaints = sum(rng.random() < 0.002 for _ in range(attempts))
        points.append(
            SendDataPoint(moment, attempts, bounces, complaints, int(rng.random() < 0.01))
        )
    rng.shuffle(points)
    return points


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(stats, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# --------------------------------------------------------------------------------------------
# Bucketing


class TestBuckets:
    def test_points_are_summed_per_hour_whatever_their_order(self) -> None:
        points = [point(50, 2, 1), point(5, 3), point(70, 4, 0, 1), point(20, 1, 0, 0, 1)]
        buckets = bucket_points(points, HOUR)
        assert buckets == [Bucket(T0, 6, 1, 0, 1), Bucket(T0 + HOUR, 4, 0, 1, 0)]
        assert bucket_points(reversed(points), HOUR) == buckets

    def test_a_gap_is_a_bucket_of_zeros_so_position_stays_time(self) -> None:
        buckets = bucket_points([point(10, 5), point(3 * 60 + 20, 7)], HOUR)
        assert [b.start for b in buckets] == [T0 + i * HOUR for i in range(4)]
        assert [b.DeliveryAttempts for b in buckets] == [5, 0, 0, 7]

    def test_days_begin_at_midnight_utc(self) -> None:
        late = SendDataPoint(datetime(2026, 11, 18, 23, 45, tzinfo=UTC), 1, 0, 0, 0)
        # 01:15 in UTC+2 is 23:15 UTC of the day before: the same UTC day as ``late``
        east = SendDataPoint(
            datetime(2026, 11, 19, 1, 15, tzinfo=timezone(timedelta(hours=2))), 2, 0, 0, 0
        )
        next_day = SendDataPoint(datetime(2026, 11, 19, 0, 0, tzinfo=UTC), 4, 0, 0, 0)
        buckets = bucket_points([next_day, late, east], DAY)
        assert [(b.start, b.DeliveryAttempts) for b in buckets] == [(T0, 3), (T0 + DAY, 4)]

    def test_naive_timestamps_are_taken_as_utc(self) -> None:
        naive = SendDataPoint(datetime(2026, 11, 18, 0, 30), 1, 0, 0, 0)
        assert bucket_points([naive, point(45, 1)], HOUR) == [Bucket(T0, 2)]

    def test_no_points_give_no_buckets_and_a_bad_width_is_refused(self) -> None:
        assert bucket_points([], HOUR) == []
        with pytest.raises(ValueError):
            bucket_points([point(0, 1)], timedelta(0))

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(0, 14 * 24 * 4 - 1),
                st.integers(0, 500),
                st.integers(0, 50),
                st.integers(0, 5),
                st.integers(0, 5),
            ),
            max_size=60,
        ),
        st.sampled_from([HOUR, 4 * HOUR, DAY]),
    )
    def test_bucketing_keeps_every_count_and_a_contiguous_time_line(
        self, rows: list[tuple[int, int, int, int, int]], width: timedelta
    ) -> None:
        points = [point(15 * q, a, b, c, r) for q, a, b, c, r in rows]
        buckets = bucket_points(points, width)
        for index, name in enumerate(("DeliveryAttempts", "Bounces", "Complaints", "Rejects")):
            assert sum(getattr(b, name) for b in buckets) == sum(row[index + 1] for row in rows)
        assert all(later.start - earlier.start == width for earlier, later in pairwise(buckets))
        assert bucket_points(list(reversed(points)), width) == buckets

    def test_the_width_is_the_finest_that_fits(self) -> None:
        points = two_weeks()
        assert choose_width(points, 400) == HOUR  # 336 hours
        assert choose_width(points, 100) == 4 * HOUR  # 84 buckets; 3 hours would need 112
        assert choose_width(points, 77) == 6 * HOUR
        assert choose_width(points, 14) == DAY
        assert choose_width(points, 5) == DAY  # nothing fits: the coarsest
        assert choose_width([], 80) == HOUR


# --------------------------------------------------------------------------------------------
# Rates and thresholds


class TestRates:
    @pytest.mark.parametrize(
        ("count", "attempts", "level"),
        [
            (0, 100, Level.OK),
            (499, 10_000, Level.OK),  # 4.99 %
            (5, 100, Level.WARNING),  # exactly 5 %: "5 % or greater" is under review
            (3, 60, Level.WARNING),  # exactly 5 % again, where a float could land either side
            (999, 10_000, Level.WARNING),  # 9.99 %
            (10, 100, Level.AT_RISK),  # exactly 10 %
            (7, 10, Level.AT_RISK),
            (3, 0, None),  # bounces without attempts cannot be a rate
            (0, 0, None),
        ],
    )
    def test_bounce_rate_levels(self, count: int, attempts: int, level: Level | None) -> None:
        assert classify(count, attempts, BOUNCE) is level

    @pytest.mark.parametrize(
        ("count", "attempts", "level"),
        [
            (999, 1_000_000, Level.OK),  # 0.0999 %
            (1, 1000, Level.WARNING),  # exactly 0.1 %
            (49, 10_000, Level.WARNING),  # 0.49 %
            (5, 1000, Level.AT_RISK),  # exactly 0.5 %
            (1, 1, Level.AT_RISK),
            (0, 0, None),
        ],
    )
    def test_complaint_rate_levels(self, count: int, attempts: int, level: Level | None) -> None:
        assert classify(count, attempts, COMPLAINT) is level

    def test_the_thresholds_are_the_ones_aws_documents(self) -> None:
        assert (BOUNCE.warning, BOUNCE.at_risk) == (Fraction(5, 100), Fraction(10, 100))
        assert (COMPLAINT.warning, COMPLAINT.at_risk) == (Fraction(1, 1000), Fraction(5, 1000))
        assert BOUNCE.warning_meaning == "account under review"

    def test_no_attempts_is_not_applicable_never_a_division_by_zero(self) -> None:
        nothing = rate(2, 0, BOUNCE)
        assert (nothing.value, nothing.level, nothing.percent()) == (None, None, "n/a")
        assert rate(1, 40, BOUNCE).percent() == "2.50 %"

    def test_the_period_rates_are_over_all_attempts(self) -> None:
        result = summarize([point(0, 1000, 60, 0), point(600, 1000, 40, 1)], HOUR)
        assert (result.bounce_rate.count, result.bounce_rate.attempts) == (100, 2000)
        assert result.bounce_rate.level is Level.WARNING  # 5 % over both, 6 % in one
        assert result.complaint_rate.level is Level.OK  # 0.05 %

    def test_the_rolling_rate_is_over_the_trailing_day(self) -> None:
        # 100 attempts at hour 0 with 10 bounces, then nothing for 30 hours, then 100 clean
        result = summarize([point(0, 100, 10), point(30 * 60, 100)], HOUR)
        rolling = result.rolling_rates(BOUNCE)
        assert rolling[0].value == pytest.approx(0.10)
        assert rolling[23].value == pytest.approx(0.10)  # still inside the day
        assert rolling[24].value is None  # the day before holds no attempt at all
        assert rolling[30].value == 0.0

    def test_json_holds_buckets_rates_and_quota(self) -> None:
        quota = SendQuota(200.0, 1.0, 12.0)
        document = to_json(summarize([point(0, 10, 1), point(125, 0, 0, 0, 2)], HOUR, quota))
        json.dumps(document)  # serialisable as it is
        assert document["bucket_seconds"] == 3600
        assert document["period"] == {
            "start": "2026-11-18T00:00:00+00:00",
            "end": "2026-11-18T03:00:00+00:00",
        }
        assert [b["DeliveryAttempts"] for b in document["buckets"]] == [10, 0, 0]
        assert document["totals"] == {
            "DeliveryAttempts": 10,
            "Bounces": 1,
            "Complaints": 0,
            "Rejects": 2,
        }
        assert document["rates"]["bounce"]["level"] == "AT RISK"
        assert document["rates"]["bounce"]["percent"] == 10.0
        assert document["quota"] == {
            "Max24HourSend": 200.0,
            "MaxSendRate": 1.0,
            "SentLast24Hours": 12.0,
        }

    def test_json_without_attempts_says_not_applicable(self) -> None:
        document = to_json(summarize([point(0, 0, 0, 0, 3)], HOUR))
        assert document["rates"]["complaint"]["value"] is None
        assert document["rates"]["complaint"]["level"] == "n/a"
        empty = to_json(summarize([], HOUR))
        assert empty["buckets"] == [] and empty["period"] == {"start": None, "end": None}


# --------------------------------------------------------------------------------------------
# The terminal


def rendered(points: list[SendDataPoint], width: int = 80, **options: Any) -> str:
    out, err = io.StringIO(), io.StringIO()
    show(None, points, out=out, err=err, width=width, **options)
    return out.getvalue()


class TestTerminal:
    def test_bars_scale_to_the_peak_and_zeros_look_alike(self) -> None:
        rows = bar_rows = charts.bar_rows([0, 1, 12, 24, 0], height=3)
        assert bar_rows == rows and len(rows) == 3 and all(len(r) == 5 for r in rows)
        assert [r[3] for r in rows] == ["█", "█", "█"]  # the peak fills every row
        assert [r[2] for r in rows] == [" ", "▄", "█"]  # half the peak: 12 of 24 eighths
        assert [r[1] for r in rows] == [" ", " ", "▁"]  # 1 of 24 still shows
        assert [r[0] for r in rows] == [r[4] for r in rows] == [" ", " ", "·"]
        assert charts.bar_rows([0, 0], height=2) == ["  ", "··"]

    def test_the_time_axis_is_as_long_as_the_chart_and_labels_days(self) -> None:
        starts = [T0 + i * 6 * HOUR for i in range(56)]
        ticks, labels = charts.time_axis(starts, 6 * HOUR)
        assert len(ticks) == len(labels) == 56
        assert labels.startswith("11-18") and "11-20" in labels
        assert all(ticks[labels.index(day)] == "┬" for day in labels.split())
        hourly = [T0 + i * HOUR for i in range(12)]
        assert charts.time_axis(hourly, HOUR)[1].startswith("11-18")

    @pytest.mark.parametrize("width", [60, 80, 120, 200, 343])
    def test_the_chart_fits_the_terminal(self, width: int) -> None:
        text = rendered(two_weeks(), width)  # 343 = 336 hourly columns, the widest chart
        assert max(len(line) for line in text.splitlines()) <= width
        axis = next(line for line in text.splitlines() if line.startswith("  11-18"))
        assert axis.endswith("  UTC")  # the axis labels, whole
        for label in ("Delivery attempts", "Bounces", "Complaints", "Rejects", "UTC"):
            assert label in text

    def test_the_rates_are_marked_against_the_thresholds(self) -> None:
        text = rendered(two_weeks())
        bounce = next(line for line in text.splitlines() if line.startswith("Bounce rate"))
        assert "%" in bounce and "OK" in bounce  # about 3 %
        complaint = next(line for line in text.splitlines() if line.startswith("Complaint rate"))
        assert "WARNING" in complaint  # about 0.2 %
        assert "reviews an account at a 5 % bounce or 0.1 % complaint rate (WARNING)" in text
        assert "pause its sending at 10 % or 0.5 % (AT RISK)" in text
        at_risk = rendered([point(0, 100, 12, 1)])
        assert "AT RISK" in next(line for line in at_risk.splitlines() if "Bounce rate" in line)

    def test_rejects_only_gives_rates_not_applicable(self) -> None:
        text = rendered([point(0, 0, 0, 0, 2), point(200, 0, 0, 0, 1)])
        assert "Rejects  3 in total" in text
        rates = [line for line in text.splitlines() if line.startswith(("Bounce r", "Complaint r"))]
        assert len(rates) == 2 and all("n/a" in line for line in rates)

    def test_an_empty_account_says_so(self) -> None:
        assert rendered([]) == (
            "no sending in the last two weeks (GetSendStatistics returned no data points)\n"
        )
        zeros = rendered([point(0), point(600)])
        assert zeros.startswith("no sending in the last two weeks") and "zeros only" in zeros
        assert summarize([point(0), point(600)], HOUR).sent_nothing
        assert not summarize([point(0, 0, 0, 0, 1)], HOUR).sent_nothing

    def test_json_instead_of_the_chart(self) -> None:
        document = json.loads(rendered(two_weeks(), as_json=True))
        assert document["bucket_seconds"] == 3600
        assert len(document["buckets"]) == 14 * 24
        assert document["rates"]["complaint"]["level"] == "WARNING"


# --------------------------------------------------------------------------------------------
# PNG and SVG


def colour_present(image: Any, hex_colour: str, tolerance: float = 0.03) -> bool:
    """Whether some pixel of ``image`` (an imread array, floats 0–1) has this colour."""
    import numpy as np

    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3] - target).max(axis=-1) < tolerance).any())


class TestFigure:
    def test_the_png_has_the_size_asked_for_and_the_threshold_lines(self, tmp_path: Path) -> None:
        from matplotlib.image import imread

        path = charts.write_figure(
            summarize(two_weeks(), HOUR), tmp_path / "stats.png", size=(8.0, 6.0), dpi=80
        )
        image = imread(path)
        assert image.shape[:2] == (6 * 80, 8 * 80)
        assert colour_present(image, charts.WARNING_COLOR)
        assert colour_present(image, charts.AT_RISK_COLOR)

    def test_the_default_size_and_an_empty_account(self, tmp_path: Path) -> None:
        from matplotlib.image import imread

        path = charts.write_figure(summarize([], HOUR), tmp_path / "empty.png")
        image = imread(path)
        width, height = charts.FIGURE_SIZE
        assert image.shape[:2] == (height * charts.FIGURE_DPI, width * charts.FIGURE_DPI)
        # no data, no threshold lines: the colour check above does discriminate
        assert not colour_present(image, charts.AT_RISK_COLOR)

    def test_gaps_and_a_single_bucket_draw(self, tmp_path: Path) -> None:
        from matplotlib.image import imread

        for name, points in {
            "one": [point(0, 3, 1)],
            "gaps": [point(0, 10), point(5 * 24 * 60, 0, 0, 0, 1), point(9 * 24 * 60, 50, 20, 2)],
        }.items():
            image = imread(charts.write_figure(summarize(points, HOUR), tmp_path / f"{name}.png"))
            assert colour_present(image, charts.WARNING_COLOR), name

    def test_svg_is_written_by_suffix(self, tmp_path: Path) -> None:
        path = charts.write_figure(summarize(two_weeks(), HOUR), tmp_path / "stats.svg")
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<?xml") and "<svg" in text
        assert charts.WARNING_COLOR in text and charts.AT_RISK_COLOR in text

    def test_an_unwritable_file_is_a_usage_error(self, tmp_path: Path) -> None:
        from amlses.errors import UsageError

        with pytest.raises(UsageError, match="cannot write"):
            charts.write_figure(summarize([point(0, 1)], HOUR), tmp_path / "no" / "dir.png")


# --------------------------------------------------------------------------------------------
# The command


def send(ses_client: Any, count: int) -> None:
    ses_client.verify_email_identity(EmailAddress="sender@example.com")
    for number in range(count):
        ses_client.send_email(
            Source="sender@example.com",
            Destination={"ToAddresses": [f"to{number}@example.com"]},
            Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}},
        )


@pytest.mark.usefixtures("aws_credentials")
class TestCommand:
    def test_the_chart_of_what_moto_counted(self, endpoint: str, ses_client: Any) -> None:
        send(ses_client, 3)
        result = invoke("--endpoint-url", endpoint, "--region", "us-east-1")
        assert result.exit_code == 0, result.stderr
        assert "Delivery attempts  3 in total" in result.stdout
        assert "Bounce rate" in result.stdout and "OK" in result.stdout
        assert "quota: 3 of" in result.stdout

    def test_json_and_png_at_once(self, endpoint: str, ses_client: Any, tmp_path: Path) -> None:
        send(ses_client, 2)
        image = tmp_path / "stats.png"
        result = invoke("--endpoint-url", endpoint, "--json", "--png", str(image))
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["totals"]["DeliveryAttempts"] == 2
        assert document["quota"]["SentLast24Hours"] == 2.0
        assert f"wrote {image}" in result.stderr
        assert image.read_bytes().startswith(b"\x89PNG")

    def test_an_account_that_sent_nothing(self, endpoint: str) -> None:
        # moto answers one data point of zeros, as an idle account does
        result = invoke("--endpoint-url", endpoint)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("no sending in the last two weeks (")

    def test_local_starts_an_emulator(self) -> None:
        result = invoke("--local", "--json")
        assert result.exit_code == 0, result.stderr
        assert "local SES emulator at http://127.0.0.1:" in result.stderr
        assert json.loads(result.stdout)["totals"]["DeliveryAttempts"] == 0
        result = invoke("--local")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("no sending in the last two weeks")

    def test_local_and_an_endpoint_conflict(self) -> None:
        result = invoke("--local", "--endpoint-url", "http://127.0.0.1:1")
        assert result.exit_code == 2
        assert result.stderr.startswith("amlses: --local and --endpoint-url")

    def test_an_unreachable_endpoint_is_one_paragraph(self, instant_retries: None) -> None:
        from clitools import closed_port

        result = invoke("--endpoint-url", f"http://127.0.0.1:{closed_port()}")
        assert result.exit_code == 1
        assert result.stderr.startswith("amlses: ") and "GetSendQuota" in result.stderr

    def test_a_profile_that_does_not_exist(self) -> None:
        result = invoke("--profile", "nobody-has-this", "--endpoint-url", "http://127.0.0.1:1")
        assert result.exit_code != 0
        assert result.stderr.startswith("amlses: ") and "nobody-has-this" in result.stderr

    @pytest.mark.parametrize("option", ["--png", "--svg"])
    def test_without_matplotlib_one_message_and_no_request(
        self, option: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from clitools import closed_port

        monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
        # an endpoint nobody listens on: reaching it would be exit 1, not 2
        url = f"http://127.0.0.1:{closed_port()}"
        result = invoke("--endpoint-url", url, option, str(tmp_path / "x"))
        assert result.exit_code == 2
        assert result.stderr == f"amlses: {option} needs matplotlib: pip install 'amlses[plot]'\n"
        assert not (tmp_path / "x").exists()

    def test_help_is_cheap(self) -> None:
        result = invoke("--help")
        assert result.exit_code == 0 and "--png FILE" in result.stdout


def test_the_command_imports_nothing_heavy_until_it_runs() -> None:
    """Registering ``stats`` in the CLI must not slow ``amlses --help`` down."""
    import subprocess

    code = (
        "import sys, amlses.commands.stats, amlses.stats; "
        "print(sorted(m for m in ('rich', 'matplotlib', 'botocore', 'boto3', 'moto', "
        "'amlses.charts') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_the_command_registers_in_a_group_as_the_cli_will() -> None:
    """``cli.add_command(stats)`` gives ``amlses stats``, with its one-line help in the list."""
    import click

    group = click.Group("amlses")
    group.add_command(stats)
    listing = CliRunner().invoke(group, ["--help"])
    assert "stats" in listing.stdout and "bounce/complaint rates" in listing.stdout
    assert CliRunner().invoke(group, ["stats", "--help"]).exit_code == 0

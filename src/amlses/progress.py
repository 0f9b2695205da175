"""The live line a bulk send shows on stderr while it runs: done/total, rate, in doubt, ETA.

20,000 rows at 100 a second are more than three minutes; silence for that long looks like a
hang, and a user who presses Ctrl-C to find out stops the send.  So ``amlses run`` shows one
line that rewrites itself (rich's ``Live``, transient: it disappears when the send ends, and
the step's own line says how it ended).  When stderr is not a terminal (a log file, CI) the
line would be noise: only a final summary is written there.  ``--quiet`` shows neither.

rich is imported only when a terminal line is drawn, so a run without a bulk send never
pays for it.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mail.bulk import BulkProgress

__all__ = ["BulkProgressLine", "describe"]


def describe(progress: BulkProgress) -> str:
    """``1,200/2,000 rows  99.8/s  0 in doubt  0 failed  ETA 8 s``."""
    eta = progress.eta
    left = "ETA -" if eta is None else f"ETA {_duration(eta)}"
    return (
        f"{progress.done:,}/{progress.total:,} rows  {progress.rate:,.1f}/s  "
        f"{progress.unknown:,} in doubt  {progress.failed:,} failed  {left}"
    )


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class BulkProgressLine:
    """What :attr:`amlses.runtime.context.RunOptions.bulk_progress` calls during a bulk send.

    ``live``: draw a line that rewrites itself on ``stream`` (a terminal); otherwise write one
    summary line when the send ends.  Called with None when the send is over.
    """

    def __init__(self, stream: IO[str], *, live: bool, redact: Any = None) -> None:
        self.stream = stream
        self.live = live
        self._redact = redact or (lambda text: text)
        self._display: Any = None
        self._last: tuple[str, BulkProgress] | None = None

    def __call__(self, where: str, progress: BulkProgress | None) -> None:
        if progress is not None:
            self._last = (where, progress)
            if self.live:
                self._draw(where, progress)
            return
        self._end()

    def _draw(self, where: str, progress: BulkProgress) -> None:
        from rich.text import Text

        text = Text(self._redact(f"sending ({where}): {describe(progress)}"))
        if self._display is None:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, stderr=True)
            self._display = Live(text, console=console, transient=True, auto_refresh=False)
            self._display.start()
        self._display.update(text, refresh=True)

    def _end(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None
        elif not self.live and self._last is not None:
            where, progress = self._last
            self.stream.write(
                self._redact(
                    f"bulk send ({where}): {progress.done:,} of {progress.total:,} rows done in "
                    f"{_duration(progress.elapsed)}, {progress.unknown:,} in doubt, "
                    f"{progress.failed:,} failed\n"
                )
            )
            self.stream.flush()
        self._last = None

"""Human-readable rendering of a run, over injected streams.

Every line passes through the run's :class:`~amlses.redact.Redactor` on its way out, so no
secret reaches the terminal even if a message or a dataset happens to contain one.  ``rich``
is imported only when a table is drawn, keeping ``amlses --help`` fast.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from .expressions import to_text
from .nodes import Block
from .redact import Redactor

if TYPE_CHECKING:
    from .datasets import Dataset
    from .nodes import Step

MAX_TABLE_ROWS = 50


def describe(step: Step) -> str:
    """``AMAWSSES verify_identity``: the element and activity of a step, for a step line."""
    activity = step.value("ACTIVITY") or (step.value("TYPE") if step.name == "AMLOOP" else "")
    return f"{step.name} {activity}".strip()


class HumanReporter:
    """One line per executed step and a table per produced dataset, on ``out``.

    Warnings and messages go to ``err`` so that stdout stays the run's record.
    """

    def __init__(
        self, out: IO[str], err: IO[str], redactor: Redactor, *, quiet: bool = False
    ) -> None:
        self.out = out
        self.err = err
        self.redact = redactor
        self.quiet = quiet
        self._pending: list[Dataset] = []

    def step(self, step: Step, outcome: str, seconds: float) -> None:
        if self.quiet:
            return
        line = f"{step.position.line:>5}  {describe(step):<30} {outcome}"
        if not isinstance(step, Block):
            line = f"{line}  ({seconds * 1000:.0f} ms)"
        self.out.write(self.redact(line) + "\n")
        pending, self._pending = self._pending, []
        for dataset in pending:
            self._table(dataset)

    def dataset(self, step: Step, dataset: Dataset) -> None:
        """Queue the table: it is drawn under the line of the step that produced it."""
        if not self.quiet:
            self._pending.append(dataset)

    def _table(self, dataset: Dataset) -> None:
        from rich.console import Console
        from rich.table import Table

        title = f"{dataset.name}: {len(dataset)} row{'s' if len(dataset) != 1 else ''}"
        table = Table(title=self.redact(title), title_justify="left", show_lines=False)
        for column in dataset.columns:
            table.add_column(self.redact(column))
        for row in dataset.rows[:MAX_TABLE_ROWS]:
            table.add_row(*(self.redact(to_text(value)) for value in row))
        Console(file=self.out, highlight=False, width=120, soft_wrap=False).print(table)
        self.out.write("\n")
        if len(dataset) > MAX_TABLE_ROWS:
            self.out.write(f"       … {len(dataset) - MAX_TABLE_ROWS} more rows not shown\n")

    def message(self, text: str, level: str = "info") -> None:
        """``info`` to stdout; ``warning``/``error`` to stderr, prefixed; ``problem`` (a
        rendered check finding, which names its own severity) to stderr as is."""
        prefix = "" if level in ("info", "problem") else f"{level}: "
        stream = self.out if level == "info" else self.err
        stream.write(self.redact(prefix + text) + "\n")

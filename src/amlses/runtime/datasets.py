"""Datasets: the named tables AML steps produce and ``%DS.Field%`` reads.

A dataset has named columns, rows, and a *current row* (1 on creation, even with zero rows:
spec ``aml-core.md`` §2).  ``AMLOOP ACTIVITY="dataset"`` moves the current row; a field
reference reads it.  Every dataset also answers the built-in fields ``CurrentRow``,
``TotalRows``, ``TotalColumns`` and ``ExecutionDate``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..values import Value

BUILTIN_FIELDS = ("CurrentRow", "TotalRows", "TotalColumns", "ExecutionDate")
_BUILTIN = {name.lower(): name for name in BUILTIN_FIELDS}


class Dataset:
    """A table with named columns and a current row.

    Column names keep the case they were created with (for display) and are looked up
    case-insensitively (AML names are case-insensitive).
    """

    def __init__(
        self,
        name: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Value]] = (),
        *,
        created: datetime.datetime | None = None,
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self._index = {column.lower(): i for i, column in enumerate(self.columns)}
        # rows that are tuples already (a NamedTuple such as a bulk send's Delivery) are kept
        # as they are: a copy of each would double a 100,000-row result's memory
        self.rows: list[tuple[Value, ...]] = [
            row if isinstance(row, tuple) else tuple(row) for row in rows
        ]
        self.current_row = 1
        self.created = created or datetime.datetime.now()

    @classmethod
    def from_records(
        cls, name: str, columns: Sequence[str], records: Iterable[Mapping[str, Any]]
    ) -> Dataset:
        """Build a dataset from mappings (missing keys become "")."""
        return cls(name, columns, ([record.get(c, "") for c in columns] for record in records))

    def __len__(self) -> int:
        return len(self.rows)

    def has_field(self, field: str) -> bool:
        """Whether ``field`` is a column or a built-in field (any case)."""
        key = field.lower()
        return key in self._index or key in _BUILTIN

    def field(self, field: str) -> Value:
        """The value of ``field`` in the current row, or a built-in field.

        Raises KeyError for an unknown field, and IndexError when the current row is past the
        end (a field read outside a loop over an empty dataset).
        """
        key = field.lower()
        if key in self._index:
            if not 1 <= self.current_row <= len(self.rows):
                raise IndexError(
                    f"dataset {self.name} has {len(self.rows)} rows; row {self.current_row} "
                    "cannot be read"
                )
            return self.rows[self.current_row - 1][self._index[key]]
        builtin = _BUILTIN.get(key)
        if builtin == "CurrentRow":
            return self.current_row
        if builtin == "TotalRows":
            return len(self.rows)
        if builtin == "TotalColumns":
            return len(self.columns)
        if builtin == "ExecutionDate":
            return self.created
        raise KeyError(field)

    def records(self) -> list[dict[str, Value]]:
        """Every row as a mapping from column name to value (for JSON output)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def __repr__(self) -> str:
        return f"<Dataset {self.name} {len(self.columns)} columns x {len(self.rows)} rows>"

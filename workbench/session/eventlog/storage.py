"""Chunked row storage: where the log's rows live and how they are read back.

Rows live in numpy chunks of `chunk_rows` (columns.ROW_DTYPE). Appending fills the
current chunk and a full one is left alone for good (until rows are cut off), so an
append is O(1) and never copies old rows. Readers get copies or read-only columns,
never the chunks themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from workbench.session.eventlog.columns import CHUNK_ROWS, FIELDS, ROW_DTYPE


class RowStore:
    """The rows of an EventLog; subclasses write single rows through `_buf` at `_off`."""

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        """`chunk_rows` only changes for tests that want many chunk boundaries cheaply."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        self._chunk_rows = chunk_rows
        self._chunks: list[np.ndarray] = []
        self._cur = np.empty(0, ROW_DTYPE)
        self._buf = memoryview(self._cur.view(np.uint8))  # _cur's bytes, for struct writes
        self._off = chunk_rows  # rows used in _cur; full until the first append
        self._n = 0
        self._version = 0  # bumped by _cut, so cached columns never outlive it
        self._cache: dict[str, tuple[int, int, np.ndarray]] = {}

    def _new_chunk(self) -> None:
        if self._chunks:
            self._sealed(len(self._chunks) - 1)
        self._cur = np.zeros(self._chunk_rows, ROW_DTYPE)
        self._buf = memoryview(self._cur.view(np.uint8))
        self._chunks.append(self._cur)
        self._off = 0

    def _sealed(self, index: int) -> None:
        """Chunk `index` just filled up: its rows never change again until a cut."""

    def _write_columns(self, cols: Mapping[str, np.ndarray], count: int) -> range:
        """Append `count` rows given as full columns (checked by the caller)."""
        first = self._n
        done = 0
        while done < count:
            if self._off == self._chunk_rows:
                self._new_chunk()
            take = min(self._chunk_rows - self._off, count - done)
            block = self._cur[self._off:self._off + take]
            for name, col in cols.items():
                block[name] = col[done:done + take]
            self._off += take
            done += take
        self._n += count
        return range(first, self._n)

    def _cut(self, n: int) -> None:
        """Drop rows n and later (n within the log)."""
        keep = -(-n // self._chunk_rows)  # chunks holding rows < n
        del self._chunks[keep:]
        self._cur = self._chunks[-1] if self._chunks else np.empty(0, ROW_DTYPE)
        self._buf = memoryview(self._cur.view(np.uint8))
        self._off = n - (keep - 1) * self._chunk_rows if keep else self._chunk_rows
        self._n = n
        self._version += 1
        self._cache.clear()

    # --- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk: blocks() yields whole chunks of this many rows."""
        return self._chunk_rows

    @property
    def nbytes(self) -> int:
        """Bytes held by the row storage (allocated chunks, including unused tail rows)."""
        return sum(c.nbytes for c in self._chunks)

    def _blocks(self, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
        """(row of the block's first row, block) covering rows [first, last)."""
        row = first
        while row < last:
            ci, off = divmod(row, self._chunk_rows)
            take = min(self._chunk_rows - off, last - row)
            yield row, self._chunks[ci][off:off + take]
            row += take

    def blocks(self, first: int | None = None, last: int | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, read-only view) chunk by chunk over rows [first, last): how the
        views (filters, statistics) read millions of rows without one big copy."""
        first, last = self._span(first, last)
        for row, block in self._blocks(first, last):
            view = block.view()
            view.flags.writeable = False
            yield row, view

    def _span(self, first: int | None, last: int | None) -> tuple[int, int]:
        first = 0 if first is None else first
        last = self._n if last is None else last
        if not 0 <= first <= last <= self._n:
            raise IndexError(f"rows [{first}, {last}) are not within [0, {self._n})")
        return first, last

    def _index(self, i: int) -> int:
        if not -self._n <= i < self._n:
            raise IndexError(f"row {i} out of range for {self._n} rows")
        return i % self._n

    def _record(self, i: int) -> np.void:
        """Row `i` (0 <= i < len) as a numpy record, a view into its chunk."""
        ci, off = divmod(i, self._chunk_rows)
        return self._chunks[ci][off]

    def rows(self, first: int | None = None, last: int | None = None) -> np.ndarray:
        """A copy of rows [first, last) as one structured array (ROW_DTYPE)."""
        first, last = self._span(first, last)
        out = np.empty(last - first, ROW_DTYPE)
        for row, block in self._blocks(first, last):
            out[row - first:row - first + len(block)] = block
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """A copy of the given rows (any order, in range) as one structured array."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self._n):
            raise IndexError(f"rows outside [0, {self._n})")
        out = np.empty(len(rows), ROW_DTYPE)
        chunk = rows // self._chunk_rows
        ordered = bool(np.all(chunk[1:] >= chunk[:-1]))
        order = np.arange(len(rows)) if ordered else np.argsort(chunk, kind="stable")
        for part in np.split(order, np.flatnonzero(np.diff(chunk[order])) + 1):
            if len(part):
                ci = int(chunk[part[0]])
                out[part] = self._chunks[ci][rows[part] - ci * self._chunk_rows]
        return out

    def column(self, name: str) -> np.ndarray:
        """One column over all rows, read-only; cached until the log changes."""
        if name not in FIELDS:
            raise KeyError(f"no column {name!r}; columns: {', '.join(FIELDS)}")
        cached = self._cache.get(name)
        if cached is not None and cached[:2] == (self._n, self._version):
            return cached[2]
        out = np.empty(self._n, ROW_DTYPE[name])
        for row, block in self._blocks(0, self._n):
            out[row:row + len(block)] = block[name]
        out.flags.writeable = False
        self._cache[name] = (self._n, self._version, out)
        return out

    def row_of_step(self, step: int) -> int:
        """The first row logged at `step` or later (len(log) if none): where to truncate."""
        for row, block in self._blocks(0, self._n):
            if block["step"][-1] >= step:
                return row + int(np.searchsorted(block["step"], step, side="left"))
        return self._n

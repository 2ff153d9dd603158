"""A batch download's CSV written by a PostgreSQL centre's own ``COPY … TO STDOUT (FORMAT csv)`` (issue 11 item 4;
SHR-4, SEC-3) — Django-free.

The Python path (:mod:`govshare.datastore.actions.downloads`) reads pages, masks them and writes each cell through
``csv.writer``; on a 10 M-row centre table that is ~15 µs of Python a row.  Here the centre's server masks each
value with the masks' SQL forms (:func:`govshare.core.masking.sql_mask`, the one home of masking: the same values
as :meth:`~govshare.core.masking.Mask.apply`), writes each cell as the Python path writes it (:func:`cell_sql`:
text neutralised against formulas as :func:`govshare.core.exports.data_column` does, ``None`` and ``''`` empty,
numbers, dates and date-times as ``str()`` gives them, booleans ``true``/``false``) and quotes as ``csv.writer``
does; Python only changes each line's end to ``\\r\\n``.  A row whose value a mask's or a cell's SQL form does not
give exactly as Python would (:attr:`CsvPlan.flag`) comes out as a marker line — its first field ``=`` and its
change number; no value of the data can start a line so, since every text starting with ``=`` is neutralised —
and is read again by its change number in the same snapshot, masked and written by Python (``render``).  The file
is byte for byte what the Python path writes (tests/test_download_copy.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from govshare.core import masking
from govshare.datastore.engine import reader
from govshare.datastore.engine.store import PG_TYPES, Store

#: the cell types this writes as the Python path does (after masking): text, numbers, integers, dates, date-times,
#: booleans — not bytes or floating-point numbers (Python's float text)
CELL_LETTERS = "CMNYIDTL"
#: the first characters of text a spreadsheet would run as a formula (:data:`govshare.core.exports.FORMULA_PREFIXES`:
#: = + - @ tab CR) as ``ascii()`` gives them (measured cheaper than comparing ``left(v, 1)``)
FORMULA_CODES = (61, 43, 45, 64, 9, 13)
_FORMULA_FIRST = ", ".join(map(str, FORMULA_CODES))
#: the first field of a line that Python writes instead (its change number follows)
MARKER = b"="


@dataclasses.dataclass(frozen=True)
class CsvPlan:
    """The SQL of one download's cells: ``lets`` and ``masked`` (the masks' forms over the centre's columns),
    ``cells`` (each masked value ``m1 … mN`` as its CSV cell's text, or NULL for an empty cell), ``flag`` (SQL over
    the columns and the lets, true for a row whose masks Python applies) and ``cell_flag`` (SQL over the masked
    values, true for a row whose cells Python writes); "" for none."""

    lets: tuple[tuple[tuple[str, str], ...], ...]
    masked: tuple[str, ...]
    cells: tuple[str, ...]
    flag: str
    cell_flag: str


def cell_sql(value: str, letter: str) -> tuple[str, str | None] | None:
    """The CSV cell of a value of type ``letter`` (an expression: the masked value) as the Python path writes it —
    SQL giving its text or NULL (an empty cell) — and SQL true for a value it does not write so (None: none such);
    None: this type is not written in SQL."""
    v = value
    if letter not in CELL_LETTERS:
        return None
    if letter in "CM":
        return f"CASE WHEN ascii({v}) IN ({_FORMULA_FIRST}) THEN '''' || {v} ELSE nullif({v}, '') END", None
    if letter in "NY":
        # str(Decimal) writes an exponent where the adjusted exponent is below -6 (0.0000001 → 1E-7, 0.0000000 → 0E-7)
        return f"{v}::text", f"coalesce(abs({v}) < 0.000001 AND ({v} <> 0 OR scale({v}) > 6), false)"
    if letter == "I":
        return f"{v}::text", None
    if letter == "D":  # years Python's date cannot hold (and ±infinity) are Python's
        return f"{v}::text", f"coalesce(NOT ({v} BETWEEN '0001-01-01' AND '9999-12-31'), false)"
    if letter == "T":  # str(datetime): the seconds' fraction only when there is one, then all six digits
        return (f"CASE WHEN {v} = date_trunc('second', {v}) THEN to_char({v}, 'YYYY-MM-DD HH24:MI:SS') "
                f"ELSE to_char({v}, 'YYYY-MM-DD HH24:MI:SS.US') END"), \
            f"coalesce(NOT ({v} BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999'), false)"
    if letter == "L":
        return f"CASE WHEN {v} THEN 'true' WHEN NOT {v} THEN 'false' END", None
    return None


def plan(columns: Sequence[tuple[str, str]], masks: Sequence[masking.Mask | None], key: bytes | None
         ) -> CsvPlan | str:
    """The plan of a download of ``columns`` ((centre column, letter) per item, in the file's order) masked with
    ``masks`` (the grant's pseudonym ``key``) — or why the file is not written in SQL."""
    if len(columns) < 2:
        return "one item (csv.writer quotes a lone empty cell)"
    if len(masks) != len(columns):
        raise ValueError(f"{len(masks)} masks for {len(columns)} items")
    lets: list[list[tuple[str, str]]] = []
    masked: list[str] = []
    cells: list[str] = []
    flags: list[str] = []
    cell_flags: list[str] = []
    for i, ((column, letter), mask) in enumerate(zip(columns, masks, strict=True), 1):
        form = masking.sql_mask(mask, letter, column, key=key, name=f"x{i}")
        if form is None:
            return f"the mask {mask.canonical() if mask else 'none'} of a {letter} item has no SQL form"
        cell = cell_sql(f"m{i}", form.letter)
        if cell is None:
            return f"a {form.letter} item's cells are written by Python"
        for stage, pairs in enumerate(form.lets):
            while len(lets) <= stage:
                lets.append([])
            lets[stage].extend(pairs)
        # typed as the letter says: a bare NULL (the null mask) would be text to the cell's SQL (review)
        masked.append(f"({form.value})::{PG_TYPES[form.letter]} AS m{i}")
        cells.append(cell[0])
        if form.flag:
            flags.append(form.flag)  # over the centre's columns and the lets
        if cell[1]:
            cell_flags.append(cell[1])
    return CsvPlan(tuple(tuple(stage) for stage in lets), tuple(masked), tuple(cells),
                   " OR ".join(f"({flag})" for flag in flags), " OR ".join(f"({flag})" for flag in cell_flags))


def problem(store: Store) -> str | None:
    """Why this store's server cannot write the file (None: it can)."""
    if store.kind != "postgresql":
        return "the centre is not PostgreSQL"
    encoding = store.server_encoding()
    if encoding != "UTF8":  # the masks count characters as Python does only in UTF8
        return f"the centre's database is {encoding}, not UTF8"
    return None


def batches(store: Store, query: reader.RowQuery, csv_plan: CsvPlan, rows: int,
            render: Callable[[list[tuple[Any, ...]]], list[bytes]]) -> Iterator[tuple[bytes, list[Any] | None, int]]:
    """The rows ``query`` matches (after its ``after``, up to its ``until``; in key order) as CSV lines, ``rows`` at
    a time: (the lines, the position after them — None after the last —, how many rows).  Each batch is read in one
    snapshot: the rows marked for Python are read again in it by change number and written by ``render`` (their raw
    values in item order → one line each, ``\\r\\n`` ended)."""
    position = list(query.after) if query.after is not None else None
    while True:
        lines, count, end = _batch(store, query, csv_plan, rows, position, render)
        yield lines, end, count
        if end is None:
            return
        position = end


def _statement(csv_plan: CsvPlan, select: str) -> str:
    """The COPY's query over ``select`` (a batch's rows with every column, in order; ``%s`` placeholders): whether a
    row is the batch's last (``lead()`` over the rows as they come), the masks' stages, the masked values, then each
    row's cells — the first field of a row Python writes (flagged, or the last: its position is read by its change
    number) is the marker and its change number.  The masks' SQL has its ``%`` doubled (the placeholders are the
    client's).  No ORDER BY outside the selection's: the rows keep its order through the scans of the subqueries (an
    outer one was planned as a second sort of the batch)."""
    def own(sql: str) -> str:
        return sql.replace("%", "%%")

    level = f"SELECT *, lead(true) OVER () IS NULL AS _gs_last FROM ({select}) r0"  # noqa: S608 — checked names
    for stage, pairs in enumerate(csv_plan.lets, 1):
        computed = ", ".join(f"{own(sql)} AS {name}" for name, sql in pairs)
        level = f"SELECT *, {computed} FROM ({level} OFFSET 0) r{stage}"  # noqa: S608 — made here
    flag = own(csv_plan.flag) if csv_plan.flag else "false"
    marked = "_gs_flag" + (f" OR {own(csv_plan.cell_flag)}" if csv_plan.cell_flag else "")
    first = f"CASE WHEN {marked} THEN '=' || _seq ELSE {own(csv_plan.cells[0])} END"
    cells = ", ".join([first, *map(own, csv_plan.cells[1:])])
    return (f"SELECT {cells} FROM (SELECT {', '.join(map(own, csv_plan.masked))}, _seq, "  # noqa: S608
            f"_gs_last OR ({flag}) AS _gs_flag FROM ({level} OFFSET 0) lv OFFSET 0) lm")


def _batch(store: Store, query: reader.RowQuery, csv_plan: CsvPlan, rows: int, after: list[Any] | None,
           render: Callable[[list[tuple[Any, ...]]], list[bytes]]) -> tuple[bytes, int, list[Any] | None]:
    bounded = dataclasses.replace(query, after=after)
    end: list[Any] | None = None
    with store.snapshot():  # the rows Python writes read again as the COPY saw them
        select, params = reader.selection(store, bounded, rows)
        pieces = store.copy_csv(_statement(csv_plan, select), params)
        if not pieces:
            return b"", 0, None
        flagged = {i: int(piece[1:piece.index(b",")]) for i, piece in enumerate(pieces) if piece[:1] == MARKER}
        if len(pieces) == rows:  # the batch is full: the next one starts after its last row (always marked)
            end = reader.position_of(store, query, flagged[len(pieces) - 1])
            if end is None:  # cannot be: the same snapshot
                raise RuntimeError(f"the row with change number {flagged[len(pieces) - 1]} is gone from its snapshot")
            if query.until is not None and end == list(query.until):
                end = None
        raw = reader.rows_by_seq(store, query.table, list(query.items), sorted(set(flagged.values())))
        written = dict(zip([seq for seq, *_values in raw], render([tuple(values) for _seq, *values in raw]),
                           strict=True))
        for i, seq in flagged.items():
            pieces[i] = written[seq][:-2] + b"\n"  # ended as the others, for the one ending below
    count = len(pieces)
    data = b"".join(pieces)
    if b'"' not in data:  # no quoted cell: every newline ends a line
        del pieces  # (not held with the two copies below)
        return data.replace(b"\n", b"\r\n"), count, end
    del data
    return b"".join([piece[:-1] + b"\r\n" for piece in pieces]), count, end


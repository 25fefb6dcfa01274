"""PostgreSQL: staging an accounts CSV by COPYing its raw bytes and reading the cells in SQL.

Reading a million rows in Python cost 12-14 us a row (the csv module, each cell's reader,
the csv writer that feeds COPY). Here the database splits the file itself (COPY into a table
of text cells, numbered in file order), and each cell is read without Python:

- the columns a report repeats (home, status, dates, mailboxes) are read by the same Python
  readers as before, once per distinct cell, and joined back;
- an email address and a name are taken in SQL only when they are plainly fine (a narrow
  ASCII pattern, nothing to trim): every other row goes back to the Python reader, row by
  row, which names each problem as before.

So a row is either plainly fine in SQL or read in Python exactly as the slow path reads it;
the messages, and what is refused, are the same. The file takes this path only when the
database would split it as Python's csv module does: no quote character after the header
(PostgreSQL enters quotes anywhere in a field, the csv module only at its start), one record
per line (the rows it loads equal the lines counted, so the line numbers are right), and
COPY accepting every line (a blank line, a short row, mixed line ends: COPY fails, and the
whole file goes through Python). The header must also end on its first line as the csv module
reads it (an unclosed quote takes the csv module to the end of the file). A cell longer than
the csv module's field limit also sends the whole file through Python, which refuses it; so
does a file of many columns (MAX_COLUMNS), and anything else the database cannot hold.
"""

import csv
import tempfile
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

from django.db import DataError, OperationalError, connection, transaction

from . import bulk, headers, sheets, specs
from .csvfiles import FileFacts

RAW, REDO = "import_raw", "import_redo"
READ_BYTES = 1024 * 1024
ENCODINGS = {"utf-8-sig": "UTF8", "utf-8": "UTF8", "cp1252": "WIN1252"}
# The raw table has a text column a cell of the file. PostgreSQL holds at most 1,600 columns
# and a row of at most 8 kB; a value it cannot move out of line (a short one, under about 20
# bytes) stays in the row, so a wide file of short cells fails with "row is too big" (1,000
# columns did). 64 columns keep any row under 2 kB in line, and the portal's files have 7
# columns and a few a spreadsheet adds; a wider file is read in Python, as before.
MAX_COLUMNS = 64
# Plainly valid: what specs.email accepts, narrowed to ASCII with nothing to trim or lower
# beyond ASCII letters (lower() then agrees with Python's). Written as it goes inside an SQL
# string literal (the quote doubled).
PLAIN_EMAIL = r"^[A-Za-z0-9._%+''-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$"


class _Back(Exception):
    """The file needs the row-by-row reader after all (the savepoint is rolled back)."""


def usable(spec: specs.Spec, plan: headers.Plan, facts: FileFacts, ods: str) -> bool:
    """Whether this file may take the raw path: an accounts CSV with the portal's own columns
    (not a usage report, not a file for one home), on PostgreSQL."""
    return (
        connection.vendor == "postgresql"
        and spec.kind == "accounts"
        and facts.container == sheets.CSV
        and facts.encoding in ENCODINGS
        and plan.report is None
        and not ods
        and all(cells is None or isinstance(cells, itemgetter) for *_, cells in plan.readers)
    )


def _shape(path: Path) -> tuple[int, int] | None:
    """(where the data starts, how many lines it has), or None when the data holds a quote
    character. Lines end as the csv module ends them: "\\n", "\\r\\n" or "\\r"."""
    with path.open("rb") as handle:
        first = handle.readline()
        # A header that ends at a bare "\r", or holds one: Python's to read.
        if b"\r" in first.removesuffix(b"\n").removesuffix(b"\r"):
            return None
        start = len(first)
        lf = cr = crlf = 0
        last, tail = b"", b""
        while chunk := handle.read(READ_BYTES):
            if b'"' in chunk:
                return None
            lf += chunk.count(b"\n")
            cr += chunk.count(b"\r")
            crlf += chunk.count(b"\r\n") + (tail == b"\r" and chunk[:1] == b"\n")
            tail = chunk[-1:]
            last = tail
    lines = lf + cr - crlf + (1 if last and last not in b"\r\n" else 0)
    return start, lines


def stage(
    spec: specs.Spec, plan: headers.Plan, header: list[str], path: Path, facts: FileFacts
) -> tuple[int, Iterator[tuple[int, list[str]]]] | None:
    """Stage the rows SQL reads plainly (engine.STAGE, engine.LINKS); returns how many, and
    the others as (line, fields) for the Python reader, in file order. None: the file must
    go through Python whole (nothing was staged)."""
    from .engine import LINKS, STAGE

    if len(header) > MAX_COLUMNS or not _header_alone(path, facts.encoding, header):
        return None
    shape = _shape(path)
    if shape is None:
        return None
    start, lines = shape
    width = len(header)
    cells = [f"c{i}" for i in range(width)]
    positions, _, _ = spec.match(header)
    rest = None
    try:
        # The driver's own cursor (COPY) raises the driver's errors: Django's, here.
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            cursor.execute(f"DROP TABLE IF EXISTS {RAW}, {REDO}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {RAW} (n bigint GENERATED ALWAYS AS IDENTITY, "
                + ", ".join(f"{c} text" for c in cells)
                + ")"
            )
            with path.open("rb") as handle:
                handle.seek(start)
                cursor.cursor.copy_expert(
                    f"COPY {RAW} ({', '.join(cells)}) FROM STDIN WITH (FORMAT csv, "
                    f"FORCE_NOT_NULL ({', '.join(cells)}), ENCODING '{ENCODINGS[facts.encoding]}')",
                    handle,
                    size=bulk.STREAM_CHARS,
                )
            if cursor.cursor.rowcount != lines:  # a record over two lines, or COPY's "\."
                raise _Back
            # The cells' tables join a million rows: by hash, whatever the planner guesses of
            # a table it has no statistics for (an ANALYZE cost 0.5 s at 200,000 rows).
            cursor.execute("SET LOCAL enable_nestloop = off")
            reads = _reads(plan, positions, cursor)
            plain = " AND ".join([*(r.plain for r in reads if r.plain), *_short(cells)]) or "true"
            bad = " OR ".join(r.bad for r in reads if r.bad)
            # A cell past the csv module's field limit: Python refuses the file. A repeated
            # column's cells were checked as they were read (_read_distinct_cells); the
            # others, only in the rows not taken plainly (_short), before Python reads them.
            limit = csv.field_size_limit()
            huge = " OR ".join(f"char_length(r.{c}) > {limit}" for c in cells)
            cursor.execute(
                f"CREATE TEMPORARY TABLE {REDO} AS SELECT n, {huge} AS huge FROM {RAW} r "
                f"WHERE NOT ({plain}){' OR ' + bad if bad else ''}"
            )
            cursor.execute(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE huge) FROM {REDO}")
            redo, huge_cells = cursor.fetchone()
            if huge_cells:
                raise _Back
            staged = _insert(cursor, reads, STAGE, LINKS, redo)
            rest = _sent_back(cursor, cells) if redo else None
            cursor.execute("SET LOCAL enable_nestloop TO DEFAULT")
            tables = [RAW, REDO, *(r.table for r in reads if r.table)]
            if any(r.name == "shared_mailboxes" and r.table for r in reads):
                tables.append(f"{_table('shared_mailboxes')}_each")
            cursor.execute(f"DROP TABLE {', '.join(tables)}")
    # What COPY refuses in the data (a short row, a blank line, mixed line ends, bad bytes)
    # is a DataError, and a cell the csv module refuses a csv.Error: the file goes to Python.
    # So does a PostgreSQL limit (SQLSTATE class 54: too many columns, a row too big), which
    # the row by row reader does not meet. A connection lost is not: the import fails.
    except (_Back, DataError, csv.Error, OperationalError) as exc:
        # Rolled back to the savepoint: nothing staged.
        if rest:
            rest.close()
        if isinstance(exc, OperationalError) and not _program_limit(exc):
            raise
        return None
    return staged, _leftovers(rest) if rest else iter(())


def _program_limit(exc: OperationalError) -> bool:
    """Whether PostgreSQL refused for one of its limits (SQLSTATE class 54)."""
    return str(getattr(exc.__cause__, "pgcode", "") or "").startswith("54")


def _header_alone(path: Path, encoding: str, header: list[str]) -> bool:
    """Whether the header record ends on the file's first line, as the csv module read it.
    A quote opened in the header and never closed takes the csv module to the end of the
    file (one record, no data rows), where COPY would load lines 2 onwards; counting quotes
    is not enough (a quote inside a field is a literal: 'Na"me,"Notes')."""
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        fields = list(csv.reader([first.decode(encoding)], strict=True))
    except (UnicodeDecodeError, csv.Error):
        return False
    return fields == [header]


def _sent_back(cursor, cells: list[str]):
    """The rows for the Python reader, in a temporary file: a file of bad rows can be as
    large as the file itself."""
    rest = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")  # noqa: SIM115
    try:
        cursor.cursor.copy_expert(
            f"COPY (SELECT r.n + 1, {', '.join(f'r.{c}' for c in cells)} FROM {RAW} r "
            f"JOIN {REDO} d USING (n) ORDER BY r.n) TO STDOUT WITH (FORMAT csv)",
            rest,
        )
        rest.seek(0)
    except BaseException:
        rest.close()
        raise
    return rest


def _leftovers(handle) -> Iterator[tuple[int, list[str]]]:
    try:
        for line, *fields in csv.reader(handle):
            yield int(line), fields
    finally:
        handle.close()


class _Read:
    """How one of our columns is read: SQL text for its staged values, the condition that
    takes a row in SQL (plain) and the one that sends it to Python (bad), and the table of
    its distinct cells read in Python, if any."""

    def __init__(self, name: str, values: list[str], *, plain="", bad="", table="", key=""):
        self.name, self.values, self.plain, self.bad = name, values, plain, bad
        self.table, self.key = table, key  # the table of distinct cells, and how it joins


def _reads(plan: headers.Plan, positions: dict[str, int], cursor) -> list[_Read]:
    reads, repeated = [], []
    for name, read, required, cells in plan.readers:
        if cells is None:
            reads.append(_Read(name, ["NULL", "NULL"] if name == "last_activity" else ["NULL"]))
            continue
        cell = f"r.c{positions[name]}"
        if read is specs.email:
            reads.append(
                _Read(
                    name,
                    [f"lower({cell})"],
                    plain=f"{cell} ~ '{PLAIN_EMAIL}' AND octet_length({cell}) <= 254",
                )
            )
        elif read is specs.DISPLAY_NAME.read:
            plain = (
                f"({cell} = '' OR (ascii({cell}) BETWEEN 33 AND 126 AND ascii(right({cell}, 1)) "
                f"BETWEEN 33 AND 126 AND {cell} NOT LIKE '''%' AND char_length({cell}) <= 200))"
            )
            reads.append(_Read(name, [f"NULLIF({cell}, '')"], plain=plain))
        else:
            reads.append(_cells_read(name, cell))
            repeated.append((name, read, required, cell))
    if repeated:
        _read_distinct_cells(repeated, cursor)
    return reads


def _table(name: str) -> str:
    return f"import_read_{name}"


def _cells_read(name: str, cell: str) -> _Read:
    """A column of few distinct cells, each read once by its Python reader (into its table,
    _read_distinct_cells), joined back to the rows by the cell."""
    table = _table(name)
    values = [f"{table}.v1", f"{table}.v2"] if name == "last_activity" else [f"{table}.v1"]
    return _Read(
        name,
        values,
        bad=f"{cell} IN (SELECT raw FROM {table} WHERE NOT ok)",
        table=table,
        key=f"{table}.raw = {cell}",
    )


# Typed: each distinct cell's value is parsed once, not once a row.
TYPES = {"last_activity": ("timestamptz", "date"), "created": ("date", "text")}


def _read_distinct_cells(columns: list[tuple], cursor) -> None:
    """The distinct cells of every repeated column in one scan of the rows (GROUPING SETS:
    1.9 s against 3.6 s for a DISTINCT a column at a million rows), each read by its
    column's Python reader into a table of its own: (raw, ok, v1, v2)."""
    cells = [cell for *_, cell in columns]
    everything = (1 << len(cells)) - 1
    # GROUPING() has a bit for each column, set when the row is not grouped by it.
    which = {everything ^ (1 << (len(cells) - 1 - i)): column for i, column in enumerate(columns)}
    files = {}
    try:
        for name, *_ in columns:
            table = _table(name)
            first, second = TYPES.get(name, ("text", "text"))
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table} (raw text, ok boolean, v1 {first}, v2 {second})"
            )
            files[name] = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")  # noqa: SIM115
        source = files[""] = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")  # noqa: SIM115
        # A cell past the csv module's field limit is not written out (the csv module would
        # not read it back): it is flagged, and the file goes through Python, which refuses it.
        limit = csv.field_size_limit()
        cursor.cursor.copy_expert(
            f"COPY (SELECT g, char_length(v) > {limit}, "
            f"CASE WHEN char_length(v) > {limit} THEN '' ELSE v END FROM ("
            f"SELECT GROUPING({', '.join(cells)}) AS g, COALESCE({', '.join(cells)}) AS v "
            f"FROM {RAW} r GROUP BY GROUPING SETS ({', '.join(f'({c})' for c in cells)})) s) "
            "TO STDOUT WITH (FORMAT csv)",
            source,
        )
        source.seek(0)
        writers = {
            name: csv.writer(files[name], lineterminator=bulk.LINE_END) for name, *_ in columns
        }
        for grouping, huge, text in csv.reader(source):
            if huge == "t":
                raise _Back
            name, read, required, _ = which[int(grouping)]
            writers[name].writerow(_read_cell(name, read, required, text))
        for name, *_ in columns:
            table = _table(name)
            files[name].seek(0)
            bulk.copy_file(table, ["raw", "ok", "v1", "v2"], files[name])
            # COPY reads an empty cell as NULL: the empty cell is a cell too.
            cursor.execute(f"UPDATE {table} SET raw = '' WHERE raw IS NULL")
    finally:
        for handle in files.values():
            handle.close()
    if any(name == "shared_mailboxes" for name, *_ in columns):  # one row a mailbox, for links
        table = _table("shared_mailboxes")
        cursor.execute(f"DROP TABLE IF EXISTS {table}_each")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE {table}_each AS
            SELECT raw, string_to_table(v1, ' ') AS mailbox FROM {table} WHERE v1 IS NOT NULL"""
        )


def _read_cell(name: str, read, required: bool, text: str) -> tuple:
    """(cell, ok, values as COPY text) by the column's own reader."""
    if required and not text.strip():
        return text, False, None, None
    try:
        value = read(text)
    except ValueError:
        return text, False, None, None
    if name == "last_activity":
        moment, day = value if value else (None, None)
        if moment is None:
            return text, True, None, None
        return text, True, str(moment), str(day)
    if name == "shared_mailboxes":
        return text, True, " ".join(value) or None, None
    return text, True, None if value is None else str(value), None


def _short(cells: list[str]) -> list[str]:
    """No cell beyond the csv module's field limit on the SQL path (octet_length: cheap, and
    never less than the length in characters)."""
    limit = csv.field_size_limit()
    return [f"octet_length(r.{c}) <= {limit}" for c in cells]


def _insert(cursor, reads: list[_Read], stage: str, links: str, redo: int) -> int:
    joins = " ".join(f"JOIN {r.table} ON {r.key}" for r in reads if r.table)
    keep = f"NOT EXISTS (SELECT 1 FROM {REDO} d WHERE d.n = r.n)" if redo else "true"
    by_name = {r.name: r for r in reads}
    values = [v for r in reads if r.name != "shared_mailboxes" for v in r.values]
    cursor.execute(
        f"""INSERT INTO {stage} (line, email, ods_code, display_name, reported_status,
            last_activity, last_activity_date, first_recorded)
        SELECT r.n + 1, {", ".join(values)} FROM {RAW} r {joins} WHERE {keep}"""
    )
    staged = cursor.rowcount
    boxes = by_name.get("shared_mailboxes")
    if boxes is not None and boxes.table:
        email, ods = by_name["email"].values[0], by_name["ods_code"].values[0]
        each = f"{boxes.table}_each"
        ods_join = by_name["ods_code"]
        cursor.execute(
            f"""INSERT INTO {links} (line, email, mailbox, ods_code)
            SELECT r.n + 1, {email}, {each}.mailbox, {ods}
            FROM {RAW} r JOIN {each} ON {boxes.key.replace(boxes.table, each)}
            {f"JOIN {ods_join.table} ON {ods_join.key}" if ods_join.table else ""}
            WHERE {keep}"""
        )
    return staged

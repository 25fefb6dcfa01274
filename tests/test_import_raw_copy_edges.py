"""PostgreSQL's raw COPY path (accounts/imports/rawcopy.py) at its edges: a cell past the csv
module's field limit in a column read once per distinct cell, files wider than the raw table
holds (and the fallback on PostgreSQL's limits behind MAX_COLUMNS), a header whose quote never
closes; and awkward but valid files: trailing blank lines, COPY's own markers (backslashes,
"\\.", "\\N"), control characters, every cp1252 byte, odd headers, a region admin's scope,
a dry run, a header with no rows, and what a fallback leaves behind. Each file must import
exactly as the row by row reader imports it, and the upload page must answer with a
message, never a 500."""

import csv

import pytest
from django.db import connection

from accounts.imports import rawcopy
from accounts.imports.engine import run_import
from accounts.models import StaffAccount, User
from accounts.scoping import import_scope_for

from .test_import_raw_copy import HEADER, _both_ways

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(rosewood_mailbox, willow_mailbox):
    return rosewood_mailbox, willow_mailbox


@pytest.fixture(autouse=True)
def _pg():
    if connection.vendor != "postgresql":
        pytest.skip("the raw path is PostgreSQL's")


def _compare(tmp_path, monkeypatch, data: bytes, **options):
    path = tmp_path / "accounts.csv"
    path.write_bytes(data)
    return _both_ways(path, monkeypatch, **options)


def test_a_huge_cell_in_a_repeated_column_is_refused_as_before(tmp_path, monkeypatch, homes):
    """A status cell past the csv module's field limit: the row by row reader names it ('the
    file is not valid CSV'). The raw path reads a repeated column's distinct cells with the
    csv module: the huge cell must send the file to Python before, not crash (csv.Error)."""
    body = f"p1@nhs.net,VM4Q7,Ann,{'x' * 140_000},,,\n".encode()
    raw, slow, staged = _compare(tmp_path, monkeypatch, (HEADER + "\n").encode() + body)
    assert staged == [None]
    assert "field larger than field limit" in " ".join(slow["errors"])
    assert raw == slow


def test_a_file_with_very_many_columns_imports_as_before(tmp_path, monkeypatch, homes):
    """Spreadsheets export trailing empty columns. 1,600 columns is past PostgreSQL's limit
    for the raw table: the file goes through Python."""
    header = HEADER + "," * 1600
    body = "p1@nhs.net,VM4Q7,Ann,active,,," + "," * 1600 + "\n"
    raw, slow, _ = _compare(tmp_path, monkeypatch, (header + "\n" + body).encode())
    assert slow["written"]
    assert raw == slow


def test_a_wide_row_imports_as_before(tmp_path, monkeypatch, homes):
    """Fewer columns, but a row of the raw table would pass PostgreSQL's 8 kB row size
    (small values are not moved out of line): the file goes through Python."""
    extra = ",".join(f"x{i}" for i in range(1000))
    header = HEADER + "," + extra
    body = "p1@nhs.net,VM4Q7,Ann,active,,,," + ",".join(["abcdefgh"] * 1000) + "\n"
    raw, slow, _ = _compare(tmp_path, monkeypatch, (header + "\n" + body).encode())
    assert slow["written"]
    assert raw == slow


def test_uploading_a_huge_status_cell_is_not_a_500(client, admin_user, homes, settings, tmp_path):
    """The same file through the upload page (checked inline: under IMPORT_BACKGROUND_BYTES):
    the house rule is a clear message, never a 500."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    settings.UPLOAD_DIR = tmp_path
    client.raise_request_exception = False
    client.force_login(admin_user)
    content = (HEADER + "\n" + f"p1@nhs.net,VM4Q7,Ann,{'x' * 140_000},,,\n").encode()
    page = client.post(
        reverse("import_new"),
        {"kind": "accounts", "file": SimpleUploadedFile("r.csv", content, "text/csv")},
    )
    assert page.status_code == 302


def test_a_header_with_an_unclosed_quote_imports_nothing_as_before(tmp_path, monkeypatch, homes):
    """The csv module reads a header whose quote never closes as one record to the end of
    the file (the rows are inside its last header cell): no data rows, nothing imported.
    COPY would load lines 2 onwards as rows: the file must not take the raw path."""
    data = b'Email Address,ODS Code,"Display Name\np1@nhs.net,VM4Q7,Ann\np2@nhs.net,VM4Q7,Bob\n'
    raw, slow, staged = _compare(tmp_path, monkeypatch, data)
    assert not slow["written"] and slow["accounts"] == []
    assert raw == slow


def test_an_unclosed_quote_after_a_literal_quote_in_the_header(tmp_path, monkeypatch, homes):
    """The same with an even number of quotes on the header line (a quote inside a field is
    a literal, the next opens a field that never closes): counting quotes is no fix."""
    data = b'Email Address,ODS Code,Na"me,"Notes\np1@nhs.net,VM4Q7,Ann,x\n'
    raw, slow, staged = _compare(tmp_path, monkeypatch, data)
    assert raw == slow


@pytest.mark.parametrize("width", [1600, 1000])
def test_postgresql_limits_send_the_file_to_python(tmp_path, monkeypatch, homes, width):
    """Behind MAX_COLUMNS: if a file still meets one of PostgreSQL's limits (SQLSTATE class
    54: 1,600 columns, 'row is too big'), the savepoint is rolled back and the file goes
    through Python, as a DataError does."""
    monkeypatch.setattr(rawcopy, "MAX_COLUMNS", 5000)
    header = HEADER + "," + ",".join(f"x{i}" for i in range(width))
    body = "p1@nhs.net,VM4Q7,Ann,active,,,," + ",".join(["abcdefgh"] * width) + "\n"
    raw, slow, staged = _compare(tmp_path, monkeypatch, (header + "\n" + body).encode())
    assert staged == [None]
    assert slow["written"] and raw == slow
    with connection.cursor() as cursor:  # nothing of the raw path is left behind
        cursor.execute("SELECT to_regclass('import_raw')")
        assert cursor.fetchone() == (None,)


def test_a_csv_error_while_staging_sends_the_file_to_python(tmp_path, monkeypatch, homes):
    """Whatever the csv module refuses while the raw path reads the distinct cells sends
    the file to the row by row reader (nothing staged), never out of run_import."""

    def refuse(*args):
        raise csv.Error("field larger than field limit (131072)")

    monkeypatch.setattr(rawcopy, "_read_distinct_cells", refuse)
    body = "p1@nhs.net,VM4Q7,Ann,active,,,\n"
    raw, slow, staged = _compare(tmp_path, monkeypatch, (HEADER + "\n" + body).encode())
    assert staged == [None]
    assert slow["written"] and raw == slow


def test_a_header_read_alone_must_equal_the_header(tmp_path):
    """The check behind the raw path: the first line parsed alone (strict) is the header."""
    path = tmp_path / "h.csv"
    for first, header, alone in [
        (b"a,b\r\nx,y\r\n", ["a", "b"], True),
        (b'"a ""x""",b\n', ['a "x"', "b"], True),
        (b"\xef\xbb\xbfa,b\n", ["a", "b"], True),
        (b'a,"b\nc"\n', ["a", "b\nc"], False),
        (b'a,N"m,"c\nd\n', ["a", 'N"m', "c\nd\n"], False),
    ]:
        path.write_bytes(first)
        assert rawcopy._header_alone(path, "utf-8-sig", header) is alone, first


# The same result both ways, file shape by file shape (tests/test_import_raw_copy_same.py
# before it joined this file).
R = "p1@nhs.net,VM4Q7,Ann,active,01/11/2026 09:00,01/02/2020,rosewood.carehome@nhs.net"


CP1252 = bytes(b for b in range(0x80, 0x100) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D))

BODIES = {
    "trailing blank lf": (R + "\n\n\n").encode(),
    "trailing blank crlf": (R + "\r\n\r\n").encode(),
    "no final newline crlf": (R + "\r\np2@nhs.net,VM4Q7,B,,,,").encode(),
    "backslashes": b"p1@nhs.net,VM4Q7,A\\B\\,\\,,,\np2\\x@nhs.net,VM4Q7,\\.,active,,,\n",
    "copy end marker last": (R + "\n\\.\n").encode(),
    "copy end marker crlf": (R + "\r\n\\.\r\np2@nhs.net,VM4Q7,B,,,,\r\n").encode(),
    "null-ish": b"p1@nhs.net,VM4Q7,\\N,NULL,,,\np2@nhs.net,VM4Q7,N,,,,\n",
    "controls in names": "p1@nhs.net,VM4Q7,A\tB,,,,\np2@nhs.net,VM4Q7,\tAnn\t,,,,\n"
    "p3@nhs.net,VM4Q7,A\x0bB\x1f,,,,\np4@nhs.net,VM4Q7,\x1cAnn,,,,\np5@nhs.net,VM4Q7,A\x7f,,,,\n"
    "p6@nhs.net,VM4Q7,A\u2028B,,,,\np7@nhs.net,VM4Q7,'=x,,,,\np8@nhs.net,VM4Q7,'\tx,,,,\n"
    "p9@nhs.net,VM4Q7,A\x85,,,,\n".encode(),
    "emails": " P1@NHS.NET,VM4Q7,A,,,,\nP2@Nhs.Net,VM4Q7,A,,,,\np3@nhs.net.,VM4Q7,A,,,,\n"
    "p4@nhs.nEK,VM4Q7,A,,,,\np5@nhs.ne\u212a,VM4Q7,A,,,,\np6@nhs..net,VM4Q7,A,,,,\n"
    "İp7@nhs.net,VM4Q7,A,,,,\np8@nhs.net\x0c,VM4Q7,A,,,,\n.@a.bc,VM4Q7,A,,,,\n"
    "p9@NHS.NET,VM4Q7,A,,,,\nP9@nhs.net,VM4Q7,B,,,,\n".encode(),
    "names at the limit": (
        "p1@nhs.net,VM4Q7,"
        + "x" * 200
        + ",,,,\np2@nhs.net,VM4Q7,"
        + "é" * 200
        + ",,,,\np3@nhs.net,VM4Q7, "
        + "x" * 200
        + ",,,,\n"
    ).encode(),
    "mailboxes": b"p1@nhs.net,VM4Q7,A,,,,rosewood.carehome@nhs.net;;ROSEWOOD.carehome@nhs.net\n"
    b"p2@nhs.net,VM4Q7,A,,,,rosewood.carehome@nhs.net willow.court@nhs.net\n"
    b"p3@nhs.net,VM4Q7,A,,,,rosewood.carehome@nhs.net|x@nhs.net\n"
    b"p4@nhs.net,VN8P2,A,,,,rosewood.carehome@nhs.net\n"
    b"p5@nhs.net,VM4Q7,A,,,,\trosewood.carehome@nhs.net\t;\n",
    "dates": b"p1@nhs.net,VM4Q7,A,,1/2/2020,2020-02-01,\np2@nhs.net,VM4Q7,A,,2020-02-01 10:00,01/02/2020 10:00,\n"
    b"p3@nhs.net,VM4Q7,A,,02/13/2020,,\np4@nhs.net,VM4Q7,A,,2020-02-30,,\n"
    b"p5@nhs.net,VM4Q7,A,,2020-02-01T10:00:00+05:00,,\np6@nhs.net,VM4Q7,A,,01/01/1900,,\n"
    b"p7@nhs.net,VM4Q7,A,,2020-02-01T10:00:00z,,\np8@nhs.net,VM4Q7,A,,29/02/2024 24:00,,\n",
    "ods": b"p1@nhs.net,vm4q7 ,A,,,,\np2@nhs.net,ZZZ99,A,,,,\np3@nhs.net, ,A,,,,\n",
    "extra and missing fields": (R + ",\np2@nhs.net,VM4Q7\n").encode(),
}


@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.parametrize("skip", [False, True])
def test_bodies(tmp_path, monkeypatch, homes, name, skip):
    path = tmp_path / "a.csv"
    path.write_bytes((HEADER + "\n").encode() + BODIES[name])
    raw, slow, staged = _both_ways(path, monkeypatch, skip_bad_rows=skip)
    assert raw == slow


def test_cp1252_every_byte(tmp_path, monkeypatch, homes):
    text = CP1252.replace(b",", b"").replace(b'"', b"")
    rows = [b"p%d@nhs.net,VM4Q7,A%sZ,,,," % (i, text[i : i + 8]) for i in range(0, len(text), 8)]
    path = tmp_path / "a.csv"
    path.write_bytes(HEADER.encode() + b"\r\n" + b"\r\n".join(rows) + b"\r\n")
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert staged[0] is not None and raw == slow and raw["written"]


@pytest.mark.parametrize(
    "header",
    [
        "email,ods_code,display_name",
        " EMAIL ADDRESS ,ods-code,Name,x,Last_Logon_Time",
        "Last Logon Time,Shared Mailboxes,Created,Account Status,Display Name,ODS Code,Email Address",
        "\ufeffEmail,Email Address,ODS",
        "Email,ODS Code,unknown,,other",
    ],
)
def test_headers(tmp_path, monkeypatch, homes, header):
    n = len(header.split(","))
    cells = {
        "email": "p1@nhs.net",
        "emailaddress": "p1@nhs.net",
        "odscode": "VM4Q7",
        "ods": "VM4Q7",
    }
    keys = [
        h.strip().lower().replace(" ", "").replace("-", "").replace("_", "").lstrip("\ufeff")
        for h in header.split(",")
    ]
    row = ",".join(cells.get(k, "") for k in keys)
    path = tmp_path / "a.csv"
    path.write_text(header + "\n" + row + "\n" + row.replace("p1", "p2") + "\n")
    assert n
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert raw == slow


def test_region_admin_scope(tmp_path, monkeypatch, homes, midlands):
    user = User.objects.create_user("ra@example.org", "pw-12345678", role=User.Role.ADMIN)
    user.regions.add(midlands)
    path = tmp_path / "a.csv"
    path.write_bytes(
        (
            HEADER + "\n" + R + "\np2@nhs.net,VN8P2,B,,,,\n"
            "p3@nhs.net,VM4Q7,C,,,,willow.court@nhs.net\n"
        ).encode()
    )
    for skip in (False, True):
        raw, slow, staged = _both_ways(
            path, monkeypatch, skip_bad_rows=skip, scope=import_scope_for(user)
        )
        assert staged[0] is not None and raw == slow and raw["errors"]
        assert not StaffAccount.objects.filter(home__ods_code="VN8P2").exists()
        StaffAccount.objects.all().delete()
        monkeypatch.undo()


def test_dry_run_writes_nothing(tmp_path, monkeypatch, homes):
    path = tmp_path / "a.csv"
    path.write_bytes((HEADER + "\n" + R + "\n").encode())
    result = run_import("accounts", path, dry_run=True)
    assert result.created == 1 and StaffAccount.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'import_%%' AND relpersistence = 't'"
        )
        assert cursor.fetchall() == []
        cursor.execute("SHOW enable_nestloop")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n",
        HEADER.encode(),
        HEADER.encode() + b"\n\n",
        b"",
    ],
)
def test_header_only(tmp_path, monkeypatch, homes, data):
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert raw == slow and not raw["written"]


@pytest.mark.parametrize("cell", ["x" * 140_000, "é" * 70_000])
def test_settings_and_temp_tables_after_a_fallback(tmp_path, monkeypatch, homes, cell):
    path = tmp_path / "a.csv"
    path.write_bytes((HEADER + "\n" + R + f"\np2@nhs.net,VM4Q7,{cell},,,,\n").encode())
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert raw == slow
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_nestloop")
        assert cursor.fetchone()[0] == "on"
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'import_r%%' AND relpersistence = 't'"
        )
        assert cursor.fetchall() == []


def test_a_fallback_after_set_local_leaves_nestloop_on(tmp_path, monkeypatch, rosewood_mailbox):
    body = f"p1@nhs.net,VM4Q7,Ann,{'x' * 140_000},,,\n".encode()
    path = tmp_path / "a.csv"
    path.write_bytes((HEADER + "\n").encode() + body)
    assert csv.field_size_limit() < 140_000
    _both_ways(path, monkeypatch)
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_nestloop")
        assert cursor.fetchone() == ("on",)
        cursor.execute("SELECT to_regclass('import_raw'), to_regclass('import_redo')")
        assert cursor.fetchone() == (None, None)


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31 23:59"]
)
def test_out_of_range_moments_import_alike(tmp_path, monkeypatch, rosewood_mailbox, moment):
    path = tmp_path / "a.csv"
    path.write_bytes(f"{HEADER}\np1@nhs.net,VM4Q7,Ann,active,{moment},,\n".encode())
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert raw == slow

"""PostgreSQL's raw COPY path (accounts/imports/rawcopy.py) at its edges: a cell past the csv
module's field limit in a column read once per distinct cell, files wider than the raw table
holds (and the fallback on PostgreSQL's limits behind MAX_COLUMNS), a header whose quote never
closes. Each file must import exactly as the row by row reader imports it, and the upload page
must answer with a message, never a 500."""

import csv

import pytest
from django.db import connection

from accounts.imports import rawcopy

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

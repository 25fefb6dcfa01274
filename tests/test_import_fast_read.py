"""The engine reads a row in one pass (engine._fast_reader) and only reads it again cell by
cell (engine._read_row) when something is wrong: both give the same values, and the fast
pass never lets through a row the careful one refuses."""

import csv
import errno
import tempfile
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.imports import engine, headers
from accounts.imports.csvfiles import parse_date
from accounts.imports.engine import ImportResult, _fast_reader, _read_row, run_import
from accounts.imports.specs import ACCOUNTS, plausible
from accounts.models import ImportRecord, StaffAccount
from accounts.rules import LONDON

HEADER = ["Email Address", "ODS Code", "Display Name", "Account Status", "Last Logon Time",
          "Created", "Shared Mailboxes"]  # fmt: skip
CELLS = [
    st.sampled_from(["a@nhs.net", " B@NHS.net ", "c@nhs", "", "  ", "d e@nhs.net"]),
    st.sampled_from(["VM4Q7", " vm4q7", "", "V", "TOOLONG1"]),
    st.text(st.sampled_from("aZ '=+-\t\u00a0é"), max_size=5),
    st.sampled_from(["", "active", " Disabled ", "left", "log in soon", "x"]),
    st.sampled_from(["", "29/11/2026 09:05", "31/02/2026", "2026-11-01", "13/13/2026", "1/1/1989",
                     "01/01/2099", "25/10/2026 01:30", "2026-10-25T01:30:00Z"]),
    st.sampled_from(["", "01/02/2020", "30/02/2020", "2020-02-01"]),
    st.sampled_from(["", "x@nhs.net", "x@nhs.net; Y@nhs.net,x@nhs.net", "bad", " ; "]),
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    fields=st.tuples(*CELLS).map(list),
    columns=st.sets(st.sampled_from(range(2, 7))),
)
def test_the_fast_pass_reads_as_the_careful_one(fields, columns):
    # Some files lack some of the optional columns.
    keep = [i for i in range(7) if i < 2 or i not in columns]
    header, fields = [HEADER[i] for i in keep], [fields[i] for i in keep]
    readers = headers.plan(ACCOUNTS, header).readers
    careful = ImportResult("accounts", "f.csv")
    expected = _read_row(readers, 2, fields, careful)
    fast = _fast_reader(readers)(fields)
    if careful.error_count:
        assert fast is None and expected is None
    else:
        assert fast == expected


def test_a_date_is_judged_against_the_day_it_is_read():
    read = plausible(parse_date)
    with time_machine.travel(datetime(2026, 11, 29, 12, tzinfo=LONDON), tick=False):
        assert read("30/11/2026") == date(2026, 11, 30)  # tomorrow: a clock ahead of ours
        try:
            read("01/12/2026")
            raise AssertionError("the day after tomorrow was let through")
        except ValueError as exc:
            assert "is in the future" in str(exc)
    # Just after midnight in London: the next day.
    with time_machine.travel(datetime(2026, 11, 30, 0, 0, 1, tzinfo=LONDON), tick=False):
        assert read("01/12/2026") == date(2026, 12, 1)
    # And back again: a clock moved back is noticed too.
    with time_machine.travel(datetime(2026, 11, 29, 23, 59, 59, tzinfo=LONDON), tick=False):
        try:
            read("01/12/2026")
            raise AssertionError("a clock moved back was not noticed")
        except ValueError as exc:
            assert "is in the future" in str(exc)
    with time_machine.travel(datetime(2026, 6, 30, 23, 30, tzinfo=UTC), tick=False):
        # In summer London is an hour ahead of UTC: its date is already 1 July at 23:30 UTC.
        assert read("02/07/2026") == date(2026, 7, 2)


def test_the_two_half_past_ones_of_the_night_the_clocks_go_back_stay_apart(
    rosewood_mailbox, tmp_path
):
    """01:30 on 25 October 2026 happens twice in London; a day-first date means the first
    (BST), an ISO time in UTC may mean the second. Each row keeps its own instant."""
    from accounts.imports.engine import run_import
    from accounts.models import StaffAccount

    path = tmp_path / "accounts.csv"
    path.write_text(
        ",".join(HEADER) + "\n"
        "bst@nhs.net,VM4Q7,A,active,25/10/2026 01:30,,\n"
        "gmt@nhs.net,VM4Q7,B,active,2026-10-25T01:30:00Z,,\n"
        "bst2@nhs.net,VM4Q7,C,active,25/10/2026 01:30,,\n"
    )
    result = run_import("accounts", path)
    assert result.written, result.error_lines()
    seen = dict(StaffAccount.objects.values_list("email", "last_activity"))
    assert seen["bst@nhs.net"] == seen["bst2@nhs.net"] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert seen["gmt@nhs.net"] == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_a_file_that_breaks_off_mid_way_writes_nothing_and_says_where(rosewood_mailbox, tmp_path):
    """The rows stream to the database while they are read (one COPY on PostgreSQL): a
    record the csv module cannot read, after good ones, still stops the import whole."""
    from accounts.imports.engine import run_import
    from accounts.models import ImportRecord, StaffAccount

    good = "".join(f"a{n}@nhs.net,VM4Q7,A,active,01/11/2026 09:00,,\n" for n in range(3000))
    path = tmp_path / "accounts.csv"
    path.write_text(",".join(HEADER) + "\n" + good + "b@nhs.net,VM4Q7," + "x" * 200_000 + ",,,,\n")
    result = run_import("accounts", path)
    assert not result.written and StaffAccount.objects.count() == 0
    assert result.error_lines() == [
        "line 3002: file: the file is not valid CSV (field larger than field limit (131072))"
    ]
    assert ImportRecord.objects.get(pk=result.record_id).outcome == ImportRecord.Outcome.FAILED


def _accounts_file(tmp_path, rows, header=("email", "ods_code", "display_name", "status")):
    path = tmp_path / "accounts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([list(header), *rows])
    return path


@pytest.mark.parametrize("name", ["Ann\rSmith", "Ann\r\nSmith", "Ann\nSmith"])
def test_a_line_break_inside_a_quoted_name_imports_on_both_databases(tmp_path, rosewood, name):
    """COPY's rows end in "\\r\\n" (bulk.LINE_END), so a bare "\\r" in a cell is quoted: with
    "\\n" line ends COPY read it as the end of the row and the whole import failed."""
    rows = [["ann@nhs.net", "VM4Q7", name, "active"], ["bob@nhs.net", "VM4Q7", "Bob", "active"]]
    result = run_import("accounts", _accounts_file(tmp_path, rows))
    assert result.written and not result.errors, (connection.vendor, result.errors)
    assert StaffAccount.objects.get(email="ann@nhs.net").display_name == name


@pytest.mark.django_db(transaction=True)
def test_a_full_temporary_disk_is_a_recorded_failure_that_wrote_nothing(
    tmp_path, monkeypatch, rosewood, rosewood_mailbox
):
    if connection.vendor != "postgresql":
        pytest.skip("the links wait in a temporary file on PostgreSQL only")
    real = tempfile.TemporaryFile

    class Full:
        def __init__(self, *args, **kwargs):
            self.file = real(*args, **kwargs)

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.file, name)

    monkeypatch.setattr(engine.tempfile, "TemporaryFile", Full)
    rows = [["ann@nhs.net", "VM4Q7", "Ann", "active", "rosewood.carehome@nhs.net"]]
    header = ("email", "ods_code", "display_name", "status", "shared_mailboxes")
    result = run_import("accounts", _accounts_file(tmp_path, rows, header))
    assert not result.written
    assert result.error_lines() == [
        "The import: the import stopped and wrote nothing (the server could not write a "
        "temporary file: No space left on device)"
    ]
    assert ImportRecord.objects.filter(pk=result.record_id, outcome="failed").exists()
    assert not StaffAccount.objects.exists()

"""PostgreSQL stages an accounts CSV by COPYing its raw bytes and reading the cells in SQL
(accounts/imports/rawcopy.py). Whatever a file holds, the import must come out as the row by
row reader makes it: the same accounts, links, counts, and the same errors on the same lines;
a file the database would split otherwise goes through the row by row reader whole."""

import random

import pytest
from django.db import connection

from accounts.imports import engine, rawcopy
from accounts.imports.engine import run_import
from accounts.models import MailboxLink, StaffAccount

pytestmark = pytest.mark.django_db

HEADER = (
    "Email Address,ODS Code,Display Name,Account Status,Last Logon Time,Created,Shared Mailboxes"
)
# Cells the raw path reads in SQL, in Python (once per distinct cell), or sends back to
# Python row by row; good and bad alike.
EMAILS = ["{n}@nhs.net", " {n}@NHS.net ", "{n}@nhs", "", "  ", "{n} x@nhs.net", "É{n}@nhs.net",
          "{n}@NHS.NET", "{n}'o@nhs.net", "{n}@nhs.net\u00a0"]  # fmt: skip
ODS = ["VM4Q7", " vm4q7", "", "V", "TOOLONG1", "VN8P2", "ZZZ99"]
NAMES = ["Ann", "", " Ann ", "'=Sum", "'Ann", "Zoë", "Ann\u00a0", "x" * 201, "=1+2", "-", "Al Bo"]
STATUSES = ["", "active", " Disabled ", "left", "log in soon", "x", "Inactive"]
MOMENTS = ["", "29/11/2026 09:05", "31/02/2026", "2026-11-01", "13/13/2026", "1/1/1989",
           "01/01/2099", "25/10/2026 01:30", "2026-10-25T01:30:00Z", "25/10/2026 01:30:00"]  # fmt: skip
CREATED = ["", "01/02/2020", "30/02/2020", "2020-02-01"]
BOXES = ["", "rosewood.carehome@nhs.net", "rosewood.carehome@nhs.net; WILLOW.court@nhs.net",
         "bad", " ; ", "nobody@nhs.net", "willow.court@nhs.net;rosewood.carehome@nhs.net"]  # fmt: skip


def _row(rng: random.Random, n: int, bad: float) -> str:
    def pick(cells, good):
        return rng.choice(cells) if rng.random() < bad else good

    email = pick(EMAILS, "{n}@nhs.net").format(n=f"p{n}")
    cells = [email, pick(ODS, "VM4Q7"), pick(NAMES, f"Person {n}"), pick(STATUSES, "active"),
             pick(MOMENTS, "01/11/2026 09:00"), pick(CREATED, ""),
             pick(BOXES, "rosewood.carehome@nhs.net")]  # fmt: skip
    return ",".join(cells)


def _outcome(result) -> dict:
    return {
        "written": result.written,
        "rows": result.rows,
        "counts": (result.created, result.updated, result.unchanged),
        "links": (result.links_added, result.links_removed),
        "errors": result.error_lines(),
        "error_count": result.error_count,
        "skipped": (result.skipped_count, result.skipped_lines),
        "accounts": sorted(
            StaffAccount.objects.values_list(
                "email",
                "home__ods_code",
                "display_name",
                "reported_status",
                "last_activity",
                "last_activity_date",
                "first_recorded",
                "state",
            )
        ),  # fmt: skip
        "linked": sorted(MailboxLink.objects.values_list("account__email", "mailbox__email")),
    }


def _both_ways(path, monkeypatch, **options) -> tuple[dict, dict, list]:
    """The import of `path` by the raw path, then (from the same start) by the row by row
    reader; and what rawcopy.stage returned (None: the file went through Python whole)."""
    staged = []
    real = rawcopy.stage

    def spy(*args):
        staged.append(answer := real(*args))
        return answer

    monkeypatch.setattr(rawcopy, "stage", spy)
    raw = _outcome(run_import("accounts", path, **options))
    StaffAccount.objects.all().delete()
    monkeypatch.setattr(rawcopy, "usable", lambda *args: False)
    slow = _outcome(run_import("accounts", path, **options))
    return raw, slow, staged


@pytest.fixture
def homes(rosewood_mailbox, willow_mailbox):
    return rosewood_mailbox, willow_mailbox


def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the raw path is PostgreSQL's (SQLite keeps the row by row reader)")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("skip_bad_rows", [False, True])
def test_the_raw_path_imports_as_the_row_by_row_reader(tmp_path, monkeypatch, homes, seed,
                                                       skip_bad_rows):  # fmt: skip
    _needs_postgresql()
    rng = random.Random(seed)
    path = tmp_path / "accounts.csv"
    ends = "\r\n" if seed % 2 else "\n"
    path.write_text(
        ends.join([HEADER, *(_row(rng, n, 0.15) for n in range(300))]) + ends, encoding="utf-8"
    )
    raw, slow, staged = _both_ways(path, monkeypatch, skip_bad_rows=skip_bad_rows)
    assert staged and staged[0] is not None, "the file should have taken the raw path"
    assert raw == slow
    assert raw["errors"], "the file was meant to hold bad rows"


def test_a_clean_file_is_read_in_sql_and_nothing_goes_back_to_python(tmp_path, monkeypatch, homes):
    """The raw path is the one a plain report takes: every row staged in SQL, none read in
    Python (a test that fails if the raw path is dropped or stops taking plain rows)."""
    _needs_postgresql()
    rows = [f"p{n}@nhs.net,VM4Q7,Person {n},active,01/11/2026 09:{n % 60:02d},01/02/2020,"
            "rosewood.carehome@nhs.net" for n in range(500)]  # fmt: skip
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")

    def never(*args):
        raise AssertionError("a plain row was read in Python")

    monkeypatch.setattr(engine, "_fast_reader", lambda readers: never)
    result = run_import("accounts", path)
    assert result.written and (result.rows, result.created, result.links_added) == (500, 500, 500)
    account = StaffAccount.objects.get(email="p7@nhs.net")
    assert (account.display_name, account.home.ods_code) == ("Person 7", "VM4Q7")
    assert account.last_activity.isoformat() == "2026-11-01T09:07:00+00:00"
    assert str(account.first_recorded) == "2020-02-01"


@pytest.mark.parametrize(
    "body",
    [
        'p1@nhs.net,VM4Q7,"Smith, Ann",active,,,\np2@nhs.net,VM4Q7,Bob,active,,,\n',  # quotes
        'p1@nhs.net,VM4Q7,"Ann\nSmith",active,,,\n',  # a record over two lines
        'p1@nhs.net,VM4Q7,Ann "Al" Smith,active,,,\n',  # a quote inside a field
        "p1@nhs.net,VM4Q7,Ann,active,,,\n\np2@nhs.net,VM4Q7,Bob,active,,,\n",  # a blank line
        "p1@nhs.net,VM4Q7,Ann,active,,,\np2@nhs.net,VM4Q7,Bob\n",  # a short row
        "p1@nhs.net,VM4Q7,Ann,active,,,\r\np2@nhs.net,VM4Q7,Bob,active,,,\n",  # mixed ends
        "p1@nhs.net,VM4Q7,Ann,active,,,\n\\.\np2@nhs.net,VM4Q7,Bob,active,,,\n",  # COPY's end
        "p1@nhs.net,VM4Q7,Ann,active,,,\rp2@nhs.net,VM4Q7,Bob,active,,,\r",  # old Mac ends
        "p1@nhs.net,VM4Q7,Ann,active,,,\np2@nhs.net,VM4Q7,Bob,active,,,",  # no last line end
        "p1@nhs.net,VM4Q7,Ann,active,,,\n,,,,,,\n  ,, ,,,,\np2@nhs.net,VM4Q7,Bob,active,,,\n",
        "p1@nhs.net,VM4Q7,Ann,active,,,\np1@nhs.net,VM4Q7,Ann,active,,,\n",  # a duplicate
        "p1@nhs.net,VM4Q7," + "x" * 140_000 + ",active,,,\n",  # past the csv field limit
    ],
)
def test_a_file_the_database_would_split_otherwise_reads_as_before(tmp_path, monkeypatch, homes,
                                                                   body):  # fmt: skip
    _needs_postgresql()
    path = tmp_path / "accounts.csv"
    path.write_text(HEADER + "\n" + body, newline="")
    raw, slow, _ = _both_ways(path, monkeypatch)
    assert raw == slow


def test_a_windows_1252_file_with_a_byte_order_mark_header_reads_as_before(
    tmp_path, monkeypatch, homes
):
    _needs_postgresql()
    path = tmp_path / "accounts.csv"
    path.write_bytes(
        (HEADER + "\r\np1@nhs.net,VM4Q7,Zoë Café,active,,,\r\np2@nhs.net,VM4Q7,Bob,active,,,\r\n")
        .encode("cp1252")
    )  # fmt: skip
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert staged[0] is not None and raw == slow
    assert ("p1@nhs.net", "Zoë Café") in [(a[0], a[2]) for a in raw["accounts"]]
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\np1@nhs.net,VM4Q7,Zoë,active,,,\n").encode())
    StaffAccount.objects.all().delete()
    monkeypatch.undo()
    raw, slow, staged = _both_ways(path, monkeypatch)
    assert staged[0] is not None and raw == slow


def test_a_bad_row_on_the_raw_path_is_named_by_its_line_and_nothing_is_written(tmp_path, homes):
    _needs_postgresql()
    rows = [f"p{n}@nhs.net,VM4Q7,Person {n},active,01/11/2026 09:00,," for n in range(50)]
    rows[20] = "p20@nhs,VM4Q7,Person 20,sleeping,31/02/2026,,"
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    result = run_import("accounts", path)
    assert not result.written and StaffAccount.objects.count() == 0
    assert result.error_lines() == [
        "line 22: email: 'p20@nhs' is not a valid email address",
        "line 22: last_activity: '31/02/2026' is not a valid date (day is out of range for month)",
        "line 22: status: 'sleeping' is not a status: use active, disabled, deleted or leaver",
    ]


@pytest.mark.parametrize(
    "body, lines",
    [
        (b"a\nb\n", 2),
        (b"a\r\nb\r\n", 2),
        (b"a\rb\r", 2),
        (b"a\nb", 2),  # no last line end
        (b"a\n\nb\n", 3),  # a blank line is a line (COPY refuses it: the file goes to Python)
        (b"", 0),
    ],
)
def test_the_data_lines_are_counted_as_the_csv_module_counts_them(tmp_path, body, lines):
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"h1,h2\r\n" + body)
    assert rawcopy._shape(path) == (7, lines)


def test_a_line_end_split_across_two_reads_is_one_line_end(tmp_path, monkeypatch):
    monkeypatch.setattr(rawcopy, "READ_BYTES", 4)
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"h\nabc\r\ndef\r\n")  # the first "\r\n" falls across two reads
    assert rawcopy._shape(path) == (2, 2)


def test_a_quote_after_the_header_sends_the_file_to_python(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(b'"Email","ODS"\na@nhs.net,VM4Q7\n')  # quotes in the header are fine
    assert rawcopy._shape(path) == (14, 1)
    path.write_bytes(b'Email,ODS\n"a@nhs.net",VM4Q7\n')
    assert rawcopy._shape(path) is None

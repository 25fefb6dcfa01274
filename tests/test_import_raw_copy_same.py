"""PostgreSQL's raw COPY path (accounts/imports/rawcopy.py) against the row by row reader on
awkward but valid files: trailing blank lines, COPY's own markers (backslashes, "\\.", "\\N"),
control characters, every cp1252 byte, odd headers, a region admin's scope, a dry run, a
header with no rows, and what a fallback leaves behind. Each must import the same both ways."""

import pytest
from django.db import connection

from accounts.imports.engine import run_import
from accounts.models import StaffAccount, User
from accounts.scoping import import_scope_for

from .test_import_raw_copy import HEADER, _both_ways

pytestmark = pytest.mark.django_db

R = "p1@nhs.net,VM4Q7,Ann,active,01/11/2026 09:00,01/02/2020,rosewood.carehome@nhs.net"


@pytest.fixture
def homes(rosewood_mailbox, willow_mailbox):
    return rosewood_mailbox, willow_mailbox


@pytest.fixture(autouse=True)
def _pg():
    if connection.vendor != "postgresql":
        pytest.skip("the raw path is PostgreSQL's")


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

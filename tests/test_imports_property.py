"""Whatever bytes arrive, the import never raises and never half-writes."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.imports.engine import run_import
from accounts.models import StaffAccount

VALID = (
    b"email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
    b"amy@nhs.net,VM4Q7,Amy,active,2026-03-29,,rosewood.carehome@nhs.net\n"
    b"ben@nhs.net,VM4Q7,Ben,disabled,29/03/2026 10:15,01/01/2025,\n"
    b"cat@nhs.net,vm4q7,Cat,leaver,2026-07-01T23:30:00Z,,rosewood.carehome@nhs.net\n"
)

mutation = st.tuples(
    st.sampled_from(["delete", "insert", "duplicate_line", "drop_line"]),
    st.integers(min_value=0, max_value=len(VALID)),
    st.sampled_from([b",", b'"', b"\n", b"\x00", b"/", b"3", b"\xff", b"\xe9", b";", b" ", b"@"]),
)


def mutate(data: bytes, steps) -> bytes:
    for kind, at, chunk in steps:
        at = min(at, len(data))
        lines = data.split(b"\n")
        if kind == "delete" and data:
            data = data[:at] + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "duplicate_line" and lines:
            n = at % len(lines)
            data = b"\n".join(lines[: n + 1] + lines[n:])
        elif kind == "drop_line" and lines:
            n = at % len(lines)
            data = b"\n".join(lines[:n] + lines[n + 1 :])
    return data


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check_whole_or_nothing(path, data):
    StaffAccount.objects.all().delete()
    path.write_bytes(data)
    result = run_import("accounts", path)
    written = StaffAccount.objects.count()
    if result.error_count:
        assert written == 0, result.error_lines()
        assert not result.written
    else:
        assert result.written and written == result.created == result.rows


@SETTINGS
@given(steps=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_are_whole_or_nothing(rosewood_mailbox, tmp_path, steps):
    check_whole_or_nothing(tmp_path / "mutated.csv", mutate(VALID, steps))


@SETTINGS
@given(data=st.binary(max_size=600))
def test_random_bytes_never_raise(rosewood_mailbox, tmp_path, data):
    check_whole_or_nothing(tmp_path / "random.csv", data)

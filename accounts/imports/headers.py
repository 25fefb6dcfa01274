"""A file's header row, read once: which of its columns feeds each field of an import, for
our own columns (with their aliases) and for the Microsoft 365 usage reports; the home a
report without an ODS code column is for; and the header problems that stop an import
(a required column missing, one column given twice, a file of another kind)."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter

from .csvfiles import header_key, shown
from .specs import (
    IS_DELETED,
    KIND_NAMES,
    REPORT_REFRESH_DATE,
    SPECS,
    Spec,
    UsageReport,
    is_deleted,
    ods_code,
    usage_report,
)

# (our column, how a cell is read, required, which cells of a row it reads: None if none)
Reader = tuple[str, Callable, bool, Callable | None]


@dataclass
class Plan:
    readers: list[Reader] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # ours -> the file's, as it names them
    report: UsageReport | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, what is wrong)
    report_dates: set[date] = field(default_factory=set)  # Report Refresh Dates seen

    @property
    def layout(self) -> str:
        return self.report.label if self.report else ""


def plan(spec: Spec, header: list[str], *, ods: str | None = None) -> Plan:
    """How to read each row of a file with this header, for an import of spec's kind.
    ods: every row is for this home (already validated); the file needs no ODS column."""
    result = Plan()
    report = usage_report(header)
    result.report = report if spec.kind == "accounts" else None
    if hint := _other_kind(spec, header, report):
        result.problems.append(("file", hint))
    positions, missing, repeats = spec.match(header)
    for name, first, second in repeats:
        result.problems.append(
            (name, f"columns {shown(first)} and {shown(second)} both mean {name}")
        )
    if ods:
        missing = [name for name in missing if name != "ods_code"]
    if missing:
        found = ", ".join(shown(h) for h in header if h.strip())
        message = f"required column missing (the file's columns are: {found})"
        if "ods_code" in missing and spec.kind != "homes":
            message += (
                ". A report for one home needs no ODS code column: choose the home "
                "(--ods CODE on the command line)"
            )
        result.problems.append((", ".join(missing), message))
    keys = [header_key(name) for name in header]
    for column in spec.columns:
        index = positions.get(column.name)
        reader: Reader = (
            column.name,
            column.read,
            column.required,
            None if index is None else itemgetter(index),
        )
        if index is not None:
            result.columns[column.name] = header[index]
        if column.name == "ods_code" and ods:
            reader = (column.name, _for_home(ods), False, reader[3] or _no_cell)
            given = f"{ods}, the home chosen" if index is None else f"{header[index]} (all {ods})"
            result.columns[column.name] = given
        elif result.report and column.name == "email":
            reader = (column.name, _principal_name(column.read), True, reader[3])
        elif result.report and column.name == "status" and index is None:
            deleted_at = keys.index(header_key(IS_DELETED))
            reader = (column.name, is_deleted, False, itemgetter(deleted_at))
            result.columns[column.name] = IS_DELETED
        elif result.report and column.name == "last_activity":
            reader = _latest_activity(spec, header, keys, result)
        result.readers.append(reader)
    return result


def _no_cell(fields: list[str]) -> str:
    return ""


def _for_home(ods: str) -> Callable[[str], str]:
    @lru_cache(maxsize=256)
    def read(text: str) -> str:
        if not text.strip():
            return ods
        code = ods_code(text)
        if code != ods:
            raise ValueError(f"{text.strip()!r} is another home: this file is for {ods}")
        return code

    return read


# Microsoft 365 can conceal user names in its reports (the default since 2021): each user
# principal name is then a 32-digit hexadecimal hash.
CONCEALED = re.compile(r"^[0-9A-Fa-f]{32}$")


def _principal_name(read_email: Callable[[str], str]) -> Callable[[str], str]:
    def read(text: str) -> str:
        if CONCEALED.match(text.strip()):
            raise ValueError(
                "user names are concealed in this report: in the Microsoft 365 admin centre "
                'go to Settings > Org settings > Reports, untick "Display concealed user, '
                'group, and site names in all reports", and download the report again'
            )
        return read_email(text)

    return read


def _latest_activity(spec: Spec, header: list[str], keys: list[str], result: Plan) -> Reader:
    """A usage report's last activity: the latest of its activity columns, never after the
    date the report was true (its Report Refresh Date)."""
    assert result.report
    read_moment = spec.column("last_activity").read
    read_day = spec.column("created").read  # the date rules every date column follows
    names = [name for name in result.report.activity if header_key(name) in keys]
    refreshed_at = keys.index(header_key(REPORT_REFRESH_DATE))
    cells = itemgetter(refreshed_at, *(keys.index(header_key(name)) for name in names))
    result.columns["last_activity"] = ", ".join(header[keys.index(header_key(n))] for n in names)

    @lru_cache(maxsize=65536)
    def read(texts: tuple[str, ...]) -> tuple:
        refreshed_text, *activity = texts
        try:
            refreshed = read_day(refreshed_text)
        except ValueError as exc:
            raise ValueError(f"{REPORT_REFRESH_DATE}: {exc}") from None
        latest, latest_text = (None, None), ""
        for name, text in zip(names, activity, strict=True):
            try:
                moment = read_moment(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if moment[0] and (latest[0] is None or moment[0] > latest[0]):
                latest, latest_text = moment, text.strip()
        if refreshed:
            result.report_dates.add(refreshed)
            if latest[1] and latest[1] > refreshed:
                raise ValueError(
                    f"{latest_text!r} is after the report's {REPORT_REFRESH_DATE}, "
                    f"{refreshed.isoformat()}: the report cannot know of it"
                )
        return latest

    return ("last_activity", read, False, cells)


def _other_kind(spec: Spec, header: list[str], report: UsageReport | None) -> str:
    """Why this file looks like another kind of file, or "" when it does not. Another kind
    wins when it has all its required columns and explains more of the file than ours."""
    ours = KIND_NAMES[spec.kind][0]
    if report and spec.kind != "accounts":
        return (
            f"this is a {report.label}, which lists staff accounts, not {ours}: "
            "import it as staff NHSmail accounts"
        )
    positions, missing, _ = spec.match(header)
    ours_found = set(positions.values())
    best, candidates = 0, []
    for other in SPECS.values():
        if other is spec:
            continue
        theirs, their_missing, _ = other.match(header)
        if their_missing:
            continue
        if len(theirs) > len(positions) or (missing and len(theirs) >= len(positions)):
            if len(theirs) > best:
                best, candidates = len(theirs), []
            if len(theirs) == best:
                candidates.append((other, set(theirs.values()) - ours_found))
    if not candidates:
        return ""
    names = " or ".join(KIND_NAMES[other.kind][0] for other, _ in candidates)
    how = " or ".join(KIND_NAMES[other.kind][1] for other, _ in candidates)
    extra = sorted(set().union(*(found for _, found in candidates)))
    because = f" (it has {', '.join(shown(header[i]) for i in extra)})" if extra else ""
    return f"this looks like {names}, not {ours}{because}: import it as {how}"

import json
import secrets

from rest_framework import renderers

from accounts.exports import stream_csv

from .sqljson import RawJSON


class Rendered(bytes):
    """A body rendered before and kept (views.ApiView.kept): each renderer puts it out as it
    is, and the response sets its headers as for a body it renders."""


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, which also takes a page whose results the database wrote as
    JSON text (sqljson.RawJSON) and puts that text in as it is, escaped as DRF escapes its
    own output (U+2028 and U+2029, which JavaScript does not take in a string)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, Rendered):
            return bytes(data)
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, RawJSON):
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            # Indented on request (Accept: application/json; indent=2): the database's
            # compact text would not be, so the rows are read back and written by DRF.
            rows = json.loads(rows)
            return super().render({**data, "results": rows}, accepted_media_type, renderer_context)
        marker = f"rows-{secrets.token_hex(16)}"  # nothing else in the envelope can hold it
        envelope = super().render(
            {**data, "results": marker}, accepted_media_type, renderer_context
        )
        before, after = envelope.split(f'"{marker}"'.encode(), 1)
        rows = rows.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        return b"".join((before, rows.encode(), after))


def flatten(row: dict) -> dict:
    """Nested counts become columns: {"accounts_by_state": {"active": 2}} gives
    accounts_by_state_active = 2; lists are joined with "; "."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            flat[key] = "; ".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


class CsvRenderer(renderers.BaseRenderer):
    """A list page as CSV (`?format=csv`), written by the downloads' CSV writer, in the
    view's `csv_columns` and an `as_of` column (the row's own, else the last check's)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, Rendered):
            return bytes(data)
        columns = renderer_context["view"].csv_columns
        if "as_of" not in columns:
            columns = [*columns, "as_of"]
        # A row's own as_of (the date its home was judged) wins over the last check's.
        rows = ({"as_of": data["as_of"], **flatten(row)} for row in data["results"])
        lines = stream_csv(columns, ({c: row.get(c) for c in columns} for row in rows))
        return "".join(lines).encode(self.charset)

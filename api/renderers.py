from rest_framework.renderers import BaseRenderer

from accounts.exports import stream_csv


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


class CsvRenderer(BaseRenderer):
    """A list page as CSV (`?format=csv`), written by the downloads' CSV writer, in the
    view's `csv_columns` and an `as_of` column (the row's own, else the last check's)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        columns = renderer_context["view"].csv_columns
        if "as_of" not in columns:
            columns = [*columns, "as_of"]
        # A row's own as_of (the date its home was judged) wins over the last check's.
        rows = ({"as_of": data["as_of"], **flatten(row)} for row in data["results"])
        lines = stream_csv(columns, ({c: row.get(c) for c in columns} for row in rows))
        return "".join(lines).encode(self.charset)

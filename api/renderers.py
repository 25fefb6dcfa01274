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
    view's `csv_columns`, with the as-of date last (unless the rows carry their own)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        columns = renderer_context["view"].csv_columns
        rows = (flatten(row) for row in data["results"])
        if "as_of" not in columns:
            columns = [*columns, "as_of"]
            rows = ({**row, "as_of": data["as_of"]} for row in rows)
        return "".join(stream_csv(columns, rows)).encode(self.charset)

"""Guidance pages are Markdown files under guidance/content/, with front matter:

    ---
    title: Keep your account active
    summary: One line for the index.
    order: 1
    last_reviewed: 2026-11-29
    source: where the facts come from
    personalised: yes     (optional: show a signed-in manager's ODS code and landline)
    ---

Editors change a text file, not a template. Pages are read once per process.
"""

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import markdown

CONTENT_DIR = Path(__file__).resolve().parent / "content"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FRONT_MATTER_RE = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
TAG_RE = re.compile(r"<[^>]+>")
WORD_RE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    summary: str
    order: int
    last_reviewed: date
    source: str
    personalised: bool
    html: str

    @property
    def text(self) -> str:
        return TAG_RE.sub(" ", self.html)


def _parse(path: Path) -> Page:
    raw = path.read_text(encoding="utf-8")
    match = FRONT_MATTER_RE.match(raw)
    if not match:
        raise ValueError(f"{path.name}: the page must start with front matter between --- lines")
    meta = {}
    for line in match.group(1).splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip().strip('"')
    missing = {"title", "summary", "order", "last_reviewed", "source"} - meta.keys()
    if missing:
        raise ValueError(f"{path.name}: front matter lacks {', '.join(sorted(missing))}")
    body = raw[match.end() :]
    return Page(
        slug=path.stem,
        title=meta["title"],
        summary=meta["summary"],
        order=int(meta["order"]),
        last_reviewed=date.fromisoformat(meta["last_reviewed"]),
        source=meta["source"],
        personalised=meta.get("personalised", "no").lower() in ("yes", "true"),
        html=markdown.markdown(body, extensions=["sane_lists", "attr_list"]),
    )


@lru_cache(maxsize=1)
def all_pages() -> tuple[Page, ...]:
    pages = (_parse(p) for p in CONTENT_DIR.glob("*.md") if SLUG_RE.match(p.stem))
    return tuple(sorted(pages, key=lambda p: (p.order, p.slug)))


def get_page(slug: str) -> Page | None:
    return next((p for p in all_pages() if p.slug == slug), None)


def search(query: str) -> list[Page]:
    """Pages containing every word of the query, the most mentions first."""
    words = WORD_RE.findall(query.lower())
    if not words:
        return []
    scored = []
    for page in all_pages():
        haystack = f"{page.title} {page.summary} {page.text}".lower()
        if all(w in haystack for w in words):
            scored.append((-sum(haystack.count(w) for w in words), page.order, page))
    return [page for *_, page in sorted(scored, key=lambda s: s[:2])]

"""Guidance pages are Markdown files under guidance/content/, with front matter:

    ---
    title: Keep your account active
    summary: One line for the index.
    order: 1
    last_reviewed: 2026-11-29
    source: where the facts come from
    personalised: yes     (optional: show a signed-in manager's ODS code and landline)
    ---

Editors change a text file, not a template. Pages are read once per process. Facts that
settings decide are written as placeholders: {inactivity_days}, {warning_days},
{helpdesk_phone}, {helpdesk_tel} (for tel: links), {helpdesk_email}, {helpdesk_menu}.
"""

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import markdown
from django.utils.html import escape

from accounts import facts as portal_facts

CONTENT_DIR = Path(__file__).resolve().parent / "content"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FRONT_MATTER_RE = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
TAG_RE = re.compile(r"<[^>]+>")
WORD_RE = re.compile(r"[a-z0-9]+")
FACT_RE = re.compile(r"\{([a-z_]+)\}")


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
        return TAG_RE.sub(" ", self.body())

    def body(self, facts: dict | None = None) -> str:
        """The page's HTML with its {placeholders} (the thresholds, the helpdesk's number,
        email and phone menu: accounts/facts.py) filled in from settings."""
        facts = facts or portal_facts.facts()
        return FACT_RE.sub(lambda m: escape(str(facts[m[1]])) if m[1] in facts else m[0], self.html)


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

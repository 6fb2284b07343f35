"""Blog articles of the example site, loaded from ``content/articles/*.html``.

Each file starts with a front-matter block inside an HTML comment::

    <!--
    title: Trust accounting for small law firms
    summary: One or two sentences for the blog index.
    categories: law, trust-accounting, guides
    author: Miriam Achebe
    published: 2025-09-14
    minutes: 7
    -->
    <p>Body HTML, written by the site's editors (trusted, rendered unescaped)…</p>

``categories`` end up in ``<meta name="smartseg:category">`` (SPEC §3.3); the rules in
``rules/10-groups.seg`` turn them into evidence for a segment.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ARTICLES_DIR = Path(__file__).parent / "articles"

_FRONT_MATTER = re.compile(r"\A\s*<!--(?P<meta>.*?)-->\s*", re.DOTALL)
_REQUIRED = ("title", "summary", "categories", "author", "published", "minutes")


@dataclass(frozen=True)
class Article:
    """One blog article."""

    slug: str
    title: str
    summary: str
    categories: tuple[str, ...]
    author: str
    published: dt.date
    minutes: int
    body_html: str


class ArticleFormatError(ValueError):
    """An article file has a missing or malformed front-matter block."""


def parse_article(slug: str, text: str) -> Article:
    """Parse one article file's text; raise ``ArticleFormatError`` when it is malformed."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ArticleFormatError(f"{slug}: missing front-matter comment")
    meta: dict[str, str] = {}
    for line in match.group("meta").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ArticleFormatError(f"{slug}: front-matter line without ':': {line!r}")
        meta[key.strip()] = value.strip()
    missing = [key for key in _REQUIRED if not meta.get(key)]
    if missing:
        raise ArticleFormatError(f"{slug}: missing front-matter keys {missing}")
    categories = tuple(c.strip() for c in meta["categories"].split(",") if c.strip())
    return Article(
        slug=slug,
        title=meta["title"],
        summary=meta["summary"],
        categories=categories,
        author=meta["author"],
        published=dt.date.fromisoformat(meta["published"]),
        minutes=int(meta["minutes"]),
        body_html=text[match.end() :].strip(),
    )


@cache
def load_articles(directory: Path = ARTICLES_DIR) -> tuple[Article, ...]:
    """All articles, newest first (loaded once per process)."""
    articles = [
        parse_article(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.html"))
    ]
    articles.sort(key=lambda a: (a.published, a.slug), reverse=True)
    return tuple(articles)


def get_article(slug: str) -> Article | None:
    """The article with that slug, or ``None``."""
    for article in load_articles():
        if article.slug == slug:
            return article
    return None

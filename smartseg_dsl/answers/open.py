"""Opening the answer bank a URL designates (:func:`open_store`): SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from smartseg_dsl.answers.sqlite import SqliteStore
from smartseg_dsl.answers.store import AnswerBankError, Store

DEFAULT_SQLITE_FILE = "smartseg.db"


def sqlite_path_from_url(url: str | None) -> Path | None:
    """The SQLite file a store URL designates, or None when it is not a SQLite URL."""
    if url is None or url == "":
        return Path.cwd() / DEFAULT_SQLITE_FILE
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path.startswith("//"):  # sqlite:////abs/path, SQLAlchemy's spelling
            path = path[1:]
        return Path(path)
    if "://" in url:
        return None
    return Path(url)


_SQLITE_URL_OPTIONS = {"synchronous": str, "busy_timeout": float}


def _sqlite_url_options(url: str | None) -> dict[str, Any]:
    """``sqlite:///x.db?synchronous=normal&busy_timeout=5`` → backend options."""
    if not url or not url.startswith("sqlite://") or "?" not in url:
        return {}
    options: dict[str, Any] = {}
    for name, values in parse_qs(url.split("?", 1)[1], keep_blank_values=True).items():
        if name not in _SQLITE_URL_OPTIONS:
            raise AnswerBankError(
                f"unknown SQLite URL option {name!r} (known: {', '.join(_SQLITE_URL_OPTIONS)})"
            )
        try:
            options[name] = _SQLITE_URL_OPTIONS[name](values[-1])
        except ValueError:
            raise AnswerBankError(f"bad value for SQLite URL option {name!r}") from None
    return options


def open_store(url: str | None = None, **options: Any) -> Store:
    """Open (and create or migrate) the answer bank designated by ``url``.

    ``None`` → ``./smartseg.db``; a plain path or ``sqlite:///abs/path`` → SQLite;
    ``postgresql://…`` (or ``postgres://…``) → PostgreSQL. ``options`` go to the backend
    (SQLite: ``synchronous`` — NORMAL by default, FULL to survive power cuts too — and
    ``busy_timeout``, also accepted as URL query options ``sqlite:///x.db?synchronous=full``;
    PostgreSQL: ``pool_size``, ``connect_timeout``, ``pool_wait``). Raises
    :class:`StoreUnavailableError` with a clear message when the store cannot be used,
    :class:`AnswerBankError` for an unusable URL.
    """
    if url is not None and not isinstance(url, str):
        raise AnswerBankError("answer bank URL must be a string")
    if url and (url.startswith("postgresql://") or url.startswith("postgres://")):
        # Imported here, not above: it imports psycopg (an optional extra, ~0.1 s).
        from smartseg_dsl.answers.postgres import PostgresStore

        return PostgresStore(url, **options)
    path = sqlite_path_from_url(url)
    if path is None:
        scheme = (url or "").split("://", 1)[0]
        raise AnswerBankError(
            f"unsupported answer bank URL scheme {scheme!r}: use a file path, "
            "sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    if str(path) in (":memory:", "") or str(path).startswith("file:"):
        raise AnswerBankError(
            "the answer bank needs a real SQLite file (':memory:' would vanish with the "
            "process and is not shared between threads)"
        )
    try:
        return SqliteStore(path, **{**_sqlite_url_options(url), **options})
    except ValueError as exc:  # a bad option value
        raise AnswerBankError(str(exc)) from None

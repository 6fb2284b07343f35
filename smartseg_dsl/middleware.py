"""The Starlette/ASGI middleware (SPEC §3): cookie in, engine, rewrite, cookie out.

    app = Starlette(routes=routes, middleware=[
        Middleware(SmartSegMiddleware, rules="rules/", secret_key=["old", "new"],
                   templates=jinja_env),
    ])

Per HTTP request a small :class:`_Exchange` object wraps ``send`` (like
``starlette.middleware.gzip``'s responders). It holds back ``http.response.start`` only
for responses it may personalize — 200 responses to GET/HEAD with a ``text/html``
content type and no ``Content-Encoding`` — buffers their body, scores the page view
(including the page's ``<meta name="smartseg:category">``), applies the winning actions
with the byte-preserving rewriter and fixes the headers. Every other response goes
through as it comes; it only gains a ``Set-Cookie`` (plus ``Vary: Cookie`` and
``Cache-Control: private``) when the visitor's state changed.

The hot path is kept small on purpose (see docs/middleware.md, "Cost"): rules are
loaded once, signers are built once, the cookie is decoded only when the engine runs,
``request.state.smartseg`` is computed only when read, and the document is never
parsed — the rewriter works around the slots only.

Anything that fails inside the middleware is logged and the app's original response
is sent: personalization is a bonus, never a reason to lose a page.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import functools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import anyio.to_thread
import jinja2
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import links, rewrite
from .answers import (
    AnswerBankError,
    ForgottenIds,
    GuardedStore,
    Store,
    StoreUnavailableError,
    normalize_email,
)
from .answers import sql as answer_sql
from .api import SCOPE_KEY
from .cookie import CookieCodec, delete_cookie_header, set_cookie_header
from .csrf import CsrfError, CsrfTokens
from .engine import Answer, Engine, RequestInfo
from .inbound_items import MAX_BODY_BYTES as MAX_INBOUND_BYTES
from .inbound_items import SIGNATURE_HEADER as INBOUND_SIGNATURE_HEADER
from .inbound_items import (
    AppliedItem,
    InboundError,
    PendingInbound,
    parse_body,
    signature_ok,
)
from .loader import RuleSetError, discover, load_ruleset
from .measure.events import exposure_events, outcome_events
from .measure.recorder import EventRecorder
from .partials import PartialCache, Tracer
from .polled import PolledSet
from .symbols import ANSWER_LABELS, OTHER, answer_choices

if TYPE_CHECKING:
    from .compiler import CompiledRuleSet
    from .diagnostics import Diagnostic
    from .engine import Decision, Outcome
    from .sync import SyncConfig

__all__ = ["RequestVisitor", "SmartSegMiddleware"]

log = logging.getLogger("smartseg.middleware")

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
SURVEY_TEMPLATE = "smartseg/survey.html"
DEBUG_TEMPLATE = "smartseg/debug.html"

# Preview parameters (dev or a signed preview link); links.py owns smartseg_t/_preview.
AS_PARAM = "smartseg_as"
DEBUG_PARAM = "smartseg_debug"
#: `?smartseg_variant=Experiment:variant` (several separated by commas): preview a variant
VARIANT_PARAM = "smartseg_variant"

#: Form posts to the endpoints are tiny; anything larger is refused unread.
MAX_FORM_BYTES = 16 * 1024
MAX_NEXT = 2048
# Kept as is in a Location header: RFC 3986 reserved and unreserved characters and "%"
# (already-escaped octets); anything else (non-ASCII, quotes, brackets) is %-encoded.
_URL_SAFE = "/?#[]@!$&'()*+,;=:-._~%"
# `next` is never refused: anything but a same-site path just sends the visitor home.
_FIELD_LIMITS = {"about": 130, "answer": 70, "csrf": 512, "next": MAX_FORM_BYTES}

# Stand-ins for the per-request values of a cached survey widget (letters only, so
# escaping leaves them alone; 128 random bits, so no page text can collide).
_CSRF_MARK = "smartsegcsrf" + secrets.token_hex(16)
_NEXT_MARK = "smartsegnext" + secrets.token_hex(16)

_JSON_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
_HTML_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]

#: The clock of "logged at most once a minute" (a test moves it).
_log_clock = time.monotonic

# Codec per Content-Type value: a handful of distinct values per site, looked up once
# each. None means "do not touch" (not HTML, or an encoding Python does not know).
_CHARSETS: dict[bytes, str | None] = {}


# --------------------------------------------------------------------------- runtime


@dataclass(frozen=True, slots=True)
class _Runtime:
    """Everything that depends on the loaded rules; swapped as one piece on reload."""

    rules: CompiledRuleSet
    engine: Engine
    codec: CookieCodec
    reads_categories: bool  # no `category` matcher: never scan pages for the meta tag

    def is_segment(self, ref: str) -> bool:
        return self.engine.validate_segment(ref) is None


class _BadRequest(Exception):
    """Bad input to an endpoint: the message is shown to the visitor (400)."""

    def __init__(self, message: str, status: int = 400, cookie: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cookie = cookie


# --------------------------------------------------------------------------- middleware


class SmartSegMiddleware:
    """Personalize HTML pages with a rule set; serve ``/smartseg/*`` (SPEC §3)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | CompiledRuleSet,
        secret_key: str | Sequence[str],
        templates: jinja2.Environment | Any | None = None,
        cookie_name: str = "smartseg",
        max_age: int = 365 * 86400,
        https_only: bool = False,
        dev: bool = False,
        store: Store | str | os.PathLike[str] | Literal[False] | None = None,
        sync: SyncConfig | None = None,
        preview_max_age: float = 7 * 86400,
        link_max_age: float | None = None,
        csrf_max_age: int = 2 * 86400,
        max_html_bytes: int = 8 * 1024 * 1024,
        reload_interval: float = 1.0,
        holdout: bool = True,
        events: bool = True,
        events_queue: int = 50_000,
        events_retention_days: float | None = 400,
        forgotten_refresh_interval: float = 2.0,
        partial_cache: bool = True,
        inbound_secret: str | Sequence[str] | None = None,
        inbound_refresh_interval: float = 2.0,
    ) -> None:
        if not secret_key or (not isinstance(secret_key, str) and not all(secret_key)):
            raise ValueError("SmartSegMiddleware needs a non-empty secret_key (or list of keys)")
        self.app = app
        self.secret_key: str | list[str] = (
            secret_key if isinstance(secret_key, str) else list(secret_key)
        )
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.https_only = https_only
        self._cookie_parts: tuple[tuple[str, int, bool], bytes, bytes] | None = None
        self.dev = dev
        self.preview_max_age = preview_max_age
        self.link_max_age = link_max_age
        self.max_html_bytes = max_html_bytes
        self.holdout = holdout
        self.csrf = CsrfTokens(self.secret_key, max_age=csrf_max_age)
        self.templates = _template_env(templates, auto_reload=dev)
        self._templates_given = templates is not None
        #: (id of the decision, root path) → (the decision, the packaged survey widget
        #: rendered with markers, cut around them: the parts between which the CSRF
        #: token and `next` go);
        #: None when the app overrides the widget (its template may use csrf or next in
        #: ways markers cannot stand for) or in dev (templates may change on disk).
        self._survey_cache: dict[tuple[int, str], tuple[Decision, tuple[str, str, str]]] | None = (
            {} if not dev and _is_packaged(self.templates, SURVEY_TEMPLATE) else None
        )
        self._cookie_prefix = cookie_name.encode("latin-1")
        #: `with template` outputs by the answers `visitor` gave (partials.py); exact
        self.partials: PartialCache | None = PartialCache() if partial_cache else None

        # Rules: parsed, checked and compiled once; in dev re-read when files change.
        # Rules that do not load (or name templates that cannot be loaded) refuse to
        # start the app. Not by raising here: Starlette builds its middleware on the
        # first ASGI call, the lifespan's, and uvicorn's default `--lifespan auto`
        # takes an exception there for "no lifespan support" and serves anyway. So
        # the failure is kept, and the lifespan answers `lifespan.startup.failed` with
        # the diagnostics (see `_refuse`).
        self._rule_paths: list[Path] | None = None
        self._rules_given: list[str | os.PathLike[str]] = []
        #: why the app must not start (the message servers print), or None
        self.startup_error: str | None = None
        self._startup_exc: RuleSetError | None = None
        self._next_refusal_log = 0.0
        #: template name → when its next render error may be logged (once a minute)
        self._template_error_log: dict[str, float] = {}
        compiled: CompiledRuleSet | None
        if isinstance(rules, str | os.PathLike) or (
            isinstance(rules, Sequence) and not isinstance(rules, str | bytes)
        ):
            paths = [rules] if isinstance(rules, str | os.PathLike) else list(rules)
            self._rules_given = paths
            self._rule_paths = [Path(p) for p in paths]
            try:
                compiled = load_ruleset(self._rule_paths)
            except RuleSetError as exc:
                self._refuse_start(exc, "its rules do not load")
                compiled = None
        else:
            compiled = rules
        if compiled is not None:
            problems = self._template_problems(compiled)
            if problems:
                self._refuse_start(
                    RuleSetError(problems), "a rule names a template that cannot be loaded"
                )
        # (never read while startup_error is set: every call is refused first)
        runtime = (
            self._runtime(compiled) if compiled is not None and not self.startup_error else None
        )
        self._rt: _Runtime = runtime  # type: ignore[assignment]
        self._reload_interval = reload_interval
        self._next_reload_check = 0.0
        self._reloading = False
        self._fingerprint = self._rules_fingerprint() if dev and self._rt is not None else None

        # The answer bank opens lazily (first write), so a site that never asks a
        # question never creates a database file.
        store = _store_spec(store)
        self._store_spec = store
        self._store: Store | None = store if isinstance(store, Store) else None
        self._owns_store = False
        self._sync = sync

        # Visitor ids forgotten on any server (POST /smartseg/forget): their cookies mean a
        # new visitor. In memory, refreshed from the answer bank every
        # `forgotten_refresh_interval` seconds by the requests that carry a cookie
        # (`_refresh`): no query per request. Kept for the cookie's max_age.
        self.forgotten: ForgottenIds | None = None
        if store is not False:
            self.forgotten = ForgottenIds(
                interval=forgotten_refresh_interval, retention=max_age + 86400.0
            )

        # Inbound data (SPEC §7): POST /smartseg/inbound, signed with its own secret(s);
        # and the visitor ids with items pending, in memory (no query per request).
        self.inbound_secrets: list[str] | None = None
        if inbound_secret is not None:
            secrets_ = [inbound_secret] if isinstance(inbound_secret, str) else list(inbound_secret)
            if not secrets_ or not all(isinstance(x, str) and x for x in secrets_):
                raise ValueError("inbound_secret must be a non-empty string (or list of them)")
            if sync is not None and getattr(sync, "secret", None) in secrets_:
                raise ValueError(
                    "inbound_secret must differ from the webhook secret: whoever may send "
                    "us data must not be able to sign what we send to the CRM, and back"
                )
            self.inbound_secrets = secrets_
        self.pending: PendingInbound | None = None
        if store is not False:
            self.pending = PendingInbound(interval=inbound_refresh_interval)

        # Measurement events (SPEC §6) go to the answer bank's database, in batches, from
        # a task run by the lifespan (or started by the first event without one).
        self.events: EventRecorder | None = None
        if events and store is not False:
            self.events = EventRecorder(
                self._get_store,
                max_queue=events_queue,
                retention=(
                    None if events_retention_days is None else events_retention_days * 86400.0
                ),
            )

    # ------------------------------------------------------------------ setup helpers

    def _runtime(self, compiled: CompiledRuleSet) -> _Runtime:
        return _Runtime(
            rules=compiled,
            engine=Engine(compiled, holdout=self.holdout),
            codec=CookieCodec(
                compiled, self.secret_key, max_age=self.max_age, cookie_name=self.cookie_name
            ),
            reads_categories=bool(compiled.categories),
        )

    def _template_problems(self, compiled: CompiledRuleSet) -> list[Diagnostic]:
        """SEG208 for each `with template` the templates environment cannot load."""
        from .templates_check import NOT_FOUND_HELP, check_compiled_templates

        help = NOT_FOUND_HELP
        if self._templates_given is False:
            help = (
                "no templates= was given to SmartSegMiddleware, so only smartseg's own "
                "templates are known: pass templates=your_jinja_env"
            )
        return check_compiled_templates(compiled, self.templates, not_found_help=help)

    def _refuse_start(self, exc: RuleSetError, why: str) -> None:
        """Keep the reason the app must not start, worded as `smartseg check` would."""
        from .report import render_text

        diagnostics = [self._with_path_hint(d) for d in exc.diagnostics]
        sources: dict[str, str] = {}
        for name in {d.file for d in diagnostics if d.code != "SEG107"}:
            with contextlib.suppress(OSError):
                sources[name] = Path(name).read_text(encoding="utf-8", errors="replace")
        where = ", ".join(repr(os.fspath(p)) for p in self._rules_given) or "a compiled rule set"
        self._startup_exc = exc
        self.startup_error = (
            f"smartseg: the app cannot start: {why} (SmartSegMiddleware(rules={where}))\n\n"
            + render_text(diagnostics, sources).rstrip("\n")
        )

    def _with_path_hint(self, d: Diagnostic) -> Diagnostic:
        """A missing rules path given relative to the current directory: say so, and
        how to make it independent of where the server is started."""
        if d.code != "SEG107" or d.help or not d.message.endswith("no such file or directory"):
            return d
        path = Path(d.file)
        if path.is_absolute():
            return d
        help = (
            f"`{d.file}` is relative to the current directory ({Path.cwd()}), which has "
            "no such path: pass an absolute path, e.g. "
            'rules=pathlib.Path(__file__).parent / "rules"'
        )
        return dataclasses.replace(d, help=help)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The rules did not load: fail the lifespan's start-up (the server prints the
        message and exits); a server without a lifespan gets a 500 per request and the
        message in the log, at most once a minute."""
        assert self.startup_error is not None and self._startup_exc is not None
        if scope["type"] == "lifespan":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.failed", "message": self.startup_error})
            # raised too, as Starlette's router does: the server has already heard why
            # (uvicorn then does not take it for "lifespan unsupported"), and a test
            # client's `with TestClient(app)` raises it
            raise self._startup_exc
        now = _log_clock()
        if now >= self._next_refusal_log:
            self._next_refusal_log = now + 60.0
            log.error("%s", self.startup_error)
        if scope["type"] != "http":
            return  # a websocket: closed without being accepted
        content = b"The site is misconfigured: its personalization rules did not load.\n"
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(content)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _log_template_error(self, name: str | None, rule: str, slot: str, exc: Exception) -> None:
        """A template that fails at run time: logged once per template per minute (with
        the traceback when it is not a missing file), never once per request."""
        key = name or ""
        now = _log_clock()
        if now < self._template_error_log.get(key, 0.0):
            return
        if len(self._template_error_log) > 1024:
            self._template_error_log.clear()
        self._template_error_log[key] = now + 60.0
        if isinstance(exc, jinja2.TemplateNotFound):
            log.error(
                "smartseg: template %r of rule %s (slot %r) not found: %s; slot left as "
                "the app made it (logged once a minute)",
                name,
                rule,
                slot,
                exc,
            )
        else:
            log.error(
                "smartseg: template %r of rule %s (slot %r) failed: %s: %s; slot left as "
                "the app made it (logged once a minute)",
                name,
                rule,
                slot,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def _rules_fingerprint(self) -> tuple[tuple[str, int, int], ...] | None:
        if self._rule_paths is None:
            return None
        try:
            files = discover(self._rule_paths)
        except Exception:  # a directory emptied mid-edit: treat as "changed"
            return ()
        out = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(out)

    async def _maybe_reload(self) -> None:
        """In dev, re-read the rules when a file changed (checked at most once per
        ``reload_interval``). A rule set with errors keeps the last good one."""
        now = time.monotonic()
        if now < self._next_reload_check or self._reloading:
            return
        self._next_reload_check = now + self._reload_interval
        fingerprint = self._rules_fingerprint()
        if fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        self._reloading = True
        try:
            assert self._rule_paths is not None
            compiled = await anyio.to_thread.run_sync(load_ruleset, self._rule_paths)
            for d in self._template_problems(compiled):
                # the template may be on its way: reported, not a reason to refuse
                log.warning("smartseg: %s:%s: %s %s", d.file, d.line, d.code, d.message)
            self._rt = self._runtime(compiled)
        except RuleSetError as exc:
            log.error(
                "smartseg: the changed rules have errors; keeping the last good rules\n%s",
                "\n".join(
                    f"{d.file}:{d.line}:{d.column}: {d.severity} {d.code} {d.message}"
                    for d in exc.diagnostics
                ),
            )
        except Exception:
            log.exception("smartseg: reloading the rules failed; keeping the last good rules")
        else:
            log.info("smartseg: rules reloaded from %s", ", ".join(map(str, self._rule_paths)))
        finally:
            self._reloading = False

    async def _get_store(self) -> Store | None:
        if self._store is not None or self._store_spec is False:
            return self._store
        url = self._store_spec if isinstance(self._store_spec, str) else None
        # GuardedStore never raises: a broken answer bank is logged once and refused.
        store = await anyio.to_thread.run_sync(lambda: GuardedStore(url))
        if self._store is not None:  # another request opened it meanwhile
            store.close()
            return self._store
        self._store = store
        self._owns_store = True
        return store

    async def _refresh(self, polled: PolledSet, thread_name: str) -> None:
        """Keep an in-memory set polled from the answer bank fresh (the forgotten ids,
        the visitors with inbound items pending), piggy-backed on requests that carry a
        cookie.

        Costs one monotonic-clock read per request. At most once per interval a request
        starts a refresh in a worker thread without waiting for it; only when the set
        was never loaded or is older than two intervals (an idle server) does that one
        request wait for the refresh, so a decision is never taken on a set older than
        that while the store is up (nor an inbound item missed on the visitor's next
        request). The other requests meanwhile use the set as it is.
        """
        now = time.monotonic()
        if now < polled.next_refresh or not polled.supported:
            return
        polled.next_refresh = now + polled.interval
        store = await self._get_store()
        if store is None:
            return
        if polled.stale(now):
            # (waits for a background refresh still running, then reads again)
            await anyio.to_thread.run_sync(lambda: polled.refresh(store, wait=polled.interval))
        else:
            threading.Thread(
                target=polled.refresh, args=(store,), name=thread_name, daemon=True
            ).start()

    async def store_call(self, method: str, *args: Any, what: str) -> tuple[bool, Any]:
        """Call a store method in a worker thread; never raises. (ok, result)."""
        try:
            store = await self._get_store()
            if store is None:
                return True, None
            fn = getattr(store, method)
            return True, await anyio.to_thread.run_sync(lambda: fn(*args))
        except AnswerBankError as exc:
            log.error("smartseg: could not record %s in the answer bank: %s", what, exc)
        except Exception:
            log.exception("smartseg: could not record %s in the answer bank", what)
        return False, None

    def rule_label(self, where: str) -> str:
        """`file:line` with the file relative to its rule directory (else its name)."""
        file, _, line = where.rpartition(":")
        path = Path(file)
        for root in self._rule_paths or ():
            try:
                if root.is_dir():
                    return f"{path.resolve().relative_to(root.resolve()).as_posix()}:{line}"
            except (OSError, ValueError):
                continue
        return f"{path.name}:{line}"

    def cookie_header(self, value: str) -> bytes:
        # `set_cookie_header`'s text, its fixed parts encoded once per setting
        key = (self.cookie_name, self.max_age, self.https_only)
        parts = self._cookie_parts
        if parts is None or parts[0] != key:
            head, _, tail = set_cookie_header(
                self.cookie_name, "\0", max_age=self.max_age, secure=self.https_only
            ).partition("\0")
            parts = self._cookie_parts = (key, head.encode("latin-1"), tail.encode("latin-1"))
        return parts[1] + value.encode("latin-1") + parts[2]

    def clear_cookie_header(self) -> bytes:
        return delete_cookie_header(self.cookie_name, secure=self.https_only).encode("latin-1")

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if self.startup_error is not None:
            await self._refuse(scope, receive, send)
            return
        if kind != "http":
            if kind == "lifespan" and (self._sync is not None or self.events is not None):
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if self._fingerprint is not None:
            await self._maybe_reload()
        path: str = scope["path"]
        root = scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        if route_path == "/smartseg/inbound" and self.inbound_secrets is not None:
            await _serve_inbound(self, scope, receive, send)
            return
        if route_path.startswith("/smartseg/"):
            endpoint = _ENDPOINTS.get(route_path[10:])
            if endpoint is not None:
                exchange = _Exchange(self, scope, send, route_path, endpoint=True)
                if exchange.cookies:
                    if self.forgotten is not None:
                        await self._refresh(self.forgotten, "smartseg-forgotten")
                    if self.pending is not None and endpoint is not _forget:
                        await self._refresh(self.pending, "smartseg-inbound")
                        if self.pending:
                            await exchange.take_inbound()
                try:
                    await _serve_endpoint(exchange, endpoint, receive)
                finally:
                    exchange.detach()
                return
        exchange = _Exchange(self, scope, send, route_path)
        if exchange.cookies:
            if self.forgotten is not None:
                await self._refresh(self.forgotten, "smartseg-forgotten")
            pending = self.pending
            if pending is not None:
                await self._refresh(pending, "smartseg-inbound")
                if pending:  # (empty: nothing pending anywhere, no cookie decoded)
                    await exchange.take_inbound()
        try:
            await self.app(scope, receive, exchange.send)
            await exchange.finish()
        finally:
            exchange.detach()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the CRM sync worker (SPEC §4) and the measurement event recorder (SPEC §6)
        for as long as the app lives; on shutdown, write the queued events first."""
        from .sync import run_worker

        events = self.events
        sync_store = await self._get_store() if self._sync is not None else None
        if self._sync is not None and sync_store is None:
            log.warning("smartseg: sync is configured but the answer bank is disabled")

        async def lifespan_send(message: Message) -> None:
            # Flush before the server hears "shut down": it may exit right after.
            if events is not None and message["type"] in _SHUTDOWN_DONE:
                await events.aclose()
            await send(message)

        stop = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                if events is not None:
                    await tg.start(events.run)
                if sync_store is not None and self._sync is not None:
                    tg.start_soon(run_worker, sync_store, self._sync, stop)
                try:
                    await self.app(scope, receive, lifespan_send)
                finally:
                    stop.set()
                    if events is not None:
                        # Not aclose: if the app does not support the lifespan (it raised),
                        # the server goes on without one and the first event restarts it.
                        await events.stop_and_wait()
        finally:
            if self._owns_store and self._store is not None:
                self._store.close()
                self._store = None


_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})


# --------------------------------------------------------------------------- view


class _NullView:
    """What handlers see if the engine failed: a visitor we know nothing about."""

    def confidence(self, ref: str) -> float:
        return 0.0

    def certain(self, ref: str) -> bool:
        return False

    def most_likely(self, group: str) -> str | None:
        return None

    def known(self, group: str) -> bool:
        return False


_NULL_VIEW = _NullView()


class RequestVisitor:
    """``request.state.smartseg``: a read-only view of the visitor (SPEC §3.4).

    Computed on first use, from the cookie plus everything this request has told
    smartseg so far (its path, query, link tags, and the events and tags the handler
    recorded before reading it). The page's own categories are only known once the
    page is rendered, so they count for the page's personalization, not here.
    """

    __slots__ = ("_exchange",)

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    def confidence(self, ref: str) -> float:
        return float(self._exchange.view().confidence(ref))

    def certain(self, ref: str) -> bool:
        return bool(self._exchange.view().certain(ref))

    def most_likely(self, group: str) -> str | None:
        return self._exchange.view().most_likely(group)

    def known(self, group: str) -> bool:
        return bool(self._exchange.view().known(group))

    @property
    def audiences(self) -> tuple[str, ...]:
        outcome = self._exchange.provisional()
        return tuple(outcome.audiences) if outcome is not None else ()

    @property
    def preview_as(self) -> str | None:
        """The segment a preview renders this page as, or None."""
        return self._exchange.preview_as

    def csrf_token(self) -> str:
        """A token for forms posting to ``/smartseg/*`` (e.g. a "forget me" form)."""
        return self._exchange.csrf_token()

    def __getattr__(self, name: str) -> Any:
        # Anything else the engine's view offers, unchanged (never private names:
        # Jinja and copy probe for `__html__` and friends).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._exchange.view(), name)

    def __repr__(self) -> str:
        return "<smartseg visitor view>"


# --------------------------------------------------------------------------- exchange

_WAIT, _BUFFER, _PASS = 0, 1, 2


#: the attributes of a request that set none (read-only: the engine never writes them)
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


class _Exchange:
    """One HTTP request: the app API's target, and the responder wrapping ``send``."""

    __slots__ = (
        "_chunks",
        "_csrf",
        "_encoding",
        "_mode",
        "_outcome",
        "_provisional",
        "_query",
        "_send",
        "_size",
        "_start",
        "_state",
        "_version",
        "_view_version",
        "accept",
        "attributes",
        "cookies",
        "debug",
        "events",
        "gpc",
        "host",
        "identified",
        "inbound",
        "is_new",
        "link_tags",
        "method",
        "mw",
        "need_cookie",
        "now",
        "path",
        "preview_as",
        "preview_variants",
        "query_string",
        "referrer",
        "rt",
        "scope",
        "tags",
        "user_agent",
        "view_read",
    )

    def __init__(
        self, mw: SmartSegMiddleware, scope: Scope, send: Send, path: str, *, endpoint: bool = False
    ) -> None:
        self.mw = mw
        self.rt = mw._rt  # one rule set for the whole request, even across a reload
        self.scope = scope
        self._send = send
        self.now = time.time()
        self.method: str = scope["method"]
        self.path = path
        self._mode = _WAIT
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._encoding = "utf-8"
        self._state: Any = None
        self._csrf: str | None = None
        self._outcome: Outcome | None = None
        self._provisional: Outcome | None = None
        self._version = 0
        self._view_version = -1
        self.is_new = True
        self.need_cookie = False
        #: the handler or a template read the visitor (request.state.smartseg, a CSRF
        #: token): the response depends on who asked, so no shared cache may keep it
        self.view_read = False
        self.events: list[str] = []
        self.tags: list[str] = []
        self.link_tags: list[str] = []
        self.attributes: dict[str, str | float | None] = {}
        self.preview_as: str | None = None
        self.preview_variants: dict[str, str] = {}
        self.debug = False
        #: inbound items claimed for this visitor, applied by this request's step
        self.inbound: list[AppliedItem] = []
        self.identified = False

        referrer = host = user_agent = accept = None
        gpc = False
        prefix = mw._cookie_prefix
        cookies: list[str] = []
        for name, value in scope["headers"]:
            if name == b"cookie":
                if prefix in value:
                    cookies += _cookie_values(value, prefix)
            elif name == b"referer":
                referrer = value
            elif name == b"host":
                host = value
            elif name == b"user-agent":
                user_agent = value
            elif name == b"sec-gpc" or name == b"dnt":
                gpc = gpc or value.strip() == b"1"
            elif name == b"accept":
                accept = value
        #: every value the request sent for our cookie, in order (usually one; a stale
        #: or forged duplicate from another path or domain must not reset the visitor)
        self.cookies = cookies
        self.referrer = referrer.decode("latin-1") if referrer else None
        self.host = host.decode("latin-1") if host else None
        self.user_agent = user_agent.decode("latin-1") if user_agent else ""
        self.accept = accept or b""
        self.gpc = gpc
        self.query_string: bytes = scope.get("query_string", b"")
        self._query: dict[str, list[str]] | None = None
        # Links and previews are for pages; a form post to /smartseg/* ignores them.
        if b"smartseg_" in self.query_string and not endpoint:
            self._read_own_params()

        scope[SCOPE_KEY] = self
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        # The exchange does not keep its RequestVisitor: that would be one more cycle.
        state["smartseg"] = RequestVisitor(self)

    def detach(self) -> None:
        """The request is over: unhook this exchange from the scope.

        ``scope[SCOPE_KEY]`` and ``scope["state"]["smartseg"]`` point back at the
        exchange, which holds the scope: a reference cycle that would keep the whole
        request (response body, visitor state, outcome) alive until the next full
        garbage collection. Under load that is thousands of requests' worth of memory,
        and the worker's RSS grows by it. Once unhooked, reference counting frees the
        request as soon as its last reference goes.
        """
        scope = self.scope
        if scope.get(SCOPE_KEY) is self:
            del scope[SCOPE_KEY]
        state = scope.get("state")
        visitor = state.get("smartseg") if isinstance(state, dict) else None
        if isinstance(visitor, RequestVisitor) and visitor._exchange is self:
            del state["smartseg"]
        self._chunks = []

    # ------------------------------------------------------------------ request data

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = _parse_query(self.query_string) if self.query_string else {}
        return self._query

    def _read_own_params(self) -> None:
        params = {name: values[0] for name, values in self.query.items()}
        mw = self.mw
        token = params.get(links.LINK_PARAM)
        if token:
            tags, _reason = links.read_link_tags(token, mw.secret_key, mw.link_max_age)
            self.link_tags = list(tags)
        preview_ok = mw.dev
        token = params.get(links.PREVIEW_PARAM)
        if token:
            segment, _reason = links.read_preview(token, mw.secret_key, mw.preview_max_age)
            if segment is not None and self.rt.is_segment(segment):
                self.preview_as = segment
                preview_ok = True
        if preview_ok:
            wanted = params.get(AS_PARAM)
            if wanted:
                if self.rt.is_segment(wanted):
                    self.preview_as = wanted
                else:
                    log.warning("smartseg: ignored %s=%r: no such segment", AS_PARAM, wanted[:80])
            self.debug = params.get(DEBUG_PARAM, "") not in ("", "0", "false", "no")
            wanted = params.get(VARIANT_PARAM)
            if wanted:
                self._read_variants(wanted)

    def _read_variants(self, wanted: str) -> None:
        engine = self.rt.engine
        for part in wanted.split(",")[:16]:
            experiment, _, variant = part.strip().partition(":")
            problem = engine.validate_variant(experiment, variant)
            if problem is not None:
                log.warning("smartseg: ignored %s=%r: %s", VARIANT_PARAM, part[:80], problem)
                continue
            self.preview_variants[experiment] = variant

    @property
    def previewing(self) -> bool:
        """A preview (`smartseg_as`, `smartseg_variant`): rendered, never stored or counted."""
        return self.preview_as is not None or bool(self.preview_variants)

    def base_state(self) -> Any:
        """The visitor's state from the cookie (decoded once), or a new visitor's."""
        if self._state is None:
            state = None
            forgotten = self.mw.forgotten
            for value in self.cookies:  # the first one that verifies
                state, reason = self.rt.codec.loads(value, self.now)
                if state is not None and forgotten is not None and state.visitor_id in forgotten:
                    # A saved copy of a cookie whose visitor asked to be forgotten: it
                    # must not bring them (or a CSRF token for their id) back.
                    state, reason = None, "its visitor was forgotten"
                if state is not None:
                    break
                log.debug("smartseg: cookie ignored (%s)", reason)
            self.is_new = state is None
            self._state = state if state is not None else self.rt.engine.new_state(self.now)
        return self._state

    @property
    def visitor_id(self) -> str:
        return str(self.base_state().visitor_id)

    def step(
        self,
        *,
        page_view: bool,
        categories: Sequence[str] = (),
        answers: Sequence[Answer] = (),
        dismissals: Sequence[str] = (),
        page_slots: Callable[[], Collection[str]] | None = None,
    ) -> Outcome:
        # (empty tuples and dict shared: most page views carry none of these)
        info = RequestInfo(
            time=self.now,
            path=self.path if page_view else None,
            query=self.query,
            referrer=self.referrer,
            host=self.host or "localhost",
            user_agent=self.user_agent,
            categories=tuple(categories) if categories else (),
            events=tuple(self.events) if self.events else (),
            tags=(*self.link_tags, *self.tags) if self.link_tags or self.tags else (),
            attributes=dict(self.attributes) if self.attributes else _NO_ATTRIBUTES,
            answers=tuple(answers) if answers else (),
            dismissals=tuple(dismissals) if dismissals else (),
            gpc=self.gpc,
            preview_as=self.preview_as,
            preview_variants=self.preview_variants,
            identified=self.identified,
            page_slots=page_slots,
        )
        if self.inbound:
            info = _with_inbound(info, self.inbound)
        return self.rt.engine.step(self.base_state(), info)

    async def take_inbound(self) -> None:
        """Claim the visitor's inbound items that are due (SPEC §7), when the in-memory
        set says there are some: one transaction marks them applied and returns them
        (another server handling the same visitor gets none), and this request's step
        applies them."""
        pending = self.mw.pending
        if pending is None or self.previewing:
            return
        state = self.base_state()
        if self.is_new:
            return
        vid = str(state.visitor_id)
        if not pending.due(vid, self.now):
            return
        ok, result = await self.mw.store_call(
            "claim_inbound", vid, self.now, what="the claim of pending inbound items"
        )
        if not ok or result is None:
            return
        items, next_due = result
        pending.settle(vid, next_due)
        if items:
            self.inbound = list(items)
            self._version += 1

    async def send_activation(self, outcome: Outcome) -> None:
        """Queue the activation webhooks of this step (SPEC §7) for an identified
        visitor: entering or leaving a `sync audience`, becoming certain."""
        if not outcome.activation or self.previewing or not outcome.state.identified:
            return
        await self.mw.store_call(
            "queue_activation",
            str(outcome.state.visitor_id),
            list(outcome.activation),
            _snapshot(outcome),
            self.now,
            what="activation webhooks",
        )

    def provisional(self) -> Outcome | None:
        """The outcome as far as this request is known now (for request.state)."""
        self.view_read = True
        if self._outcome is not None:
            return self._outcome
        if self._view_version != self._version:
            self._view_version = self._version
            try:
                self._provisional = self.step(page_view=self.method == "GET")
            except Exception:
                log.exception("smartseg: evaluating the visitor failed (request.state.smartseg)")
                self._provisional = None
        return self._provisional

    def view(self) -> Any:
        outcome = self.provisional()
        return outcome.view if outcome is not None else _NULL_VIEW

    def csrf_token(self) -> str:
        # A new visitor's id only exists once the cookie carries it: make sure it does.
        self.need_cookie = True
        self.view_read = True
        if self._csrf is None:  # one token per request, however many forms it renders
            self._csrf = self.mw.csrf.issue(self.visitor_id)
        return self._csrf

    # ------------------------------------------------------------------ app API

    def track(self, event: str) -> None:
        self.events.append(event)
        self._version += 1

    def tag(self, tag: str) -> None:
        self.tags.append(tag)
        self._version += 1

    def set_attribute(self, name: str, value: str | float | None) -> None:
        self.attributes[name] = value
        self._version += 1

    async def identify(self, email: str) -> str | None:
        address = normalize_email(email)  # InvalidEmailError → the app
        store = await self.mw._get_store()
        if store is None:
            raise StoreUnavailableError("the answer bank is disabled (store=False)")
        outcome = self.provisional()
        snapshot = _snapshot(outcome) if outcome is not None else None
        visitor_id = self.visitor_id
        self.need_cookie = True  # the id now linked to an address must stick
        key = await anyio.to_thread.run_sync(
            lambda: store.identify(visitor_id, address, snapshot, self.now)
        )
        # Remembered in the state: from now on, activation webhooks (SPEC §7).
        self.identified = True
        self._version += 1
        if self.mw.pending is not None:
            # Items sent earlier for this address may now apply to this visitor: look
            # on their next request rather than waiting for the next poll.
            self.mw.pending.add(visitor_id, self.now)
        return key

    # ------------------------------------------------------------------ responder

    async def send(self, message: Message) -> None:
        mode = self._mode
        if mode == _PASS:
            await self._send(message)
            return
        kind = message["type"]
        if mode == _BUFFER:
            if kind == "http.response.body":
                body = message.get("body", b"")
                if body:
                    self._chunks.append(body)
                    self._size += len(body)
                more = message.get("more_body", False)
                if self._size > self.mw.max_html_bytes:
                    # the limit holds for a body sent in one piece as for a stream
                    log.warning(
                        "smartseg: %s is larger than max_html_bytes; sent unpersonalized",
                        self.path,
                    )
                    await self._give_up()
                    if not more:
                        await self._send({"type": "http.response.body", "body": b""})
                    return
                if more:
                    return
                await self._finish_html()
                return
            # pathsend, zero-copy, trailers…: we cannot personalize what we do not see.
            await self._give_up()
            await self._send(message)
            return
        if kind == "http.response.start":
            if self._wants(message):
                self._start = message
                self._mode = _BUFFER
                return
            self._mode = _PASS
            await self._send(self._passthrough_start(message))
            return
        await self._send(message)  # e.g. http.response.debug, before the start

    async def finish(self) -> None:
        """After the app returned: flush a body it never finished; record tags."""
        if self._mode == _BUFFER:
            await self._give_up()
        outcome = self._outcome
        if outcome is None or self.previewing:
            return
        if outcome.activation:
            await self.send_activation(outcome)
        given = [*self.link_tags, *self.tags]
        if given:
            snapshot = _snapshot(outcome)
            visitor_id = str(outcome.state.visitor_id)
            for tag in dict.fromkeys(given):
                await self.mw.store_call(
                    "record_tag", visitor_id, tag, self.now, snapshot, what=f"tag {tag!r}"
                )

    def _wants(self, message: Message) -> bool:
        """Is this a response we personalize (SPEC §3.1)?"""
        if message.get("status") != 200 or self.method not in ("GET", "HEAD"):
            return False
        content_type = None
        for name, value in message.get("headers", ()):
            name = name.lower()
            if name == b"content-type":
                content_type = value
            elif name == b"content-encoding":
                if value.strip().lower() != b"identity":
                    return False
            elif name == b"content-range" or (
                name == b"content-disposition" and value.lower().startswith(b"attachment")
            ):
                return False  # a partial body, or a download rather than a page
        if content_type is None:
            return False
        encoding = _charset(content_type)
        if encoding is None:
            return False
        self._encoding = encoding
        return True

    def _touched(self) -> bool:
        """Can this non-page request change the visitor's state at all?"""
        return bool(
            self.events
            or self.tags
            or self.link_tags
            or self.query_string
            or self.need_cookie
            or self.inbound
            or self.identified
        )

    def _finish_step(
        self,
        *,
        page_view: bool,
        categories: Sequence[str] = (),
        answers: Sequence[Answer] = (),
        dismissals: Sequence[str] = (),
        page_slots: Callable[[], Collection[str]] | None = None,
    ) -> Outcome:
        """The step whose state this response persists (the provisional one is not).
        `page_slots`: the page's slot names, for exposure (SPEC §1.7)."""
        outcome = self.step(
            page_view=page_view,
            categories=categories,
            answers=answers,
            dismissals=dismissals,
            page_slots=page_slots,
        )
        self._outcome = outcome
        if self._measured():
            events = outcome_events(outcome, self.now)
            if outcome.exposures:
                events += exposure_events(outcome, self.now)
            if events:
                self.mw.events.record(events)  # type: ignore[union-attr]
        return outcome

    def _measured(self) -> bool:
        """Does this request record measurement events? Only for measuring rule sets
        (goals, a holdout or experiments: they keep the session counters); never under
        GPC/DNT (SPEC §6); a preview is not a visit."""
        return (
            self.mw.events is not None
            and self.rt.rules.measuring
            and not self.gpc
            and not self.previewing
        )

    def _set_cookie(self, outcome: Outcome) -> bytes | None:
        """The Set-Cookie value when the state changed (never for a preview)."""
        if self.previewing:
            return None
        if not (outcome.changed or (self.need_cookie and self.is_new)):
            return None
        try:
            return self.mw.cookie_header(self.rt.codec.dumps(outcome.state))
        except Exception:
            log.exception("smartseg: encoding the visitor cookie failed; cookie not updated")
            return None

    def _passthrough_start(self, message: Message) -> Message:
        cookie = None
        if self._touched():
            try:
                outcome = self._finish_step(page_view=False)
                cookie = self._set_cookie(outcome)
            except Exception:
                log.exception("smartseg: evaluating %s %s failed", self.method, self.path)
        if cookie is None and not self.view_read:
            return message
        headers = _headers_out(message.get("headers", []), private=True, set_cookie=cookie)
        return {**message, "headers": headers}

    async def _give_up(self) -> None:
        """Send what was held back unchanged (still scoring the visit and setting the
        cookie when we can), then let the rest of the response stream through."""
        start = self._start
        assert start is not None
        self._mode = _PASS
        body = b"".join(self._chunks)
        self._chunks = []
        try:
            page_view = self.method == "GET"
            categories = (
                rewrite.page_categories(body, self._encoding)
                if page_view and self.rt.reads_categories
                else ()
            )
            cookie = self._set_cookie(self._finish_step(page_view=page_view, categories=categories))
            if cookie is not None or self.view_read:
                headers = _headers_out(start.get("headers", []), private=True, set_cookie=cookie)
                start = {**start, "headers": headers}
        except Exception:
            log.exception("smartseg: evaluating %s failed; page sent as is", self.path)
        await self._send(start)
        if body:
            await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def _finish_html(self) -> None:
        start = self._start
        assert start is not None
        self._mode = _PASS
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        encoding = self._encoding
        page_view = self.method == "GET"
        try:
            categories = (
                rewrite.page_categories(body, encoding)
                if page_view and self.rt.reads_categories
                else ()
            )

            def page_slots() -> Collection[str]:
                # exposure (SPEC §1.7): read only for an enrolled visitor not yet exposed
                try:
                    return rewrite.slot_names(body, encoding)
                except rewrite.WorkLimitExceeded:
                    return ()  # the page goes out unpersonalized: nobody sees a variant

            outcome = self._finish_step(
                page_view=page_view, categories=categories, page_slots=page_slots
            )
        except Exception:
            log.exception("smartseg: evaluating %s failed; page sent as is", self.path)
            await self._send(start)
            await self._send({"type": "http.response.body", "body": body})
            return

        out = body
        slots = False
        try:
            slots = rewrite.has_slots(body, encoding)
            if slots and outcome.decisions:
                edits = await self._edits(outcome)
                if edits:
                    out = rewrite.rewrite(body, edits, encoding)
            if self.debug:
                out = _inject_overlay(out, await self._render_debug(outcome), encoding)
        except rewrite.WorkLimitExceeded as exc:
            # a page built to make the rewriter work hard (or very unusual markup)
            log.warning("smartseg: %s sent unpersonalized: %s", self.path, exc)
            out = body
        except Exception:
            log.exception(
                "smartseg: personalizing %s failed; page sent as the app made it", self.path
            )
            out = body

        cookie = self._set_cookie(outcome)
        changed = out is not body
        private = slots or changed or cookie is not None or self.view_read or self.previewing
        if private:
            start = {
                **start,
                "headers": _headers_out(
                    start.get("headers", []),
                    length=len(out) if changed else None,
                    drop_validators=changed,
                    private=True,
                    no_store=self.previewing or self.debug,
                    set_cookie=cookie,
                ),
            }
        await self._send(start)
        await self._send({"type": "http.response.body", "body": out})

    # ------------------------------------------------------------------ actions

    async def _edits(self, outcome: Outcome) -> dict[str, rewrite.Edit]:
        edits: dict[str, rewrite.Edit] = {}
        for slot, decision in outcome.decisions.items():
            try:
                edit = await self._edit(decision, outcome)
            except Exception as exc:
                if decision.kind == "template":
                    self.mw._log_template_error(decision.template, decision.rule, slot, exc)
                    continue
                log.exception(
                    "smartseg: could not apply the %s action of rule %s to slot %r; "
                    "slot left as the app made it",
                    decision.kind,
                    decision.rule,
                    slot,
                )
                continue
            if edit is not None:
                edits[slot] = edit
        return edits

    async def _edit(self, decision: Decision, outcome: Outcome) -> rewrite.Edit | None:
        kind = decision.kind
        if kind == "show":
            return rewrite.Show()
        if kind == "hide":
            return rewrite.Hide()
        if kind == "replace":
            # A slot takes one action, so a hidden slot that is replaced is also shown.
            return rewrite.Replace(str(escape(decision.text or "")), reveal=True)
        if kind == "template":
            return rewrite.Replace(await self._partial(decision.template, outcome), reveal=True)
        if kind == "order":
            ranking = outcome.ranking(decision.group or "")
            return None if ranking is None else rewrite.Order(ranking)
        if kind == "survey":
            return rewrite.Replace(await self._render_survey(decision, outcome), reveal=True)
        log.warning("smartseg: unknown action kind %r from rule %s", kind, decision.rule)
        return None

    async def _partial(self, name: str | None, outcome: Outcome) -> str:
        """A `with template` partial, from the partial-render cache when it can be."""
        cache = self.mw.partials
        env = self.mw.templates
        if cache is None or name is None:
            return await self._render(name, {"visitor": outcome.view})  # type: ignore[arg-type]
        template = env.get_template(name)
        if not cache.cacheable(env, name, template):
            return await self._render(name, {"visitor": outcome.view})
        found = cache.get(template, outcome.view)
        if found is not None:
            return found
        tracer = Tracer(outcome.view)
        html = await self._render(name, {"visitor": tracer})
        cache.put(template, tracer, html)
        return html

    async def _render(self, name: str, context: dict[str, Any]) -> str:
        from starlette.requests import Request

        template = self.mw.templates.get_template(name)
        context = {"request": Request(self.scope), "smartseg": RequestVisitor(self), **context}
        if self.mw.templates.is_async:
            return await template.render_async(context)
        return template.render(context)

    def here(self) -> str:
        """This page's same-site URL (without an e-mail link's token) for ``next``."""
        url = self.scope.get("root_path", "") + self.path
        if self.query_string:
            query = self.query_string.decode("latin-1")
            url = links.strip_params(f"{url}?{query}", (links.LINK_PARAM,))
        return url

    async def _render_survey(self, decision: Decision, outcome: Outcome) -> str:
        root = self.scope.get("root_path", "")
        csrf, here = self.csrf_token(), self.here()
        cache = self.mw._survey_cache
        if cache is not None:
            # keyed by the decision's identity (hashing its fields cost more than the
            # rest of this): decisions are shared objects; the entry holds its decision,
            # so the id cannot be reused by another while it is there
            cached = cache.get((id(decision), root))
            if cached is not None and cached[0] is decision:
                before, between, after = cached[1]
                return "".join((before, str(escape(csrf)), between, str(escape(here)), after))
        about = decision.about
        if "." in about:
            options: list[tuple[str, str]] = [
                (value, ANSWER_LABELS[value]) for value in answer_choices(about, ())
            ]
        else:
            options = [(str(value), str(label)) for value, label in decision.options]
            if not any(value == OTHER for value, _ in options):
                options.append((OTHER, ANSWER_LABELS[OTHER]))
        context = {
            "visitor": outcome.view,
            "question": decision.question,
            "about": about,
            "kind": "yesno" if "." in about else "choice",
            "options": options,
            "csrf": csrf,
            "next": here,
            "answer_url": f"{root}/smartseg/answer",
            "dismiss_url": f"{root}/smartseg/dismiss",
            "form_id": f"smartseg-survey-{decision.slot}",
            "slot": decision.slot,
            "rule": decision.rule,
        }
        if cache is None:
            return await self._render(SURVEY_TEMPLATE, context)
        # The packaged widget only prints csrf and next (escaped): render it once per
        # survey with markers in their place, then fill them in per request.
        marked = await self._render(
            SURVEY_TEMPLATE, {**context, "csrf": _CSRF_MARK, "next": _NEXT_MARK}
        )
        if marked.count(_CSRF_MARK) == 1 and marked.count(_NEXT_MARK) == 1 and len(cache) < 512:
            first, _, rest = marked.partition(_CSRF_MARK)
            if _NEXT_MARK in first:  # the template printed `next` before `csrf`
                return _fill_marks(marked, csrf, here)
            between, _, after = rest.partition(_NEXT_MARK)
            cache[(id(decision), root)] = (decision, (first, between, after))
        return _fill_marks(marked, csrf, here)

    async def _render_debug(self, outcome: Outcome) -> str:
        groups = []
        for name, view in outcome.groups.items():
            segments = [
                (key.rsplit(".", 1)[-1], float(value)) for key, value in view.confidences.items()
            ]
            groups.append(
                {
                    "name": name,
                    "label": getattr(view, "label", name),
                    "segments": segments,
                    "most_likely": _segment_name(view.most_likely),
                    "certain": _segment_name(view.certain),
                    "known": bool(view.known),
                }
            )
        decisions = [
            {
                "slot": slot,
                "kind": d.kind,
                # relative to the rule set: whoever holds a preview link must not learn
                # where the server keeps its files
                "rule": self.mw.rule_label(d.rule),
                # file:line with the file's name only: the panel is small
                "where": Path(d.rule.rpartition(":")[0]).name + ":" + d.rule.rpartition(":")[2],
                "detail": d.template or d.question or d.text or d.group or "",
            }
            for slot, d in outcome.decisions.items()
        ]
        return await self._render(
            DEBUG_TEMPLATE,
            {
                "visitor": outcome.view,
                "groups": groups,
                "audiences": sorted(outcome.audiences),
                "decisions": decisions,
                "preview_as": self.preview_as,
                "gpc": self.gpc,
                "path": self.path,
                "measurement": _measurement_view(self.rt.rules, outcome),
            },
        )


def _measurement_view(rules: CompiledRuleSet, outcome: Outcome) -> dict[str, Any] | None:
    """What the debug overlay shows of goals and the holdout (None: nothing to measure)."""
    if not rules.measuring:
        return None
    now = {hit.goal for hit in outcome.goals if hit.first}
    return {
        "holdout": outcome.holdout,
        "has_holdout": rules.holdout is not None,
        "goals": [
            {
                "name": g.name,
                "label": g.label or g.name,
                "reached": g.key in outcome.state.goals,
                "now": g.name in now,
            }
            for g in rules.goals
        ],
        "experiments": [
            {
                "name": e.name,
                "label": e.label or e.name,
                "variant": outcome.experiments.get(e.name),
                "exposed": e.key in outcome.state.exposed,
                "now": any(x == e.name for x, _ in outcome.exposures),
            }
            for e in rules.experiments
        ],
    }


# --------------------------------------------------------------------------- endpoints

_Handler = Callable[["_Exchange", dict[str, str]], Awaitable[tuple[int, dict[str, Any], bytes]]]


_STORE_DOWN = (
    "your answer could not be saved right now (the answer bank is unavailable); "
    "nothing was recorded, please try again in a minute"
)


async def _stored_step(
    ex: _Exchange, outcome: Outcome, method: str, *args: Any, what: str
) -> bytes:
    """Record a step's input with the store's `method`, then send its activations;
    the Set-Cookie header of its state.

    The answer bank is the source of truth (docs/answer-bank.md): an answer or dismissal
    it could not keep is refused (503), not kept in the cookie alone, so nothing is lost
    silently and the visitor can answer again."""
    ok, _ = await ex.mw.store_call(method, *args, what=what)
    if not ok:
        raise _BadRequest(_STORE_DOWN, status=503)
    await ex.send_activation(outcome)
    return ex.mw.cookie_header(ex.rt.codec.dumps(outcome.state))


async def _answer(ex: _Exchange, fields: dict[str, str]) -> tuple[int, dict[str, Any], bytes]:
    about = _required(fields, "about")
    value = _required(fields, "answer")
    answer = Answer(about=about, value=value)
    problem = ex.rt.engine.validate_answer(answer)
    if problem:
        raise _BadRequest(problem)
    outcome = ex._finish_step(page_view=False, answers=(answer,))
    # The form's (verified) CSRF token makes the answer idempotent: the same form posted
    # again is recorded and synced once, and still answered as a success.
    cookie = await _stored_step(
        ex,
        outcome,
        "record_answer",
        ex.visitor_id,
        about,
        value,
        ex.now,
        _snapshot(outcome),
        fields.get("csrf"),
        what=f"the answer about {about}",
    )
    return 200, {"ok": True, "about": about, "answer": value}, cookie


async def _dismiss(ex: _Exchange, fields: dict[str, str]) -> tuple[int, dict[str, Any], bytes]:
    about = _required(fields, "about")
    problem = ex.rt.engine.validate_dismissal(about)
    if problem:
        raise _BadRequest(problem)
    outcome = ex._finish_step(page_view=False, dismissals=(about,))
    cookie = await _stored_step(
        ex,
        outcome,
        "record_dismissal",
        ex.visitor_id,
        about,
        ex.now,
        fields.get("csrf"),  # idempotent per form, like answers
        what=f"the dismissal of {about}",
    )
    return 200, {"ok": True, "dismissed": about}, cookie


async def _forget(ex: _Exchange, fields: dict[str, str]) -> tuple[int, dict[str, Any], bytes]:
    if ex.mw.events is not None:
        # events still queued in memory would otherwise be written after the deletion
        ex.mw.events.forget(ex.visitor_id)
    ok, deleted = await ex.mw.store_call(
        "forget", ex.visitor_id, what="the deletion of a visitor's rows"
    )
    cookie = ex.mw.clear_cookie_header()
    if ok and ex.mw.forgotten is not None:
        # at once on this server; the others read it from the store within their interval
        ex.mw.forgotten.add(ex.visitor_id)
    if not ok:
        # Clearing the cookie alone would look like success: say what did not happen.
        raise _BadRequest(
            "your cookie was cleared, but the stored answers could not be deleted right "
            "now; please try again later",
            status=503,
            cookie=cookie,
        )
    return 200, {"ok": True, "forgotten": int(deleted or 0)}, cookie


_ENDPOINTS: dict[str, _Handler] = {"answer": _answer, "dismiss": _dismiss, "forget": _forget}


async def _serve_inbound(
    mw: SmartSegMiddleware, scope: Scope, receive: Receive, send: Send
) -> None:
    """``POST /smartseg/inbound`` (SPEC §7): signed JSON, one item or a list.

    202 stored (new and repeated ids alike: a retry is harmless), 400 naming the bad
    field (nothing of the body is stored), 401 bad or missing signature, 405 not a
    POST, 413 over 1 MiB, 503 the answer bank is down (retry later)."""

    async def answer(status: int, payload: dict[str, Any]) -> None:
        content = json.dumps(payload).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
        if status == 405:
            headers.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    if scope["method"] != "POST":
        await answer(405, {"ok": False, "error": "this address only accepts POST"})
        return
    signature = None
    declared = None
    header_name = INBOUND_SIGNATURE_HEADER.lower().encode()
    for name, value in scope["headers"]:
        if name == header_name:
            signature = value
        elif name == b"content-length":
            declared = value
    too_big = {"ok": False, "error": f"the body is larger than {MAX_INBOUND_BYTES} bytes"}
    if declared is not None and declared.strip().isdigit() and int(declared) > MAX_INBOUND_BYTES:
        await answer(413, too_big)
        return
    try:
        body = await _read_body(receive, MAX_INBOUND_BYTES)
    except _BadRequest:
        await answer(413, too_big)
        return
    if body is None:
        return  # the client went away
    assert mw.inbound_secrets is not None
    if not signature_ok(body, signature, mw.inbound_secrets):
        await answer(
            401,
            {
                "ok": False,
                "error": f"missing or bad {INBOUND_SIGNATURE_HEADER} header (sha256=<hex "
                "HMAC-SHA256 of the raw body with the inbound secret>)",
            },
        )
        return
    try:
        items = parse_body(body)
    except InboundError as exc:
        await answer(400, {"ok": False, "error": str(exc), "field": exc.field or None})
        return
    store = await mw._get_store()
    if store is None:
        await answer(503, {"ok": False, "error": "the answer bank is disabled"})
        return
    try:
        results = await anyio.to_thread.run_sync(lambda: store.store_inbound(items))
    except AnswerBankError as exc:
        log.error("smartseg: could not store inbound items: %s", exc)
        await answer(
            503, {"ok": False, "error": "the answer bank is unavailable; nothing was stored"}
        )
        return
    stored = sum(1 for r in results if r)
    if mw.pending is not None:
        # This server knows at once; the others within their polling interval.
        due = time.time() + answer_sql.INBOUND_DELAY  # as the store computes it
        for item, new in zip(items, results, strict=True):
            if new and item.visitor is not None:
                mw.pending.add(item.visitor, due)
    await answer(
        202, {"ok": True, "received": len(items), "stored": stored, "repeated": len(items) - stored}
    )


def _with_inbound(info: RequestInfo, items: Sequence[AppliedItem]) -> RequestInfo:
    """``info`` plus the inbound items' tags, events (at their times) and attributes
    (in the order received: a later value wins)."""
    from dataclasses import replace

    tags: list[str] = []
    events: list[tuple[str, float]] = []
    attributes: dict[str, Any] = {}
    for item in items:
        tags += item.tags
        events += [(name, item.at) for name in item.events]
        attributes.update(item.attributes)
    return replace(
        info,
        inbound_tags=tuple(tags),
        inbound_events=tuple(events),
        inbound_attributes=attributes,
    )


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None or not value.strip():
        raise _BadRequest(f"missing field {name!r}")
    return value


async def _serve_endpoint(ex: _Exchange, handler: _Handler, receive: Receive) -> None:
    wants_json = b"application/json" in ex.accept
    next_url = "/"
    cookie: bytes | None = None
    try:
        if ex.method != "POST":
            raise _BadRequest("this address only accepts POST", status=405)
        body = await _read_body(receive, MAX_FORM_BYTES)
        if body is None:
            return  # the client went away
        fields = _parse_fields(body, _content_type(ex.scope))
        next_url = _safe_next(fields.get("next"), ex.scope.get("root_path", ""))
        state = ex.base_state()
        ex.mw.csrf.verify(fields.get("csrf"), None if ex.is_new else str(state.visitor_id))
        status, payload, cookie = await handler(ex, fields)
    except CsrfError as exc:
        await _respond_error(ex, 403, str(exc), wants_json, next_url, None)
        return
    except _BadRequest as exc:
        await _respond_error(ex, exc.status, str(exc), wants_json, next_url, exc.cookie)
        return
    except Exception:
        log.exception("smartseg: %s %s failed", ex.method, ex.path)
        await _respond_error(
            ex, 500, "something went wrong on our side; nothing was recorded", wants_json, "/", None
        )
        return
    headers: list[tuple[bytes, bytes]]
    if wants_json:
        payload["next"] = next_url
        content = json.dumps(payload).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
    else:
        status, content = 303, b""
        headers = [
            (b"location", quote(next_url, safe=_URL_SAFE).encode("ascii")),
            (b"cache-control", b"no-store"),
            (b"content-length", b"0"),
        ]
    headers.append((b"set-cookie", cookie))
    await ex._send({"type": "http.response.start", "status": status, "headers": headers})
    await ex._send({"type": "http.response.body", "body": content})


async def _respond_error(
    ex: _Exchange, status: int, message: str, wants_json: bool, next_url: str, cookie: bytes | None
) -> None:
    if wants_json:
        content = json.dumps({"ok": False, "error": message}).encode()
        headers = list(_JSON_HEADERS)
    else:
        content = (
            Markup(
                '<!doctype html><meta charset="utf-8"><title>Not recorded</title>'
                '<main><h1>Not recorded</h1><p>{}</p><p><a href="{}">Go back</a></p></main>'
            )
            .format(message, next_url)
            .encode("utf-8")
        )
        headers = list(_HTML_HEADERS)
    headers.append((b"content-length", str(len(content)).encode()))
    if status == 405:
        headers.append((b"allow", b"POST"))
    if cookie is not None:
        headers.append((b"set-cookie", cookie))
    await ex._send({"type": "http.response.start", "status": status, "headers": headers})
    await ex._send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BadRequest(f"the form is larger than {limit} bytes", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower()
    return b""


def _parse_fields(body: bytes, content_type: bytes) -> dict[str, str]:
    """The posted fields, each given at most once, as strings of bounded length."""
    pairs: list[tuple[str, Any]]
    if content_type == b"application/json":
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: `[[[[…]]]]` nested thousands deep is not a form either
            raise _BadRequest("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _BadRequest("the JSON body must be an object")
        pairs = list(data.items())
    elif content_type in (b"", b"application/x-www-form-urlencoded", b"text/plain"):
        try:
            text = body.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=20, errors="strict")
        except (UnicodeError, ValueError):
            raise _BadRequest("the form data is malformed") from None
    else:
        raise _BadRequest(
            "send the form as application/x-www-form-urlencoded or application/json",
            status=415,
        )
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in _FIELD_LIMITS:
            continue  # unknown fields (a site's own hidden inputs) are ignored
        if name in fields:
            raise _BadRequest(f"field {name!r} was given more than once")
        if not isinstance(value, str):
            raise _BadRequest(f"field {name!r} must be a string")
        if len(value) > _FIELD_LIMITS[name]:
            raise _BadRequest(f"field {name!r} is too long")
        if name != "next" and any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
            raise _BadRequest(f"field {name!r} contains control characters")
        fields[name] = value
    return fields


def _safe_next(value: str | None, root_path: str = "") -> str:
    """``value`` when it is a path on this site, else ``/`` (no open redirects).

    Browsers treat ``\\`` like ``/`` and drop tabs and newlines inside URLs, so
    ``/\\evil.example`` or ``/\\t/evil.example`` would leave the site: any such
    character, a scheme or an authority sends the visitor home instead.
    """
    home = root_path + "/" if root_path else "/"
    if not value or len(value) > MAX_NEXT or not value.startswith("/"):
        return home
    if value.startswith("//") or "\\" in value:
        return home
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return home
    try:
        parts = urlsplit(value)
    except ValueError:
        return home
    if parts.scheme or parts.netloc:
        return home
    return value


# --------------------------------------------------------------------------- helpers


def _template_env(
    templates: jinja2.Environment | Any | None, *, auto_reload: bool
) -> jinja2.Environment:
    """The app's Jinja environment with the packaged templates behind its own loader
    (so the app can override ``smartseg/survey.html``), autoescaping always on.

    Outside dev, templates are not re-checked on disk at every render (a ``stat`` per
    template per request is measurable in the per-request budget)."""
    package_loader = jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES))
    if templates is None:
        return jinja2.Environment(loader=package_loader, autoescape=True, auto_reload=auto_reload)
    env = getattr(templates, "env", templates)  # starlette's Jinja2Templates has .env
    if not isinstance(env, jinja2.Environment):
        raise TypeError("templates must be a jinja2.Environment or starlette Jinja2Templates")
    loaders = [env.loader, package_loader] if env.loader is not None else [package_loader]
    return env.overlay(
        loader=jinja2.ChoiceLoader(loaders), autoescape=True, auto_reload=auto_reload
    )


def _fill_marks(html: str, csrf: str, here: str) -> str:
    return html.replace(_CSRF_MARK, str(escape(csrf))).replace(_NEXT_MARK, str(escape(here)))


def _is_packaged(env: jinja2.Environment, name: str) -> bool:
    """Does ``env`` resolve ``name`` to our own packaged template (not an app override)?"""
    try:
        filename = env.get_template(name).filename
    except jinja2.TemplateError:
        return False
    return filename is not None and Path(filename).resolve() == (PACKAGE_TEMPLATES / name).resolve()


def _cookie_values(header: bytes, name: bytes) -> list[str]:
    """Every value of cookie `name` in a `Cookie` header, in order (at most 8)."""
    found: list[str] = []
    for part in header.split(b";"):
        key, sep, value = part.partition(b"=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[:1] == b'"' == value[-1:]:
                value = value[1:-1]
            found.append(value.decode("latin-1"))
            if len(found) == 8:  # a header stuffed with copies costs no more than this
                break
    return found


def _parse_query(query_string: bytes) -> dict[str, list[str]]:
    """Query parameters → their values (a query with absurdly many is ignored)."""
    try:
        pairs = parse_qsl(
            query_string.decode("latin-1"), keep_blank_values=True, max_num_fields=200
        )
    except ValueError:
        return {}
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _charset(content_type: bytes) -> str | None:
    """The codec of a ``text/html`` Content-Type (default UTF-8), or None when the
    response is not HTML or names an encoding Python does not know. (The rewriter
    itself handles UTF-16/32 and leaves stateful encodings alone.)"""
    try:
        return _CHARSETS[content_type]
    except KeyError:
        pass
    result: str | None = None
    media, _, params = content_type.partition(b";")
    if media.strip().lower() == b"text/html":
        result = "utf-8"
        for param in params.split(b";"):
            key, _, value = param.partition(b"=")
            if key.strip().lower() == b"charset":
                name = value.strip().strip(b"\"'").decode("latin-1")
                try:
                    result = codecs.lookup(name).name
                except LookupError:
                    result = None  # an encoding we cannot read: leave the page alone
    if len(_CHARSETS) < 256:
        _CHARSETS[content_type] = result
    return result


def _store_spec(store: object) -> Store | str | Literal[False] | None:
    """The `store` argument checked: a `Store`, a URL or path (a `Path` is read as its
    path), None (the default file) or False (none). Anything else is a mistake to say
    at start-up, not a reason to write answers to ./smartseg.db instead."""
    if store is None or store is False or isinstance(store, str | Store):
        return store  # type: ignore[return-value]
    if isinstance(store, os.PathLike):
        return os.fspath(store)  # type: ignore[return-value]
    needed = [name for name in dir(Store) if not name.startswith("_")]
    missing = [name for name in needed if not hasattr(store, name)]
    raise TypeError(
        f"store={type(store).__name__!s} object is not an answer bank: give a Store "
        f"(missing: {', '.join(missing) or '?'}), a database URL or path, None or False"
    )


def _headers_out(
    raw: Sequence[tuple[bytes, bytes]],
    *,
    length: int | None = None,
    drop_validators: bool = False,
    private: bool = False,
    no_store: bool = False,
    set_cookie: bytes | None = None,
) -> list[tuple[bytes, bytes]]:
    """The response headers after personalization (SPEC §3.1): the app's, in order,
    minus those replaced; then the new length; then, for a private page, `vary` and
    `cache-control`; then the cookie.

    Not memoized as a whole: an app's headers often differ per visitor (its own
    session or CSRF cookie), so one pass over them is the cheapest exact way; only the
    `vary`/`cache-control` pair (few distinct values per app) is."""
    has_length = length is not None
    out: list[tuple[bytes, bytes]] = []
    vary: list[bytes] = []
    cache: list[bytes] = []
    for name, value in raw:
        lower = name.lower()
        if lower not in _REPLACED:
            out.append((name, value))
        elif lower == b"content-length":
            if not has_length:
                out.append((name, value))
        elif lower == b"vary" or lower == b"cache-control":
            if not private:
                out.append((name, value))
            elif lower == b"vary":
                vary.append(value)
            else:
                cache.append(value)
        elif not drop_validators:  # etag, last-modified: they describe the app's bytes
            out.append((name, value))
    if has_length:
        out.append((b"content-length", str(length).encode("ascii")))
    if private:
        out += _private_headers(tuple(vary), tuple(cache), no_store)
    if set_cookie is not None:
        out.append((b"set-cookie", set_cookie))
    return out


#: the header names `_headers_out` may replace (lower case)
_REPLACED = frozenset((b"content-length", b"vary", b"cache-control", b"etag", b"last-modified"))


@functools.lru_cache(maxsize=256)  # an app sends few distinct Vary/Cache-Control values
def _private_headers(
    vary: tuple[bytes, ...], cache: tuple[bytes, ...], no_store: bool
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """`vary` with ``Cookie`` added, `cache-control` made private (SPEC §3.1)."""
    tokens = [t.strip() for v in vary for t in v.split(b",") if t.strip()]
    if not any(t == b"*" or t.lower() == b"cookie" for t in tokens):
        tokens.append(b"Cookie")
    cache_control = _private_cache_control(cache, no_store)
    return (b"vary", b", ".join(tokens)), (b"cache-control", cache_control)


def _private_cache_control(values: tuple[bytes, ...], no_store: bool) -> bytes:
    """The app's Cache-Control minus what lets shared caches keep the page, plus
    ``private``. (``private="field"`` would only hide that field: made bare.)"""
    kept: list[bytes] = []
    for value in values:
        for directive in value.split(b","):
            directive = directive.strip()
            name = directive.partition(b"=")[0].strip().lower()
            if not directive or name in (b"public", b"s-maxage", b"private"):
                continue
            kept.append(directive)
    names = {d.partition(b"=")[0].strip().lower() for d in kept}
    if no_store and b"no-store" not in names:
        kept.append(b"no-store")
    return b", ".join([b"private", *kept])


def _inject_overlay(body: bytes, overlay: str, encoding: str) -> bytes:
    if "<p>".encode(encoding, "ignore") != b"<p>":
        return body  # UTF-16/32: the overlay is a dev aid, not worth re-encoding for
    data = overlay.encode(encoding, "xmlcharrefreplace")
    at = body.lower().rfind(b"</body")
    if at < 0:
        return body + data
    return body[:at] + data + body[at:]


def _segment_name(value: Any) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return "yes"
    text = str(getattr(value, "name", value))
    return text.rsplit(".", 1)[-1]


def _snapshot(outcome: Outcome) -> dict[str, Any]:
    """The per-group summary the answer bank sends to the CRM (answers.check_snapshot)."""
    groups: dict[str, dict[str, Any]] = {}
    for name, view in outcome.groups.items():
        likely = _segment_name(view.most_likely)
        confidence = 0.0
        if likely is not None:
            for key, value in view.confidences.items():
                if key.rsplit(".", 1)[-1] == likely:
                    confidence = float(value)
        groups[name] = {
            "most_likely": likely,
            "confidence": min(1.0, max(0.0, confidence)),
            "certain": _segment_name(view.certain) is not None,
        }
    return {"groups": groups, "audiences": sorted(outcome.audiences)}

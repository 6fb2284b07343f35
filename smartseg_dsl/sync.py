"""The CRM/ESP outbox worker (SPEC §4): delivers queued answer-bank events as signed
webhook POSTs, at least once, surviving receiver outages and process restarts.

* :class:`SyncConfig` — where to deliver and how patiently (``SyncConfig.from_env()``
  reads ``SMARTSEG_WEBHOOK_URL`` / ``SMARTSEG_WEBHOOK_SECRET`` and friends);
* :func:`deliver_once` — synchronous: deliver everything due now, each row at most once
  per call (the ``smartseg sync --once`` path);
* :func:`deliver_due` — the same, as a coroutine;
* :func:`run_worker` — a coroutine for the app's lifespan: deliver until ``stop_event``
  is set; :func:`sync_worker` wraps it as an async context manager.

Each attempt claims rows (claims expire after ``claim_ttl``, so a killed worker's rows
come back), POSTs the stored body with ``Idempotency-Key`` (stable per event) and
``X-Smartseg-Signature: sha256=<hex HMAC-SHA256 of the body>``, and then records the
outcome: delivered on 2xx; failed for good on a 4xx that retrying cannot fix (400, 401,
403, 404, 410, 413, 422…); otherwise retried with exponential backoff and jitter, the
next attempt time stored in the database so restarts keep the schedule. A delivery not
made within ``max_age`` of being queued is marked failed — kept and listed by
``smartseg sync --status``, requeued by ``smartseg sync --retry-failed``.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import httpx

from smartseg_dsl.answers import AnswerBankError, Delivery, Store
from smartseg_dsl.signing import sign_body, signature_ok

log = logging.getLogger("smartseg.sync")

SIGNATURE_HEADER = "X-Smartseg-Signature"
USER_AGENT = "smartseg-sync/1"
# 4xx statuses that may succeed later: timeout, conflict (an idempotent receiver still
# processing the same key), too early, rate-limited.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class SyncConfigError(ValueError):
    """The sync configuration cannot work (missing URL or secret, impossible timings)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class SyncConfig:
    """Delivery settings. Durations are in seconds.

    ``claim_ttl`` is how long a claimed row stays reserved for its worker; it must exceed
    the longest a batch can take (``ceil(batch_size / concurrency) * timeout``), so the
    default is derived from the others.
    """

    url: str
    secret: str
    timeout: float = 10.0
    max_age: float = 7 * 86400.0
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    claim_ttl: float = 0.0  # 0 → derived, see above
    batch_size: int = 20
    concurrency: int = 8
    poll_interval: float = 2.0
    worker_id: str = field(default_factory=default_worker_id)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SyncConfigError(
                "webhook URL must be an absolute http:// or https:// URL "
                "(set SMARTSEG_WEBHOOK_URL or pass --url)"
            )
        if not self.secret:
            raise SyncConfigError(
                "a webhook secret is required to sign deliveries "
                "(set SMARTSEG_WEBHOOK_SECRET or pass --secret)"
            )
        for name in ("timeout", "max_age", "backoff_base", "backoff_cap", "poll_interval"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise SyncConfigError(f"{name} must be a positive number of seconds")
        if self.backoff_cap < self.backoff_base:
            raise SyncConfigError("backoff_cap must be at least backoff_base")
        if self.batch_size < 1 or self.concurrency < 1:
            raise SyncConfigError("batch_size and concurrency must be at least 1")
        longest_batch = math.ceil(self.batch_size / self.concurrency) * self.timeout
        if not self.claim_ttl:
            object.__setattr__(self, "claim_ttl", max(60.0, 2 * longest_batch + 30.0))
        elif self.claim_ttl <= longest_batch + 1.0:
            raise SyncConfigError(
                f"claim_ttl ({self.claim_ttl:g}s) must exceed the longest a batch can take "
                f"({longest_batch:g}s = ceil(batch_size/concurrency) × timeout) plus 1s, or "
                "another worker would deliver rows still in flight"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> SyncConfig:
        """Settings from the environment; keyword arguments that are not None win.

        ``SMARTSEG_WEBHOOK_URL``, ``SMARTSEG_WEBHOOK_SECRET``, and optionally
        ``SMARTSEG_WEBHOOK_TIMEOUT`` and ``SMARTSEG_WEBHOOK_MAX_AGE`` (seconds).
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "url": env.get("SMARTSEG_WEBHOOK_URL", ""),
            "secret": env.get("SMARTSEG_WEBHOOK_SECRET", ""),
        }
        for name, var in (
            ("timeout", "SMARTSEG_WEBHOOK_TIMEOUT"),
            ("max_age", "SMARTSEG_WEBHOOK_MAX_AGE"),
        ):
            if env.get(var):
                try:
                    values[name] = float(env[var])
                except ValueError:
                    raise SyncConfigError(f"{var} must be a number of seconds") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class SyncStats:
    """What one delivery run did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0  # attempts that failed and were rescheduled
    failed: int = 0  # deliveries given up on (kept in the outbox as failed)
    unrecorded: int = 0  # outcomes the store could not record; the claim will expire

    def add(self, other: SyncStats) -> None:
        for name in ("claimed", "delivered", "retried", "failed", "unrecorded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "delivered": self.delivered,
            "retried": self.retried,
            "failed": self.failed,
            "unrecorded": self.unrecorded,
        }


class _Waitable(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


# --------------------------------------------------------------------------- signing


#: ``sign(body, secret)``, the ``X-Smartseg-Signature`` value; and
#: ``verify_signature(body, header, secrets)``, what a receiver does (one secret or
#: several, while rotating; see docs/examples/receiver.py). Shared with inbound data.
sign = sign_body
verify_signature = signature_ok


def request_headers(delivery: Delivery, secret: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": delivery.key,
        SIGNATURE_HEADER: sign(delivery.body, secret),
        "X-Smartseg-Event": delivery.kind,
        "X-Smartseg-Attempt": str(delivery.attempts),
    }


# --------------------------------------------------------------------------- retry policy


def backoff_delay(
    attempts: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: exponential
    (base, 2·base, 4·base…) capped at ``cap``, with "equal jitter" — a uniform draw in
    the upper half — so workers that failed together do not retry in lockstep."""
    exponent = min(max(attempts, 1) - 1, 62)
    ceiling = min(cap, base * (2.0**exponent))
    draw = (rng or random).uniform(0.0, ceiling / 2)
    return ceiling / 2 + draw


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _safe_url(url: str) -> str:
    # The webhook URL may carry a token in its query string or user info: keep it out
    # of logs and error texts.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _clean(text: str, limit: int = 200) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[:limit]


# --------------------------------------------------------------------------- delivery


async def _call(store: Store, method: str, *args: Any, **kwargs: Any) -> Any:
    bound = getattr(store, method)
    return await anyio.to_thread.run_sync(lambda: bound(*args, **kwargs))


async def _attempt(
    client: httpx.AsyncClient, store: Store, config: SyncConfig, d: Delivery, stats: SyncStats
) -> None:
    now = time.time()
    if now - d.age_from > config.max_age + config.claim_ttl:
        # Retries are never scheduled past max_age, so a row this old was claimed by
        # workers that died (or max_age was lowered). Sending it again could kill this
        # worker too if the row itself is the cause: give up, visibly.
        await _record_failed(
            store,
            d,
            f"not delivered within max_age ({config.max_age:g}s); "
            f"{d.attempts - 1} earlier attempt(s), the last one(s) lost with their worker",
            stats,
        )
        return

    error: str | None = None
    permanent = False
    retry_after: float | None = None
    started = time.monotonic()
    try:
        with anyio.fail_after(config.timeout):
            response = await client.post(
                config.url, content=d.body, headers=request_headers(d, config.secret)
            )
    except TimeoutError:
        error = f"timed out after {config.timeout:g}s"
    except httpx.HTTPError as exc:
        text = _clean(str(exc).replace(config.url, _safe_url(config.url)))
        error = f"{type(exc).__name__}: {text or 'connection failed'}"
    else:
        code = response.status_code
        if 200 <= code < 300:
            elapsed = (time.monotonic() - started) * 1000
            log.info("delivered #%d (%s, key %s) in %.0f ms", d.id, d.kind, d.key, elapsed)
            try:
                await _call(store, "mark_delivered", d.id, now=time.time())
            except AnswerBankError as exc:
                stats.unrecorded += 1
                log.warning(
                    "delivered #%d but could not record it (%s); it will be delivered "
                    "again, with the same Idempotency-Key",
                    d.id,
                    exc,
                )
            else:
                stats.delivered += 1
            return
        snippet = _clean(response.text) if response.content else ""
        error = f"HTTP {code} from {_safe_url(config.url)}" + (f": {snippet}" if snippet else "")
        if 300 <= code < 400:
            target = _safe_url(response.headers.get("location", "")) or "?"
            error += f" (redirect to {target}: configure the final URL)"
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        if code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())

    if permanent:
        await _record_failed(
            store,
            d,
            f"{error} (not retried: fix the receiver, then `smartseg sync --retry-failed`)",
            stats,
        )
        return

    now = time.time()
    delay = backoff_delay(d.attempts, config.backoff_base, config.backoff_cap)
    if retry_after is not None:
        delay = min(max(delay, retry_after), config.backoff_cap)
    next_at = now + delay
    if next_at - d.age_from > config.max_age:
        await _record_failed(
            store,
            d,
            f"{error} — giving up: next attempt would be past max_age "
            f"({config.max_age:g}s) after {d.attempts} attempt(s)",
            stats,
        )
        return
    log.warning(
        "delivery #%d (%s) attempt %d failed: %s; retrying in %.3gs",
        d.id,
        d.kind,
        d.attempts,
        error,
        delay,
    )
    try:
        recorded = await _call(
            store, "mark_retry", d.id, d.claim_token, next_attempt_at=next_at, error=error, now=now
        )
    except AnswerBankError as exc:
        stats.unrecorded += 1
        log.warning("could not reschedule #%d (%s); its claim will expire", d.id, exc)
        return
    if recorded:
        stats.retried += 1
    else:
        stats.unrecorded += 1  # our claim expired and someone else holds the row now


async def _record_failed(store: Store, d: Delivery, error: str, stats: SyncStats) -> None:
    log.error(
        "delivery #%d (%s, key %s) failed for good: %s — kept; list with `smartseg sync --status`",
        d.id,
        d.kind,
        d.key,
        error,
    )
    try:
        recorded = await _call(
            store, "mark_failed", d.id, d.claim_token, error=error, now=time.time()
        )
    except AnswerBankError as exc:
        stats.unrecorded += 1
        log.warning("could not mark #%d failed (%s); its claim will expire", d.id, exc)
        return
    if recorded:
        stats.failed += 1
    else:
        stats.unrecorded += 1


async def _round(
    store: Store, config: SyncConfig, client: httpx.AsyncClient, due_by: float | None
) -> SyncStats:
    stats = SyncStats()
    batch: list[Delivery] = await _call(
        store,
        "claim",
        config.worker_id,
        config.batch_size,
        now=time.time(),
        claim_ttl=config.claim_ttl,
        due_by=due_by,
    )
    stats.claimed = len(batch)
    if not batch:
        return stats
    limiter = anyio.Semaphore(config.concurrency)

    async def one(d: Delivery) -> None:
        async with limiter:
            try:
                await _attempt(client, store, config, d, stats)
            except Exception:  # one bad row must not take the batch (or the worker) down
                stats.unrecorded += 1
                log.exception("unexpected error delivering #%d; its claim will expire", d.id)

    async with anyio.create_task_group() as tg:
        for delivery in batch:
            tg.start_soon(one, delivery)
    return stats


def _client(config: SyncConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=config.timeout,
        follow_redirects=False,  # a redirect means a misconfigured URL: surface it
        limits=httpx.Limits(max_connections=config.concurrency),
    )


async def deliver_due(
    store: Store, config: SyncConfig, *, client: httpx.AsyncClient | None = None
) -> SyncStats:
    """Deliver every row due when called, each at most once (rows that fail are
    rescheduled into the future and left for the next run)."""
    started = time.time()
    total = SyncStats()
    async with _maybe_client(config, client) as http:
        while True:
            stats = await _round(store, config, http, due_by=started)
            total.add(stats)
            if stats.claimed == 0:
                return total


@asynccontextmanager
async def _maybe_client(
    config: SyncConfig, client: httpx.AsyncClient | None
) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    async with _client(config) as own:
        yield own


def deliver_once(store: Store, config: SyncConfig) -> SyncStats:
    """Synchronous :func:`deliver_due` (for the CLI and scripts; not from inside a
    running event loop — await :func:`deliver_due` there)."""
    return anyio.run(lambda: deliver_due(store, config))


async def run_worker(store: Store, config: SyncConfig, stop_event: _Waitable) -> SyncStats:
    """Deliver until ``stop_event`` (an asyncio or anyio Event) is set; returns totals.

    Never raises for delivery or store problems: they are logged (an unavailable store
    once per distinct error) and retried after ``poll_interval``. On stop, the batch in
    flight is finished (bounded by ``timeout``) so its outcomes are recorded.
    """
    total = SyncStats()
    last_error: str | None = None
    log.info("sync worker %s delivering to %s", config.worker_id, _safe_url(config.url))
    async with _client(config) as client:
        while not stop_event.is_set():
            try:
                stats = await _round(store, config, client, due_by=None)
            except AnswerBankError as exc:
                if str(exc) != last_error:
                    log.error("sync worker: answer bank unavailable: %s (will retry)", exc)
                    last_error = str(exc)
                stats = SyncStats()
            except Exception:
                log.exception("sync worker: unexpected error (will retry)")
                stats = SyncStats()
            else:
                if last_error is not None:
                    log.warning("sync worker: answer bank available again")
                    last_error = None
            total.add(stats)
            if stats.claimed >= config.batch_size:
                continue  # more may be waiting: no pause between full batches
            with anyio.move_on_after(config.poll_interval):
                await stop_event.wait()
    log.info("sync worker %s stopped: %s", config.worker_id, total.as_dict())
    return total


@asynccontextmanager
async def sync_worker(store: Store, config: SyncConfig) -> AsyncIterator[None]:
    """Run :func:`run_worker` for the duration of the block — for a Starlette lifespan::

    @asynccontextmanager
    async def lifespan(app):
        async with sync_worker(store, SyncConfig.from_env()):
            yield
    """
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_worker, store, config, stop)
        try:
            yield
        finally:
            stop.set()

"""`smartseg sync`: deliver the CRM outbox (SPEC §4), or report on it.

    smartseg sync                 run a worker until Ctrl-C / SIGTERM
    smartseg sync --once          deliver everything due now, then exit
    smartseg sync --status        pending / in flight / delivered / failed, oldest age
    smartseg sync --retry-failed  requeue deliveries that were given up on

Configuration: `--db` or `SMARTSEG_DB` (default ./smartseg.db), `--url` or
`SMARTSEG_WEBHOOK_URL`, `--secret` or `SMARTSEG_WEBHOOK_SECRET` (prefer the variable: a
command-line secret shows in `ps`), optional `SMARTSEG_WEBHOOK_TIMEOUT` /
`SMARTSEG_WEBHOOK_MAX_AGE` in seconds.

Exit status: 0 ok; 1 with `--once` when any delivery failed this run or failed
deliveries remain in the outbox; 2 usage error or unusable answer bank.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from smartseg_dsl.answers import AnswerBankError, OutboxStatus, Store, open_store, redact_url
from smartseg_dsl.links import LinkError, parse_duration
from smartseg_dsl.sync import SyncConfig, SyncConfigError, SyncStats


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def _when(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_dict(store: Store, status: OutboxStatus, now: float) -> dict[str, Any]:
    return {
        "store": store.description,
        "pending": status.pending,
        "in_flight": status.in_flight,
        "delivered": status.delivered,
        "failed": status.failed,
        "oldest_pending_age_seconds": status.oldest_pending_age(now),
        "next_attempt_in_seconds": (
            None if status.next_attempt_at is None else max(0.0, status.next_attempt_at - now)
        ),
        "failures": [
            {
                "id": f.id,
                "idempotency_key": f.key,
                "type": f.kind,
                "email": f.email_masked,
                "queued_at": _when(f.created_at),
                "failed_at": _when(f.failed_at),
                "attempts": f.attempts,
                "last_error": f.last_error,
            }
            for f in status.failures
        ],
    }


def _status_text(info: dict[str, Any]) -> str:
    lines = [
        f"answer bank  {info['store']}",
        f"pending      {info['pending']}"
        + (
            f"  (oldest queued {_age(info['oldest_pending_age_seconds'])} ago; "
            f"next attempt in {_age(info['next_attempt_in_seconds'])})"
            if info["oldest_pending_age_seconds"] is not None
            else ""
        ),
        f"in flight    {info['in_flight']}",
        f"delivered    {info['delivered']}",
        f"failed       {info['failed']}",
    ]
    if info["failures"]:
        lines.append(f"failed deliveries (newest first, up to {len(info['failures'])}):")
        for f in info["failures"]:
            lines.append(
                f"  #{f['id']}  {f['type']}  {f['email']}  queued {f['queued_at']}  "
                f"{f['attempts']} attempt(s)  {f['last_error'] or ''}".rstrip()
            )
        lines.append("requeue them with: smartseg sync --retry-failed")
    return "\n".join(lines)


def _fail(message: str, code: int) -> None:
    click.echo(f"smartseg sync: error: {message}", err=True)
    raise SystemExit(code)


@click.command("sync")
@click.option("--db", envvar="SMARTSEG_DB", metavar="URL", help="Answer bank (file or URL).")
@click.option(
    "--url",
    "webhook_url",
    envvar="SMARTSEG_WEBHOOK_URL",
    metavar="URL",
    help="Webhook to deliver to.",
)
@click.option(
    "--secret",
    envvar="SMARTSEG_WEBHOOK_SECRET",
    metavar="SECRET",
    help="HMAC secret (prefer $SMARTSEG_WEBHOOK_SECRET).",
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--status", "show_status", is_flag=True, help="Report on the outbox and exit.")
@click.option("--retry-failed", is_flag=True, help="Requeue deliveries that were given up on.")
@click.option("--timeout", type=float, metavar="SECONDS", help="Per-request timeout.")
@click.option("--max-age", metavar="DURATION", help="Give up after this long (e.g. 7d).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("-v", "--verbose", is_flag=True, help="Log every delivery.")
def sync_command(
    db: str | None,
    webhook_url: str | None,
    secret: str | None,
    once: bool,
    show_status: bool,
    retry_failed: bool,
    timeout: float | None,
    max_age: str | None,
    fmt: str,
    verbose: bool,
) -> None:
    """Deliver the CRM outbox (or report on it with --status)."""
    if show_status and (once or retry_failed):
        raise click.UsageError("--status only reports; use it without --once/--retry-failed")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="smartseg: %(message)s",
        stream=sys.stderr,
    )
    config: SyncConfig | None = None
    if not show_status and not (retry_failed and not once):
        try:
            config = SyncConfig.from_env(
                url=webhook_url,
                secret=secret,
                timeout=timeout,
                max_age=None if max_age is None else parse_duration(max_age),
            )
        except (SyncConfigError, LinkError) as exc:
            _fail(str(exc), 2)
    try:
        store = open_store(db)
    except AnswerBankError as exc:
        _fail(f"cannot use answer bank {redact_url(db or 'smartseg.db')}: {exc}", 2)
    try:
        _run(store, config, once, show_status, retry_failed, fmt)
    except AnswerBankError as exc:
        _fail(f"answer bank {store.description}: {exc}", 2)
    finally:
        store.close()


def _run(
    store: Store,
    config: SyncConfig | None,
    once: bool,
    show_status: bool,
    retry_failed: bool,
    fmt: str,
) -> None:
    if show_status:
        now = time.time()
        info = _status_dict(store, store.status(now=now), now)
        click.echo(json.dumps(info, indent=2) if fmt == "json" else _status_text(info))
        return
    if retry_failed:
        count = store.requeue_failed(now=time.time())
        if fmt == "text":
            click.echo(f"requeued {count} failed deliver{'y' if count == 1 else 'ies'}")
        if not once:
            if fmt == "json":
                click.echo(json.dumps({"requeued": count}))
            return
    assert config is not None
    if once:
        from smartseg_dsl.sync import deliver_once

        stats = deliver_once(store, config)
        now = time.time()
        info = _status_dict(store, store.status(now=now), now)
        if fmt == "json":
            click.echo(json.dumps({"run": stats.as_dict(), "status": info}, indent=2))
        else:
            click.echo(
                f"delivered {stats.delivered}, retrying {stats.retried}, failed {stats.failed}"
                + (f", unrecorded {stats.unrecorded}" if stats.unrecorded else "")
                + f"; outbox: {info['pending']} pending, {info['failed']} failed"
            )
        if stats.retried or stats.failed or stats.unrecorded or info["failed"]:
            raise SystemExit(1)
        return
    stats = _serve(store, config)
    if fmt == "json":
        click.echo(json.dumps({"run": stats.as_dict()}))


def _serve(store: Store, config: SyncConfig) -> SyncStats:
    import anyio

    from smartseg_dsl.sync import run_worker

    logging.getLogger("smartseg").setLevel(logging.INFO)

    async def main() -> SyncStats:
        stop = anyio.Event()

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signal)
            stats = await run_worker(store, config, stop)
            tg.cancel_scope.cancel()
        return stats

    return anyio.run(main)

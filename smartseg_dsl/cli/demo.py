"""`smartseg demo`: run the example site (site_example/) with its real rules.

In a wheel the site is `smartseg_dsl.demo_site` (pyproject maps the folder there).

The site runs on uvicorn with the embedded SQLite answer bank; a small example
CRM receiver runs beside it (one port up) and prints every webhook it gets, so
a newcomer sees the sync happen after signing up to the newsletter.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
from pathlib import Path
from types import ModuleType

import click

DEMO_WEBHOOK_SECRET = "demo-webhook-secret"


def demo_package() -> ModuleType:
    """The example site's package: `smartseg_dsl.demo_site` in an installed wheel (the
    repository's `site_example/`, shipped inside smartseg's namespace so that nothing
    generic lands at the top of site-packages), `site_example` in a checkout."""
    try:
        return importlib.import_module("smartseg_dsl.demo_site")
    except ModuleNotFoundError as exc:
        if exc.name != "smartseg_dsl.demo_site":
            raise
    return importlib.import_module("site_example")


def demo_module(name: str) -> ModuleType:
    """A module of the example site (`app`, `crm_receiver`, …)."""
    return importlib.import_module(f"{demo_package().__name__}.{name}")


def demo_rules_path() -> Path:
    """The demo rules: packaged inside the demo site in a wheel, `rules/` in a checkout."""
    here = Path(str(demo_package().__file__)).resolve().parent
    for candidate in (here / "rules", here.parent / "rules"):
        if candidate.is_dir() and any(candidate.glob("*.seg")):
            return candidate
    raise click.ClickException("the demo rules are missing from this installation")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port of the site.")
@click.option("--dev", is_flag=True, help="Debug overlay (?smartseg_debug=1) and rule reloading.")
@click.option(
    "--db",
    default=None,
    help="Answer bank URL or SQLite path (default: smartseg.db in the current directory).",
)
@click.option("--no-crm", is_flag=True, help="Do not start the example CRM receiver.")
def demo_command(host: str, port: int, dev: bool, db: str | None, no_crm: bool) -> None:
    """Run the example site on http://127.0.0.1:8000."""
    try:
        import uvicorn

        create_app = demo_module("app").create_app
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise click.ClickException(f"the demo site cannot be imported: {exc}") from exc

    if not _port_free(host, port):
        raise click.ClickException(
            f"port {port} is already in use on {host}: try `smartseg demo --port {port + 10}`"
        )
    rules = demo_rules_path()
    webhook_url = None
    crm_port = port + 1
    if not no_crm and _port_free(host, crm_port):
        create_receiver = demo_module("crm_receiver").create_receiver

        receiver = create_receiver(secret=DEMO_WEBHOOK_SECRET)
        config = uvicorn.Config(receiver, host=host, port=crm_port, log_level="warning")
        server = uvicorn.Server(config)
        threading.Thread(target=server.run, name="crm-receiver", daemon=True).start()
        webhook_url = f"http://{host}:{crm_port}/webhook"

    secret_key = os.environ.get("SMARTSEG_SECRET_KEY", "demo-secret-key-change-me")
    # SMARTSEG_HOLDOUT=0 (as for site_example/asgi.py): nobody in the rules' holdout
    holdout = os.environ.get("SMARTSEG_HOLDOUT", "").strip().lower() not in {"0", "false", "no"}
    app = create_app(
        holdout=holdout,
        rules_path=str(rules),
        db_url=db,
        secret_key=secret_key,
        dev=dev,
        webhook_url=webhook_url,
        webhook_secret=DEMO_WEBHOOK_SECRET,
    )
    url = f"http://{host}:{port}/"
    click.echo(
        "\n".join(
            [
                f"smartseg demo: {url}  (rules: {rules})",
                "",
                "Try this:",
                "  1. Open the home page: the anonymous version.",
                "  2. Read two articles under /blog/ about law firms; from the third page on",
                '     the site asks "Are you a lawyer?". Answer Yes: the headline changes.',
                f"  3. Preview any segment: {url}?smartseg_as=Industry.Legal"
                + ("" if dev else "  (needs --dev)"),
                f"  4. See why: {url}?smartseg_debug=1" + ("" if dev else "  (needs --dev)"),
                "  5. Sign up to the newsletter: the CRM receiver below prints the sync.",
                "  6. Measure: `smartseg report rules/ --db "
                + (db or "smartseg.db")
                + " --format html -o report.html`.",
                "  One visitor in ten is in the holdout (rules/70-measurement.seg) and sees the",
                "  plain site: if nothing changes for you, open a private window (a new visitor)",
                "  or restart with SMARTSEG_HOLDOUT=0.",
                ""
                if webhook_url
                else "  (the example CRM receiver is off: --no-crm or its port is busy)",
                f"CRM receiver: {webhook_url}" if webhook_url else "",
                "Press Ctrl+C to stop.",
            ]
        ),
        err=False,
    )
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=port, log_level="info" if dev else "warning")

"""Run the Ledgerly example site locally: ``python -m site_example [--port 8000] [--dev]``."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve the site on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m site_example", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rules", default="rules/", help="rule file or directory")
    parser.add_argument("--dev", action="store_true", help="smartseg preview and debug overlay")
    parser.add_argument("--webhook-url", default=None, help="CRM webhook for the answer bank")
    args = parser.parse_args(argv)
    app = create_app(rules_path=args.rules, dev=args.dev, webhook_url=args.webhook_url)
    print(f"Ledgerly demo on http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

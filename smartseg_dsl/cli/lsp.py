"""`smartseg lsp`: the Language Server Protocol server for `.seg` files, over stdio.

pygls is an optional dependency (the `lsp` extra): without it the command says how
to install it and exits 2.
"""

from __future__ import annotations

import sys

import click

__all__ = ["lsp_command"]

INSTALL_HINT = (
    "smartseg lsp: error: the language server needs pygls, which is not installed.\n"
    "Install it with:  pip install 'smartseg[lsp]'"
)


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only way).")
def lsp_command(stdio: bool) -> None:
    """Run the language server over stdio (for editors; see docs/editors.md)."""
    try:
        import pygls  # noqa: F401
    except ImportError:
        click.echo(INSTALL_HINT, err=True)
        sys.exit(2)
    from ..lsp.server import main

    main()

"""`smartseg check PATH... [--format text|json|github|sarif|junit] [--strict] [--templates DIR]
[--config FILE]`.

Exit codes (SPEC §5): 0 clean (warnings allowed), 1 any error (or any warning
with `--strict`), 2 a usage or I/O problem: a missing path or a directory
without `.seg` files (message on stderr). A file that exists but cannot be
read as UTF-8 text is a SEG107 diagnostic, so it exits 1 like any other
error. Anything unexpected is reported as an internal error with exit 2,
never as a traceback.

`--templates DIR` (repeatable) also checks that every `with template "t"` names a
template those folders can load (SEG208, `templates_check.py`).

`--config FILE` reads per-code levels and excluded paths (docs/configuration.md);
without it, `smartseg.toml` or a `pyproject.toml` with `[tool.smartseg]` is looked
for from the current directory upward. A bad configuration is a usage error (2).

Imports stay inside the function: `smartseg check` should start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

__all__ = ["check_command"]

EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _use_color(stream: object) -> bool:
    """ANSI colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def _read_sources(files: set[str]) -> dict[str, str]:
    sources: dict[str, str] = {}
    for name in files:
        try:
            text = open(name, encoding="utf-8", errors="replace").read()  # noqa: SIM115
        except OSError:
            continue
        sources[name] = text[1:] if text.startswith("\ufeff") else text
    return sources


def _write(text: str) -> None:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    # a terminal that cannot show `→` or `…` still gets the report; colour codes are
    # only in `text` when `_use_color` said so, so click must not strip them
    click.echo(text.encode(encoding, "replace").decode(encoding), nl=False, color=True)


def run_check(
    paths: Sequence[str],
    fmt: str,
    strict: bool,
    templates: Sequence[str] = (),
    config_file: str | None = None,
) -> int:
    """Check `paths` and print the report; returns the exit code."""
    from ..config import ConfigError, discover_config, load_config
    from ..loader import PathError, check_paths

    for folder in templates:
        if not os.path.isdir(folder):
            click.echo(f"smartseg check: error: --templates {folder}: no such directory", err=True)
            return EXIT_USAGE
    try:
        config = load_config(config_file) if config_file else discover_config()
    except ConfigError as exc:
        click.echo(f"smartseg check: error: {exc}", err=True)
        return EXIT_USAGE

    try:
        result = check_paths(paths, exclude=config.excluded if config.exclude else None)
    except PathError as exc:
        click.echo(f"smartseg check: error: {exc}", err=True)
        return EXIT_USAGE
    except OSError as exc:  # e.g. a directory that cannot be listed
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"smartseg check: error: {where}{exc.strerror or exc}", err=True)
        return EXIT_USAGE
    diagnostics = result.diagnostics
    if templates:
        from ..diagnostics import Diagnostic
        from ..templates_check import check_templates, folder_environment

        found = check_templates(result.ruleset, folder_environment(templates))
        diagnostics = tuple(sorted((*diagnostics, *found), key=Diagnostic.sort_key))
    diagnostics = tuple(config.apply(diagnostics))
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    files = len(result.ruleset.files)
    if fmt == "json":
        from ..report import render_json

        _write(render_json(diagnostics, files=files))
    elif fmt == "github":
        from ..report import render_github

        _write(render_github(diagnostics))
    elif fmt == "sarif":
        from ..report import render_sarif

        _write(render_sarif(diagnostics))
    elif fmt == "junit":
        from ..report import render_junit

        _write(render_junit(diagnostics, [f.path for f in result.ruleset.files], strict=strict))
    else:
        from ..report import render_text

        sources = _read_sources({d.file for d in diagnostics})
        color = _use_color(sys.stdout)
        _write(render_text(diagnostics, sources, color, files=files))
    if errors or (strict and warnings):
        return EXIT_ERRORS
    return EXIT_CLEAN


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github", "sarif", "junit"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option(
    "--templates",
    "templates",
    multiple=True,
    metavar="DIR",
    help="The site's template folder (repeatable): report `with template` names it "
    "cannot load (SEG208).",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="smartseg.toml or pyproject.toml with per-code levels and excluded paths "
    "(default: the first found from the current directory upward).",
)
def check_command(
    paths: tuple[str, ...],
    fmt: str,
    strict: bool,
    templates: tuple[str, ...],
    config_file: str | None,
) -> None:
    """Parse and check rule files; a directory means every .seg file under it."""
    try:
        code = run_check(paths, fmt, strict, templates, config_file)
    except RecursionError:
        click.echo(
            "smartseg check: internal error: the rules are nested too deeply to check",
            err=True,
        )
        code = EXIT_USAGE
    except Exception as exc:  # never a traceback for a marketer
        click.echo(
            f"smartseg check: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in smartseg; please report it with the rule files that caused it.",
            err=True,
        )
        if os.environ.get("SMARTSEG_DEBUG"):
            import traceback

            traceback.print_exc(file=sys.stderr)
        code = EXIT_USAGE
    click.get_current_context().exit(code)

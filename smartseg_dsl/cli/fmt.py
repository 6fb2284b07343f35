"""`smartseg fmt PATH... [--check] [--diff]`: rewrite rule files in canonical layout.

Exit codes: 0 done (or, with `--check`, nothing to change); 1 a file would
change under `--check`, or a file has syntax errors (it is left untouched);
2 a path is missing, a directory holds no `.seg` file, or a file cannot be
read or written.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from pathlib import Path

import click

from ..formatter import FormatError, format_source
from ..loader import PathError, discover
from ..parser import MAX_FILE_BYTES

__all__ = ["fmt_command"]


class _ReadError(Exception):
    pass


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _ReadError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise _ReadError(f"{path}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ReadError(f"{path}: the file is not UTF-8 text (offset {exc.start})") from exc


def _write_atomic(path: Path, text: str) -> None:
    """Replace the file in one step: readers see the old or the new text, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):  # keeping the mode is a courtesy
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of each change.")
def fmt_command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Rewrite rule files in canonical layout (a directory means every .seg file in it).

    Formatting never changes what the rules mean. A file with syntax errors is
    reported and left as it is. With --check nothing is written and the files
    that would change are listed; --diff prints the changes instead of writing
    them (as `ruff format --diff` and `black --diff` do). Both exit 1 when a
    file would change.
    """
    try:
        files = discover(paths)
    except PathError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None

    changed: list[Path] = []
    broken = 0
    unreadable = 0
    io_error = False
    for path in files:
        shown = path.as_posix()
        try:
            original = _read(path)
        except _ReadError as exc:
            click.echo(f"error: {exc}", err=True)
            unreadable += 1
            io_error = True
            continue
        text = original[1:] if original.startswith("\ufeff") else original
        try:
            formatted = format_source(text, shown)
        except FormatError as exc:
            broken += 1
            if exc.diagnostics:
                for d in exc.diagnostics:
                    click.echo(
                        f"{d.file}:{d.line}:{d.column}: {d.severity} {d.code} {d.message}",
                        err=True,
                    )
            else:
                click.echo(f"error: {exc}", err=True)
            continue
        if formatted == original:
            continue
        changed.append(path)
        if show_diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        original.splitlines(keepends=True),
                        formatted.splitlines(keepends=True),
                        fromfile=f"{shown} (original)",
                        tofile=f"{shown} (formatted)",
                    )
                ),
                nl=False,
            )
        if check or show_diff:
            if check:
                click.echo(f"would reformat {shown}")
            continue
        try:
            _write_atomic(path, formatted)
        except OSError as exc:
            click.echo(f"error: {shown}: cannot write the file: {exc.strerror or exc}", err=True)
            io_error = True
            continue

    unchanged = len(files) - len(changed) - broken - unreadable
    verb = "would be reformatted" if check or show_diff else "reformatted"
    summary = f"{len(changed)} file(s) {verb}, {unchanged} unchanged"
    if broken:
        summary += f", {broken} with syntax errors (left as they are)"
    click.echo(summary, err=True)
    if io_error:
        raise SystemExit(2)
    if broken or ((check or show_diff) and changed):
        raise SystemExit(1)

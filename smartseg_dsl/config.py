"""Project configuration of `smartseg check` and the language server (docs/configuration.md).

Read from `smartseg.toml` (top-level keys) or from the `[tool.smartseg]` table of a
`pyproject.toml`; without `--config FILE` the first of them found walking up from
the current directory is used (in each directory `smartseg.toml` wins; a
`pyproject.toml` without a `[tool.smartseg]` table is passed over).

```toml
[tool.smartseg]
exclude = ["rules/drafts/**"]      # .seg files left out when a directory is checked

[tool.smartseg.codes]              # per-code level: "off", "warning" or "error"
SEG406 = "off"
SEG402 = "error"
```

Syntax errors (SEG1xx) and the cookie budget (SEG5xx) cannot be turned off or down,
as they cannot be silenced by a comment (docs/codes/README.md).
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

from .diagnostics import CODES, UNSUPPRESSIBLE_CLASSES, Diagnostic

__all__ = ["CONFIG_NAMES", "Config", "ConfigError", "Level", "discover_config", "load_config"]

Level = Literal["off", "warning", "error"]
_LEVELS: tuple[Level, ...] = ("off", "warning", "error")
CONFIG_NAMES = ("smartseg.toml", "pyproject.toml")


class ConfigError(Exception):
    """A configuration file that cannot be read or says something invalid (exit 2)."""


@dataclass(frozen=True, slots=True)
class Config:
    """Per-code levels and excluded paths; `root` is the folder patterns are relative to."""

    levels: Mapping[str, Level] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    root: Path = field(default_factory=Path.cwd)
    path: Path | None = None

    def excluded(self, path: str | os.PathLike[str]) -> bool:
        """Is this file left out by an `exclude` pattern (relative to `root`, or absolute)?"""
        if not self.exclude:
            return False
        full = Path(path).absolute()
        try:
            rel = full.relative_to(self.root.absolute()).as_posix()
        except ValueError:
            rel = None
        for pattern in self.exclude:
            candidates = [full.as_posix()] + ([rel] if rel is not None else [])
            for c in candidates:
                if fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(
                    c, pattern.rstrip("/") + "/*"
                ):
                    return True
        return False

    def apply(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """The diagnostics at their configured levels (`off` ones dropped)."""
        if not self.levels:
            return list(diagnostics)
        out = []
        for d in diagnostics:
            level = self.levels.get(d.code)
            if level is None or level == d.severity:
                out.append(d)
            elif level != "off":
                out.append(replace(d, severity=level))
        return out


def _table(data: dict[str, object], path: Path) -> dict[str, object] | None:
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        table = tool.get("smartseg") if isinstance(tool, dict) else None
        return cast("dict[str, object] | None", table if isinstance(table, dict) else None)
    return data


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read one configuration file; a `pyproject.toml` without the table is the default."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the file: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    table = _table(data, file)
    root = file.absolute().parent
    if table is None:
        return Config(root=root, path=file)
    where = "[tool.smartseg]" if file.name == "pyproject.toml" else file.name
    unknown = sorted(set(table) - {"exclude", "codes"})
    if unknown:
        raise ConfigError(f"{file}: {where}: unknown key `{unknown[0]}` (known: codes, exclude)")
    exclude = table.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise ConfigError(f"{file}: {where}: `exclude` must be a list of path patterns")
    codes = table.get("codes", {})
    if not isinstance(codes, dict):
        raise ConfigError(f"{file}: {where}: `codes` must be a table of CODE = level")
    levels: dict[str, Level] = {}
    for raw, level in codes.items():
        code = str(raw).upper()
        if code not in CODES:
            raise ConfigError(f"{file}: {where}: unknown diagnostic code `{raw}`")
        if level not in _LEVELS:
            raise ConfigError(
                f"{file}: {where}: {code} = {level!r}: the level is one of off, warning, error"
            )
        if code[3] in UNSUPPRESSIBLE_CLASSES and level != "error":
            raise ConfigError(
                f"{file}: {where}: {code} cannot be turned {level}: syntax errors and the "
                "cookie budget are always errors"
            )
        levels[code] = cast(Level, level)
    return Config(levels=levels, exclude=tuple(exclude), root=root, path=file)


def discover_config(start: str | os.PathLike[str] | None = None) -> Config:
    """The configuration that applies in `start` (default: the current directory)."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and not _has_table(candidate):
                continue
            return load_config(candidate)
    return Config(root=here)


def _has_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("smartseg"), dict)

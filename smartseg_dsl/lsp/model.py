"""The rule sets the language server works on: open texts over files on disk.

A document belongs to the rule set of its folder: every `.seg` file under the
document's directory (as `smartseg check DIR` reads them), minus the paths the
configuration excludes. Open documents replace their file's text on disk; a file
is parsed again only when its text changed, and then only the top-level items whose
text changed (`reparse`); the rule set is checked as a whole (names are global across
files, so a rename in one file changes the diagnostics of the others), reusing the
previous check's work wherever the edit cannot change it (`recheck`).

Nothing here knows about LSP: positions are the AST's (1-based lines and columns
counted in characters). `server.py` converts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, ConfigError, discover_config
from ..diagnostics import Diagnostic
from ..loader import gc_paused
from ..parser import ParseResult, parse_source
from .index import Index, build_index
from .recheck import CheckMemo
from .reparse import BlockParser

__all__ = ["Analysis", "RuleSetModel"]


@dataclass(slots=True)
class Analysis:
    """One state of a rule set: its parsed files, its index and (once run) its diagnostics."""

    root: str
    files: tuple[str, ...]
    results: tuple[ParseResult, ...]
    config: Config
    config_error: str | None = None
    #: the previous check of this rule set, reused where the edit cannot matter
    memo: CheckMemo = field(default_factory=CheckMemo)
    #: id(item.span) → the item's key for `memo` (see `reparse.BlockParser.origins`)
    origins: dict[int, tuple[str, int]] = field(default_factory=dict)
    _index: Index | None = None
    _diagnostics: dict[str, list[Diagnostic]] | None = None

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = build_index(r.file for r in self.results)
        return self._index

    def diagnostics(self) -> dict[str, list[Diagnostic]]:
        """File → its diagnostics (every file of the rule set has an entry)."""
        if self._diagnostics is None:
            with gc_paused():  # as `smartseg check`: the collector walks the whole tree
                found = self.memo.check(self.results, self.origins)
            by_file: dict[str, list[Diagnostic]] = {f: [] for f in self.files}
            for d in self.config.apply(found):
                by_file.setdefault(d.file, []).append(d)
            self._diagnostics = by_file
        return self._diagnostics

    def result(self, path: str) -> ParseResult | None:
        for f, r in zip(self.files, self.results, strict=True):
            if f == path:
                return r
        return None


@dataclass(slots=True)
class _DiskText:
    stamp: tuple[int, int]
    text: str


@dataclass(slots=True)
class RuleSetModel:
    """Open documents, parse results cached by text, analyses cached by their files' state."""

    open_texts: dict[str, str] = field(default_factory=dict)
    #: explicit rule-set folders (the client's `rules` setting); else a file's own folder
    roots: tuple[str, ...] = ()
    _disk: dict[str, _DiskText] = field(default_factory=dict)
    _parsed: dict[str, tuple[str, ParseResult, dict[int, tuple[str, int]]]] = field(
        default_factory=dict
    )
    _parsers: dict[str, BlockParser] = field(default_factory=dict)
    _memos: dict[str, CheckMemo] = field(default_factory=dict)
    _analyses: dict[str, tuple[tuple[object, ...], Analysis]] = field(default_factory=dict)
    _configs: dict[str, tuple[Config, str | None]] = field(default_factory=dict)

    # ------------------------------------------------------------- documents
    def open(self, path: str, text: str) -> None:
        self.open_texts[path] = text

    def change(self, path: str, text: str) -> None:
        self.open_texts[path] = text

    def close(self, path: str) -> None:
        self.open_texts.pop(path, None)

    def forget_disk(self, path: str | None = None) -> None:
        """A file changed on disk (or anything, with None): read it again when needed."""
        if path is None:
            self._disk.clear()
            self._configs.clear()
        else:
            self._disk.pop(path, None)
            if Path(path).name in ("smartseg.toml", "pyproject.toml"):
                self._configs.clear()

    def text(self, path: str) -> str | None:
        """The open text of a file, else its text on disk (None if unreadable)."""
        if path in self.open_texts:
            return self.open_texts[path]
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._disk.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.text
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        if text.startswith("\ufeff"):
            text = text[1:]
        self._disk[path] = _DiskText(stamp, text)
        return text

    # ------------------------------------------------------------- rule sets
    def root_of(self, path: str) -> str:
        """The folder whose `.seg` files form the rule set of this file."""
        best = ""
        for root in self.roots:
            prefix = root.rstrip(os.sep) + os.sep
            if path.startswith(prefix) and len(root) > len(best):
                best = root
        return best or os.path.dirname(path)

    def config_of(self, root: str) -> tuple[Config, str | None]:
        cached = self._configs.get(root)
        if cached is None:
            try:
                cached = (discover_config(root), None)
            except ConfigError as exc:
                cached = (Config(root=Path(root)), str(exc))
            self._configs[root] = cached
        return cached

    def files_of(self, root: str, config: Config) -> list[str]:
        found: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "node_modules"]
            for name in filenames:
                if name.endswith(".seg"):
                    found.add(os.path.join(dirpath, name))
        prefix = root.rstrip(os.sep) + os.sep
        found.update(p for p in self.open_texts if p.startswith(prefix))
        files = [p for p in found if not config.excluded(p)]
        # an open document is always checked, with its rule set, even if excluded
        files += [p for p in self.open_texts if p.startswith(prefix) and p not in files]
        return sorted(files, key=lambda p: Path(p).as_posix())

    def parse(self, path: str) -> ParseResult:
        text = self.text(path)
        if text is None:
            return ParseResult(
                parse_source("", path).file,
                (Diagnostic(path, 1, 1, 1, 1, "error", "SEG107", "cannot read the file"),),
                None,
            )
        return self._parse(path, text)[1]

    def _parse(self, path: str, text: str) -> tuple[str, ParseResult, dict[int, tuple[str, int]]]:
        """The parse of a file's text (cached), with the origins of its items."""
        cached = self._parsed.get(path)
        if cached is not None and cached[0] is text:
            return cached
        if cached is not None and cached[0] == text:
            cached = (text, cached[1], cached[2])
            self._parsed[path] = cached
            return cached
        parser = self._parsers.get(path)
        if parser is None:
            parser = self._parsers[path] = BlockParser(path)
        result = parser.parse(text)
        cached = (text, result, parser.origins)
        self._parsed[path] = cached
        return cached

    def origins(self, paths: Sequence[str]) -> dict[int, tuple[str, int]]:
        found: dict[int, tuple[str, int]] = {}
        for p in paths:
            cached = self._parsed.get(p)
            if cached is not None:
                found.update(cached[2])
        return found

    def analysis(self, path: str) -> Analysis:
        """The current analysis of the rule set that `path` belongs to."""
        root = self.root_of(path)
        config, error = self.config_of(root)
        files = self.files_of(root, config)
        if path not in files:
            files = sorted([*files, path])
        with gc_paused():
            results = tuple(self.parse(f) for f in files)
        key = tuple(id(r) for r in results)
        cached = self._analyses.get(root)
        if cached is not None and cached[0] == key and cached[1].config is config:
            return cached[1]
        memo = self._memos.get(root)
        if memo is None:
            memo = self._memos[root] = CheckMemo()
        analysis = Analysis(root, tuple(files), results, config, error, memo, self.origins(files))
        self._analyses[root] = (key, analysis)
        return analysis

    def analyses_open(self) -> Sequence[Analysis]:
        """One analysis per rule set with an open document."""
        seen: dict[str, Analysis] = {}
        for path in self.open_texts:
            root = self.root_of(path)
            if root not in seen:
                seen[root] = self.analysis(path)
        return list(seen.values())

"""`smartseg lsp`: the language server (pygls) over stdio.

The features live in small modules that know nothing of LSP (`model`, `index`,
`hover`, `completion`, `edits`, `symbols`); this module converts positions
(LSP: 0-based lines, UTF-16 columns; the AST: 1-based lines, columns in
characters) and wires the requests.

Diagnostics are published for every file of the rule set of a changed document,
`delay` seconds after the last change (debounced), at once on open and save.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import ast
from ..diagnostics import CODES, Diagnostic
from ..formatter import FormatError, format_source
from .completion import complete
from .edits import Edit, RenameError, code_actions, rename_edits
from .hover import code_at, code_markdown, hover_text
from .index import NAMED_KINDS, Occurrence
from .model import Analysis, RuleSetModel
from .symbols import Symbol, outline
from .tokens import MODIFIERS, TOKEN_TYPES, encode, semantic_tokens

__all__ = ["SmartsegServer", "create_server"]

#: Seconds between the last keystroke and the check (SMARTSEG_LSP_DELAY overrides).
DEFAULT_DELAY = 0.2

_COMPLETION_KINDS = {
    "segment": types.CompletionItemKind.EnumMember,
    "function": types.CompletionItemKind.Function,
    "value": types.CompletionItemKind.Variable,
    "audience": types.CompletionItemKind.Reference,
    "goal": types.CompletionItemKind.Event,
    "group": types.CompletionItemKind.Class,
    "keyword": types.CompletionItemKind.Keyword,
}
_SYMBOL_KINDS = {
    "group": types.SymbolKind.Class,
    "segment": types.SymbolKind.EnumMember,
    "audience": types.SymbolKind.Variable,
    "goal": types.SymbolKind.Event,
    "experiment": types.SymbolKind.Object,
    "variant": types.SymbolKind.Field,
    "rule": types.SymbolKind.Function,
}


def _utf16(line: str, chars: int) -> int:
    if line.isascii():
        return chars
    return len(line[:chars].encode("utf-16-le")) // 2


def _chars(line: str, units: int) -> int:
    if line.isascii():
        return units
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


class _Lines:
    """The lines of the texts the server converts positions in (cached per text)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, list[str]]] = {}

    def of(self, path: str, text: str | None) -> list[str]:
        if text is None:
            return []
        cached = self._cache.get(path)
        if cached is None or cached[0] is not text:
            cached = (text, text.split("\n"))
            self._cache[path] = cached
        return cached[1]


class SmartsegServer(LanguageServer):
    """The pygls server with smartseg's model of open rule sets."""

    def __init__(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("smartseg")
        except PackageNotFoundError:  # pragma: no cover - a source checkout
            v = "0"
        super().__init__("smartseg", v, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.model = RuleSetModel()
        self.lines = _Lines()
        self.delay = float(os.environ.get("SMARTSEG_LSP_DELAY", DEFAULT_DELAY))
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._published: dict[str, set[str]] = {}
        self._frozen = False

    # ------------------------------------------------------------ positions
    def position(self, path: str, line: int, column: int) -> types.Position:
        """An AST position (1-based, characters) as an LSP position."""
        lines = self.lines.of(path, self.model.text(path))
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return types.Position(max(line - 1, 0), _utf16(text, max(column - 1, 0)))

    def range(self, path: str, line: int, col: int, end_line: int, end_col: int) -> types.Range:
        return types.Range(self.position(path, line, col), self.position(path, end_line, end_col))

    def span_range(self, path: str, span: ast.Span) -> types.Range:
        return self.range(path, span.line, span.column, span.end_line, span.end_column)

    def ast_position(self, path: str, pos: types.Position) -> tuple[int, int]:
        lines = self.lines.of(path, self.model.text(path))
        text = lines[pos.line] if pos.line < len(lines) else ""
        return pos.line + 1, _chars(text, pos.character) + 1

    def line_text(self, path: str, line: int) -> str:
        lines = self.lines.of(path, self.model.text(path))
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def location(self, occ: Occurrence) -> types.Location:
        return types.Location(
            from_fs_path(occ.file) or occ.file, self.span_range(occ.file, occ.span)
        )

    def text_edit(self, edit: Edit) -> types.TextEdit:
        return types.TextEdit(
            self.range(edit.file, edit.line, edit.column, edit.end_line, edit.end_column),
            edit.text,
        )

    def workspace_edit(self, edits: Sequence[Edit]) -> types.WorkspaceEdit:
        changes: dict[str, list[types.TextEdit]] = {}
        for e in edits:
            changes.setdefault(from_fs_path(e.file) or e.file, []).append(self.text_edit(e))
        return types.WorkspaceEdit(changes=changes)

    # ----------------------------------------------------------- diagnostics
    def lsp_diagnostic(self, d: Diagnostic) -> types.Diagnostic:
        info = CODES.get(d.code)
        return types.Diagnostic(
            range=self.range(d.file, d.line, d.column, d.end_line, d.end_column),
            message=d.message + (f"\nhelp: {d.help}" if d.help else ""),
            severity=types.DiagnosticSeverity.Error
            if d.severity == "error"
            else types.DiagnosticSeverity.Warning,
            code=d.code,
            code_description=types.CodeDescription(href=info.docs_url) if info else None,
            source="smartseg",
            data={"help": d.help} if d.help else None,
        )

    def publish(self, analysis: Analysis) -> None:
        by_file = analysis.diagnostics()
        if analysis.config_error:
            self.window_log_message(
                types.LogMessageParams(types.MessageType.Error, analysis.config_error)
            )
        before = self._published.get(analysis.root, set())
        now = set(by_file)
        for path in sorted(now | before):
            uri = from_fs_path(path) or path
            found = [self.lsp_diagnostic(d) for d in by_file.get(path, [])]
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=found)
            )
        self._published[analysis.root] = now

    def schedule(self, path: str, delay: float | None = None) -> None:
        """Check the rule set of `path` after `delay` seconds, unless changed again before."""
        root = self.model.root_of(path)
        pending = self._pending.pop(root, None)
        if pending is not None:
            pending.cancel()
        wait = self.delay if delay is None else delay

        def run() -> None:
            self._pending.pop(root, None)
            if path in self.model.open_texts or os.path.exists(path):
                self.publish(self.model.analysis(path))
                if not self._frozen:
                    freeze_loaded()
                    self._frozen = True

        if wait <= 0:
            run()
        else:
            self._pending[root] = asyncio.get_running_loop().call_later(wait, run)

    # --------------------------------------------------------------- lookups
    def occurrence(self, uri: str, pos: types.Position) -> tuple[Analysis, Occurrence | None]:
        path = _path(uri)
        analysis = self.model.analysis(path)
        line, col = self.ast_position(path, pos)
        return analysis, analysis.index.at(path, line, col)

    def symbol(self, s: Symbol, path: str) -> types.DocumentSymbol:
        return types.DocumentSymbol(
            name=s.name,
            kind=_SYMBOL_KINDS[s.kind],
            detail=s.detail or None,
            range=self.span_range(path, s.span),
            selection_range=self.span_range(path, s.name_span),
            children=[self.symbol(c, path) for c in s.children] or None,
        )


def freeze_loaded() -> None:
    """After the first check: what is loaded by then (pygls, the grammar, the rule set's
    parse and its checker tables) goes to the garbage collector's permanent generation.
    Most of it lives as long as the server, and a full collection would otherwise walk
    all of it again in the middle of a keystroke (≈ 110 ms on a 10,700-line rule set).
    Later garbage is collected as usual; what the first load leaves in cycles is kept."""
    gc.collect()
    gc.freeze()


def _path(uri: str) -> str:
    return os.path.abspath(to_fs_path(uri) or uri)


def create_server() -> SmartsegServer:
    server = SmartsegServer()

    @server.feature(types.INITIALIZED)
    def initialized(ls: SmartsegServer, params: types.InitializedParams) -> None:
        options = ls.initialization_options
        if isinstance(options, dict):
            rules = options.get("rules") or []
            root = ls.workspace.root_path or os.getcwd()
            ls.model.roots = tuple(
                os.path.abspath(os.path.join(root, r)) for r in rules if isinstance(r, str)
            )
            if isinstance(options.get("delay"), int | float):
                ls.delay = float(options["delay"])

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: SmartsegServer, params: types.DidOpenTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        ls.model.open(path, params.text_document.text)
        ls.schedule(path, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: SmartsegServer, params: types.DidChangeTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        ls.model.change(path, doc.source)
        ls.schedule(path)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: SmartsegServer, params: types.DidSaveTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        ls.model.forget_disk(path)
        ls.schedule(path, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: SmartsegServer, params: types.DidCloseTextDocumentParams) -> None:
        path = _path(params.text_document.uri)
        ls.model.close(path)
        ls.model.forget_disk(path)
        if os.path.exists(path):
            ls.schedule(path, 0)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def watched(ls: SmartsegServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            ls.model.forget_disk(_path(change.uri))
        for analysis in ls.model.analyses_open():
            ls.schedule(analysis.files[0] if analysis.files else analysis.root, 0)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SmartsegServer, params: types.HoverParams) -> types.Hover | None:
        path = _path(params.text_document.uri)
        analysis, occ = ls.occurrence(params.text_document.uri, params.position)
        if occ is None:
            line, col = ls.ast_position(path, params.position)
            for comment in analysis.index.comments.get(path, ()):
                if comment.span.line == line:
                    code = code_at(comment, col)
                    if code is not None:
                        return types.Hover(
                            types.MarkupContent(types.MarkupKind.Markdown, code_markdown(code))
                        )
            return None
        texts = {f: ls.model.text(f) for f in analysis.files}
        text = hover_text(analysis.index, occ, texts)
        if text is None:
            return None
        return types.Hover(
            types.MarkupContent(types.MarkupKind.Markdown, text),
            range=ls.span_range(path, occ.span),
        )

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: SmartsegServer, params: types.DefinitionParams) -> list[types.Location]:
        analysis, occ = ls.occurrence(params.text_document.uri, params.position)
        if occ is None or occ.kind not in NAMED_KINDS | {"variant"}:
            return []
        found = analysis.index.definition(occ.kind, occ.name)
        return [ls.location(found)] if found is not None else []

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls: SmartsegServer, params: types.ReferenceParams) -> list[types.Location]:
        analysis, occ = ls.occurrence(params.text_document.uri, params.position)
        if occ is None or occ.kind not in NAMED_KINDS:
            return []
        return [
            ls.location(o)
            for o in analysis.index.references(occ.kind, occ.name)
            if params.context.include_declaration or not o.definition
        ]

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(
        ls: SmartsegServer, params: types.PrepareRenameParams
    ) -> types.PrepareRenamePlaceholder | None:
        _, occ = ls.occurrence(params.text_document.uri, params.position)
        if occ is None or occ.kind not in NAMED_KINDS:
            return None
        return types.PrepareRenamePlaceholder(
            range=ls.span_range(occ.file, occ.span), placeholder=occ.name.rsplit(".", 1)[-1]
        )

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def rename(ls: SmartsegServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        analysis, occ = ls.occurrence(params.text_document.uri, params.position)
        if occ is None:
            return None
        try:
            edits = rename_edits(analysis.index, occ, params.new_name)
        except RenameError as exc:
            from pygls.exceptions import JsonRpcInvalidParams

            raise JsonRpcInvalidParams(str(exc)) from exc
        return ls.workspace_edit(edits)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=["."]),
    )
    def completion(ls: SmartsegServer, params: types.CompletionParams) -> types.CompletionList:
        path = _path(params.text_document.uri)
        analysis = ls.model.analysis(path)
        line, col = ls.ast_position(path, params.position)
        before = ls.line_text(path, line)[: col - 1]
        items = [
            types.CompletionItem(
                label=c.label,
                kind=_COMPLETION_KINDS[c.kind],
                detail=c.detail or None,
                documentation=types.MarkupContent(types.MarkupKind.Markdown, c.documentation)
                if c.documentation
                else None,
                insert_text=c.insert_text,
            )
            for c in complete(analysis.index, before)
        ]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: SmartsegServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        path = _path(params.text_document.uri)
        text = ls.model.text(path)
        if text is None:
            return None
        try:
            formatted = format_source(text, path)
        except FormatError:
            return None  # a file with syntax errors is never formatted
        if formatted == text:
            return []
        lines = text.split("\n")
        end = types.Position(len(lines) - 1, _utf16(lines[-1], len(lines[-1])))
        return [types.TextEdit(types.Range(types.Position(0, 0), end), formatted)]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: SmartsegServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        path = _path(params.text_document.uri)
        out: list[types.CodeAction] = []
        for diag in params.context.diagnostics:
            if diag.source != "smartseg" or not isinstance(diag.code, str):
                continue
            start = ls.ast_position(path, diag.range.start)
            end = ls.ast_position(path, diag.range.end)
            data: Any = diag.data
            help = data.get("help") if isinstance(data, dict) else None
            for action in code_actions(
                path, diag.code, *start, *end, help, ls.line_text(path, start[0])
            ):
                out.append(
                    types.CodeAction(
                        title=action.title,
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diag],
                        is_preferred=action.preferred or None,
                        edit=ls.workspace_edit(action.edits),
                    )
                )
        return out

    legend = types.SemanticTokensLegend(
        token_types=list(TOKEN_TYPES), token_modifiers=list(MODIFIERS)
    )

    def tokens_of(
        ls: SmartsegServer, uri: str, first: int = 1, last: int | None = None
    ) -> types.SemanticTokens:
        path = _path(uri)
        text = ls.model.text(path)
        if text is None:
            return types.SemanticTokens(data=[])
        occurrences = ls.model.analysis(path).index.by_file.get(path, ())
        lines = ls.lines.of(path, text)

        def width(line: int, column: int) -> int:
            return _utf16(lines[line - 1], column - 1)

        found = semantic_tokens(text, occurrences, first, last)
        return types.SemanticTokens(data=encode(found, width))

    @server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, legend)
    def semantic_tokens_full(
        ls: SmartsegServer, params: types.SemanticTokensParams
    ) -> types.SemanticTokens:
        return tokens_of(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, legend)
    def semantic_tokens_range(
        ls: SmartsegServer, params: types.SemanticTokensRangeParams
    ) -> types.SemanticTokens:
        # whole lines of the range (a token never spans lines)
        return tokens_of(ls, params.text_document.uri, params.range.start.line + 1,
                         params.range.end.line + 1)  # fmt: skip

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(
        ls: SmartsegServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        path = _path(params.text_document.uri)
        result = ls.model.parse(path)
        return [ls.symbol(s, path) for s in outline(result.file)]

    return server


def main() -> None:
    """Serve over stdio until the client says exit."""
    create_server().start_io()

"""`smartseg lsp` end to end: the real server, started as `python -m smartseg_dsl.lsp`,
driven over stdio by pytest-lsp's client (pygls), with exact expected answers.

Every test writes a small two-file rule set into its own temporary folder (the rule
set of a document is every `.seg` file of its folder), opens documents, and asks.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as t
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

A = """\
group Industry "Industry" {
    segment Legal "Legal services" {
        explicit tag "lawyer"
        implicit category "law" weight 3 max 12
    }
    segment RealEstate "Real estate" {
        implicit category "property" weight 3
    }
}

audience LegalLead = confidence(Industry.Legal) > 50%

goal Trial "Started a trial" = event "trial_started"
"""

B = """\
when LegalLead show slot legal_banner
when certain(Industry.Legl) show slot headline

experiment Headline "Headline test" {
    when likely(Industry.Legal)
    variant control 50
    variant hours 50 {
        replace slot headline with "Bill every minute"
    }
    goal Trial
}
"""

ENV = {**os.environ, "SMARTSEG_LSP_DELAY": "0.05"}


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "smartseg_dsl.lsp"], server_env=ENV
    ),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    await lsp_client.initialize_session(
        t.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.seg").write_text(A, encoding="utf-8")
    (folder / "b.seg").write_text(B, encoding="utf-8")
    return folder


def uri(path: Path) -> str:
    return from_fs_path(str(path)) or str(path)


_versions: dict[str, int] = {}


def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    u = uri(path)
    _versions[u] = 1
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            t.TextDocumentItem(u, "seg", 1, path.read_text() if text is None else text)
        )
    )
    return u


def change_doc(client: LanguageClient, u: str, text: str) -> None:
    _versions[u] = _versions.get(u, 1) + 1
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(version=_versions[u], uri=u),
            [t.TextDocumentContentChangeWholeDocument(text)],
        )
    )


async def diagnostics_until(
    client: LanguageClient, u: str, wanted: object, timeout: float = 10.0
) -> list[tuple[int, int, int, int, str, str]]:
    """Wait until the diagnostics of `u`, as tuples, equal `wanted`; return them."""

    async def wait() -> list[tuple[int, int, int, int, str, str]]:
        while True:
            found = simple(client.diagnostics.get(u))
            if found == wanted:
                return found
            await client.wait_for_notification("textDocument/publishDiagnostics")

    try:
        return await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        return simple(client.diagnostics.get(u))


def simple(diags: list[t.Diagnostic] | None) -> list[tuple[int, int, int, int, str, str]]:
    if diags is None:
        return []
    return [
        (
            d.range.start.line,
            d.range.start.character,
            d.range.end.line,
            d.range.end.character,
            str(d.code),
            d.message,
        )
        for d in diags
    ]


def pos(line: int, character: int) -> t.Position:
    return t.Position(line, character)


LEGL = (
    1,
    13,
    1,
    26,
    "SEG201",
    "unknown segment `Industry.Legl`\nhelp: did you mean `Industry.Legal`?",
)


# ---------------------------------------------------------------- diagnostics


@pytest.mark.asyncio
async def test_diagnostics_on_open_for_every_file_of_the_rule_set(
    client: LanguageClient, rules: Path
) -> None:
    u = open_doc(client, rules / "b.seg")
    assert await diagnostics_until(client, u, [LEGL]) == [LEGL]
    assert simple(client.diagnostics.get(uri(rules / "a.seg"))) == []
    d = client.diagnostics[u][0]
    assert d.severity == t.DiagnosticSeverity.Error
    assert d.source == "smartseg"
    assert d.code_description is not None
    assert d.code_description.href.endswith("/docs/codes/SEG201.md")


@pytest.mark.asyncio
async def test_a_rename_in_one_file_updates_the_other(client: LanguageClient, rules: Path) -> None:
    ua = open_doc(client, rules / "a.seg")
    ub = uri(rules / "b.seg")
    assert await diagnostics_until(client, ub, [LEGL]) == [LEGL]
    # typed in a.seg: the segment Legl now exists, Legal no longer does
    change_doc(client, ua, A.replace("segment Legal ", "segment Legl "))
    wanted_a = [
        (
            10,
            32,
            10,
            46,
            "SEG201",
            "unknown segment `Industry.Legal`\nhelp: did you mean `Industry.Legl`?",
        )
    ]
    assert await diagnostics_until(client, ua, wanted_a) == wanted_a
    wanted_b = [
        (
            4,
            16,
            4,
            30,
            "SEG201",
            "unknown segment `Industry.Legal`\nhelp: did you mean `Industry.Legl`?",
        )
    ]
    assert await diagnostics_until(client, ub, wanted_b) == wanted_b


@pytest.mark.asyncio
async def test_debounced_changes_end_in_the_last_state(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "b.seg")
    await diagnostics_until(client, u, [LEGL])
    for i in range(5):  # five keystrokes faster than the delay
        change_doc(client, u, B.replace("Legl", "Leg" + "al"[: i % 2]))
    change_doc(client, u, B.replace("Legl", "Legal"))
    assert await diagnostics_until(client, u, []) == []


@pytest.mark.asyncio
async def test_name_error_beside_a_syntax_error(client: LanguageClient, rules: Path) -> None:
    text = B + "when visits = 3 show slot x\n"
    u = open_doc(client, rules / "b.seg", text)
    wanted = [
        LEGL,
        (
            11,
            12,
            11,
            13,
            "SEG101",
            "`=` is not a comparison\nhelp: write `==` to compare (a single `=` only "
            "names an audience)",
        ),
    ]
    assert await diagnostics_until(client, u, wanted) == wanted


# ---------------------------------------------------------------------- hover


async def hover(client: LanguageClient, u: str, line: int, character: int) -> str | None:
    h = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(u), pos(line, character))
    )
    if h is None:
        return None
    assert isinstance(h.contents, t.MarkupContent)
    return h.contents.value


@pytest.mark.asyncio
async def test_hover(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "b.seg")
    # the segment of `likely(Industry.Legal)`: label and signals with weights
    assert await hover(client, u, 4, 27) == (
        '**segment Industry.Legal** "Legal services"\n\n'
        "```seg\n"
        'explicit tag "lawyer"\n'
        'implicit category "law" weight 3 max 12\n'
        "```"
    )
    # the group
    assert await hover(client, u, 4, 16) == (
        '**group Industry** "Industry"\n\n- `Legal` — Legal services\n- `RealEstate` — Real estate'
    )
    # an audience
    assert await hover(client, u, 0, 7) == (
        "```seg\naudience LegalLead = confidence(Industry.Legal) > 50%\n```"
    )
    # a goal
    assert await hover(client, u, 9, 10) == (
        '```seg\ngoal Trial "Started a trial" = event "trial_started"\n```'
    )
    # a function
    assert await hover(client, u, 1, 7) == (
        "```\ncertain(Group.Segment) → a condition (true or false)\n```\n\n"
        "True when the visitor told us (an explicit signal or a survey answer).\n\n"
        "Example: `certain(Industry.Legal)`"
    )
    # an experiment, at its definition
    text = await hover(client, u, 3, 13)
    assert text is not None
    assert text.startswith('```seg\nexperiment Headline "Headline test" {\n    when likely(')
    assert text.endswith("    goal Trial\n}\n```")
    # nothing
    assert await hover(client, u, 0, 20) is None


@pytest.mark.asyncio
async def test_hover_on_a_code_in_an_ignore_comment(client: LanguageClient, rules: Path) -> None:
    text = "# smartseg: ignore[SEG406]\naudience Unused = visits > 3\n"
    u = open_doc(client, rules / "c.seg", text)
    found = await hover(client, u, 0, 21)
    assert found == (
        "**SEG406** `unused-audience` (warning)\n\n"
        "An audience that no rule or other audience uses.\n\n"
        + _explanation("SEG406")
        + "\n\n[Documentation](https://github.com/smartseg/smartseg/blob/main/docs/codes/SEG406.md)"
    )


def _explanation(code: str) -> str:
    from smartseg_dsl.diagnostics import CODES

    return CODES[code].explanation


# ------------------------------------------------------ definition, references


@pytest.mark.asyncio
async def test_definition_across_files(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "b.seg")
    a = uri(rules / "a.seg")

    async def where(line: int, character: int) -> list[tuple[str, int, int, int, int]]:
        found = await client.text_document_definition_async(
            t.DefinitionParams(t.TextDocumentIdentifier(u), pos(line, character))
        )
        assert isinstance(found, list)
        return [
            (
                x.uri,
                x.range.start.line,
                x.range.start.character,
                x.range.end.line,
                x.range.end.character,
            )
            for x in found
            if isinstance(x, t.Location)
        ]

    assert await where(0, 8) == [(a, 10, 9, 10, 18)]  # audience LegalLead
    assert await where(4, 27) == [(a, 1, 12, 1, 17)]  # segment Legal
    assert await where(4, 18) == [(a, 0, 6, 0, 14)]  # group Industry
    assert await where(9, 9) == [(a, 12, 5, 12, 10)]  # goal Trial
    assert await where(1, 24) == []  # the misspelt segment has no definition
    assert await where(0, 30) == []  # a slot is not a name


async def references(
    client: LanguageClient, u: str, line: int, character: int, *, declaration: bool
) -> list[tuple[str, int, int]]:
    """(uri, line, character) of each reference to the name at (line, character), sorted."""
    found = await client.text_document_references_async(
        t.ReferenceParams(
            context=t.ReferenceContext(include_declaration=declaration),
            text_document=t.TextDocumentIdentifier(u),
            position=pos(line, character),
        )
    )
    assert found is not None
    return sorted((x.uri, x.range.start.line, x.range.start.character) for x in found)


async def rename(
    client: LanguageClient, u: str, line: int, character: int, new: str
) -> dict[str, list[t.TextEdit]]:
    """The edits, by document, that rename the name at (line, character) to `new`."""
    edit = await client.text_document_rename_async(
        t.RenameParams(t.TextDocumentIdentifier(u), pos(line, character), new)
    )
    assert edit is not None and edit.changes is not None
    return edit.changes


@pytest.mark.asyncio
async def test_references(client: LanguageClient, rules: Path) -> None:
    ua = open_doc(client, rules / "a.seg")
    ub = uri(rules / "b.seg")
    assert await references(client, ua, 1, 14, declaration=True) == sorted(
        [(ua, 1, 12), (ua, 10, 41), (ub, 4, 25)]
    )
    assert await references(client, ua, 0, 8, declaration=False) == sorted(
        [(ua, 10, 32), (ub, 1, 13), (ub, 4, 16)]
    )


@pytest.mark.asyncio
async def test_rename_a_segment_across_files(client: LanguageClient, rules: Path) -> None:
    ua = open_doc(client, rules / "a.seg")
    ub = uri(rules / "b.seg")
    prepared = await client.text_document_prepare_rename_async(
        t.PrepareRenameParams(t.TextDocumentIdentifier(ua), pos(1, 14))
    )
    assert isinstance(prepared, t.PrepareRenamePlaceholder)
    assert prepared.placeholder == "Legal"
    changes = await rename(client, ua, 1, 14, "Lawyer")
    got = {
        u: sorted((e.range.start.line, e.range.start.character, e.new_text) for e in edits)
        for u, edits in changes.items()
    }
    assert got == {ua: [(1, 12, "Lawyer"), (10, 41, "Lawyer")], ub: [(4, 25, "Lawyer")]}


@pytest.mark.asyncio
async def test_rename_an_audience_and_a_goal(client: LanguageClient, rules: Path) -> None:
    ub = open_doc(client, rules / "b.seg")
    ua = uri(rules / "a.seg")
    changes = await rename(client, ub, 0, 6, "LawFirm")
    assert {u: [(e.range.start.line, e.new_text) for e in v] for u, v in changes.items()} == {
        ua: [(10, "LawFirm")],
        ub: [(0, "LawFirm")],
    }
    changes = await rename(client, ub, 9, 9, "Signup")
    assert {u: [(e.range.start.line, e.new_text) for e in v] for u, v in changes.items()} == {
        ua: [(12, "Signup")],
        ub: [(9, "Signup")],
    }


@pytest.mark.asyncio
async def test_rename_refuses_a_keyword_or_a_taken_name(
    client: LanguageClient, rules: Path
) -> None:
    ua = open_doc(client, rules / "a.seg")
    for new in ("visits", "RealEstate", "2x"):
        with pytest.raises(Exception) as caught:
            await rename(client, ua, 1, 14, new)
        assert new in str(caught.value)


# ----------------------------------------------------------------- completion


async def completions(
    client: LanguageClient, u: str, line: int, character: int
) -> list[t.CompletionItem]:
    found = await client.text_document_completion_async(
        t.CompletionParams(t.TextDocumentIdentifier(u), pos(line, character))
    )
    assert isinstance(found, t.CompletionList)
    return found.items


async def labels(client: LanguageClient, u: str, line: int, character: int) -> list[str]:
    return [i.label for i in await completions(client, u, line, character)]


@pytest.mark.asyncio
async def test_completion_of_a_group_member(client: LanguageClient, rules: Path) -> None:
    text = B + "when confidence(Industry.\n"
    u = open_doc(client, rules / "b.seg", text)
    assert await labels(client, u, 11, 25) == ["Legal", "RealEstate"]
    assert await labels(client, u, 11, 17) != []  # `when confidence(In`: everything


@pytest.mark.asyncio
async def test_completion_of_functions_names_and_keywords(
    client: LanguageClient, rules: Path
) -> None:
    text = B + "when \n"
    u = open_doc(client, rules / "b.seg", text)
    items = {i.label: i for i in await completions(client, u, 11, 5)}
    assert items["confidence"].detail == "confidence(Group.Segment) → a number"
    assert items["confidence"].kind == t.CompletionItemKind.Function
    assert items["count"].detail == "count(matcher [within D]) → a number"
    assert items["LegalLead"].kind == t.CompletionItemKind.Reference
    assert items["Trial"].kind == t.CompletionItemKind.Event
    assert items["Industry"].kind == t.CompletionItemKind.Class
    assert items["visits"].kind == t.CompletionItemKind.Variable
    for keyword in ("when", "and", "experiment", "variant", "traffic", "holdout"):
        assert items[keyword].kind == t.CompletionItemKind.Keyword
    assert "Legal" not in items  # a segment only after its group


# ---------------------------------------------------------- format, actions


async def formatting(client: LanguageClient, u: str) -> list[t.TextEdit] | None:
    return await client.text_document_formatting_async(
        t.DocumentFormattingParams(t.TextDocumentIdentifier(u), t.FormattingOptions(4, True))
    )


@pytest.mark.asyncio
async def test_formatting(client: LanguageClient, rules: Path) -> None:
    text = "when   visits>3    show slot a\naudience  X=visits>2 and(pageviews>1)\n"
    u = open_doc(client, rules / "c.seg", text)
    edits = await formatting(client, u)
    assert edits is not None and len(edits) == 1
    assert edits[0].range == t.Range(pos(0, 0), pos(2, 0))
    assert edits[0].new_text == (
        "when visits > 3 show slot a\naudience X = visits > 2 and pageviews > 1\n"
    )
    # canonical already: nothing to do; broken: never formatted
    u2 = open_doc(client, rules / "d.seg", "when visits > 3 show slot a\n")
    same = await formatting(client, u2)
    assert same is not None and list(same) == []
    u3 = open_doc(client, rules / "e.seg", "when visits = 3 show slot a\n")
    broken = await formatting(client, u3)
    assert broken is None


@pytest.mark.asyncio
async def test_code_actions(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "b.seg")
    await diagnostics_until(client, u, [LEGL])
    diag = client.diagnostics[u][0]
    actions = await client.text_document_code_action_async(
        t.CodeActionParams(
            t.TextDocumentIdentifier(u), diag.range, t.CodeActionContext(diagnostics=[diag])
        )
    )
    assert actions is not None
    got = []
    for a in actions:
        assert isinstance(a, t.CodeAction)
        assert a.edit is not None and a.edit.changes is not None
        (edit,) = a.edit.changes[u]
        got.append(
            (
                a.title,
                a.is_preferred,
                (edit.range.start.line, edit.range.start.character),
                (edit.range.end.line, edit.range.end.character),
                edit.new_text,
            )
        )
    # SEG201 is an error of class 2: it can be silenced too
    assert got == [
        ("Replace with `Industry.Legal`", True, (1, 13), (1, 26), "Industry.Legal"),
        (
            "Ignore SEG201 on this line (# smartseg: ignore[SEG201])",
            None,
            (1, 0),
            (1, 0),
            "# smartseg: ignore[SEG201]\n",
        ),
    ]


@pytest.mark.asyncio
async def test_document_symbols(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "a.seg")
    found = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(t.TextDocumentIdentifier(u))
    )
    assert found is not None

    def tree(symbols: list) -> list:  # type: ignore[type-arg]
        return [
            (s.name, s.kind, s.detail, s.range.start.line, tree(s.children or [])) for s in symbols
        ]

    assert tree(found) == [
        (
            "Industry",
            t.SymbolKind.Class,
            "Industry",
            0,
            [
                ("Legal", t.SymbolKind.EnumMember, "Legal services", 1, []),
                ("RealEstate", t.SymbolKind.EnumMember, "Real estate", 5, []),
            ],
        ),
        ("LegalLead", t.SymbolKind.Variable, "confidence(Industry.Legal) > 50%", 10, []),
        ("Trial", t.SymbolKind.Event, "Started a trial", 12, []),
    ]


# -------------------------------------------------------------- semantic tokens

TOKENS_DOC = """\
# smartseg: ignore[SEG406]
when LegalLead and visits >= 2 show slot legal_banner
experiment X "𝄞" {
    variant a 1
}
"""


def decode(data: list[int], legend: t.SemanticTokensLegend) -> list[tuple[int, int, int, str, str]]:
    """(line, UTF-16 start, length, type, modifiers) from LSP's relative encoding."""
    out, line, col = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, mods = data[i : i + 5]
        line, col = line + dl, (col + dc if dl == 0 else dc)
        names = [m for b, m in enumerate(legend.token_modifiers) if mods & (1 << b)]
        out.append((line, col, length, legend.token_types[kind], ",".join(names)))
    return out


async def semantic_tokens(client: LanguageClient, u: str) -> list[int]:
    found = await client.text_document_semantic_tokens_full_async(
        t.SemanticTokensParams(t.TextDocumentIdentifier(u))
    )
    assert found is not None
    return list(found.data)


@pytest.mark.asyncio
async def test_semantic_tokens(client: LanguageClient, rules: Path) -> None:
    path = rules / "c.seg"
    path.write_text(TOKENS_DOC, encoding="utf-8")
    u = open_doc(client, path)
    assert await semantic_tokens(client, u) == [
        0, 0, 26, 10, 0,  # the comment
        1, 0, 4, 0, 0,  # when
        0, 5, 9, 3, 0,  # LegalLead: an audience (defined in a.seg)
        0, 10, 3, 0, 0,  # and
        0, 4, 6, 3, 2,  # visits: a built-in value
        0, 7, 2, 11, 0,  # >=
        0, 3, 1, 9, 0,  # 2
        0, 2, 4, 0, 0,  # show
        0, 5, 4, 0, 0,  # slot
        0, 5, 12, 6, 0,  # legal_banner: a slot
        1, 0, 10, 0, 0,  # experiment
        0, 11, 1, 5, 1,  # X: an experiment, defined here
        0, 2, 4, 8, 0,  # "𝄞": 3 characters, 4 UTF-16 units
        1, 4, 7, 0, 0,  # variant
        0, 8, 1, 2, 1,  # a: a variant, defined here
        0, 2, 1, 9, 0,  # 1
    ]  # fmt: skip
    result = await client.text_document_semantic_tokens_range_async(
        t.SemanticTokensRangeParams(t.TextDocumentIdentifier(u), t.Range(pos(2, 0), pos(2, 5)))
    )
    assert result is not None
    assert list(result.data) == [2, 0, 10, 0, 0, 0, 11, 1, 5, 1, 0, 2, 4, 8, 0]


@pytest.mark.asyncio
async def test_semantic_tokens_legend_and_kinds(client: LanguageClient, rules: Path) -> None:
    u = open_doc(client, rules / "a.seg")
    data = await semantic_tokens(client, u)
    legend = t.SemanticTokensLegend(
        token_types=[
            "keyword", "namespace", "enumMember", "variable", "event", "class", "property",
            "function", "string", "number", "comment", "operator",
        ],
        token_modifiers=["declaration", "defaultLibrary"],
    )  # fmt: skip
    tokens = decode(data, legend)
    assert tokens[:9] == [
        (0, 0, 5, "keyword", ""),
        (0, 6, 8, "namespace", "declaration"),
        (0, 15, 10, "string", ""),
        (1, 4, 7, "keyword", ""),
        (1, 12, 5, "enumMember", "declaration"),
        (1, 18, 16, "string", ""),
        (2, 8, 8, "keyword", ""),
        (2, 17, 3, "keyword", ""),
        (2, 21, 8, "string", ""),
    ]
    # audience LegalLead = confidence(Industry.Legal) > 50%
    assert [x for x in tokens if x[0] == 10] == [
        (10, 0, 8, "keyword", ""),
        (10, 9, 9, "variable", "declaration"),
        (10, 19, 1, "operator", ""),
        (10, 21, 10, "function", "defaultLibrary"),
        (10, 32, 8, "namespace", ""),
        (10, 41, 5, "enumMember", ""),
        (10, 48, 1, "operator", ""),
        (10, 50, 3, "number", ""),
    ]


# ----------------------------------------------------------------- the command


def test_without_pygls_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from smartseg_dsl.cli import main

    monkeypatch.setitem(sys.modules, "pygls", None)  # `import pygls` raises ImportError
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 2
    assert "pip install 'smartseg[lsp]'" in result.output


def test_the_command_is_listed() -> None:
    from click.testing import CliRunner

    from smartseg_dsl.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert "lsp  " in result.output and "language server" in result.output

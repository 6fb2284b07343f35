"""The `.seg` language server (`smartseg lsp`, docs/editors.md).

`server.py` wires pygls; every feature is a small module of its own that knows
nothing of LSP: `model` (the open rule sets), `index` (names and their spans),
`hover`, `completion`, `edits` (rename, quick fixes), `symbols` (the outline).
pygls is an optional dependency: `pip install 'smartseg[lsp]'`.
"""

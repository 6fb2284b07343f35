"""`python -m smartseg_dsl.lsp`: the language server over stdio (as `smartseg lsp`)."""

from smartseg_dsl.lsp.server import main

main()

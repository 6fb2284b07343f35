// The smartseg extension: starts `smartseg lsp` (the language server of the smartseg
// Python package) and talks to it over stdio. Highlighting is the TextMate grammar
// in syntaxes/; everything else (diagnostics, hover, completion, rename, formatting,
// quick fixes, outline) comes from the server.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("smartseg");
  const [command, ...args] = config.get("server.command", ["smartseg", "lsp"]);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "seg" }],
    initializationOptions: { rules: config.get("rules", []) },
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher(
        "**/{*.seg,smartseg.toml,pyproject.toml}"
      ),
    },
  };
  client = new LanguageClient("smartseg", "smartseg", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

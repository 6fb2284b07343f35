"""The `smartseg` command line: one module per sub-command, imported lazily.

Lazy loading keeps `smartseg check` fast to start (no Starlette, httpx or
uvicorn import unless the command needs it).
"""

from __future__ import annotations

import importlib

import click

#: command name → (module, attribute). Each module defines one click command.
_COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("smartseg_dsl.cli.check", "check_command"),
    "fmt": ("smartseg_dsl.cli.fmt", "fmt_command"),
    "simulate": ("smartseg_dsl.cli.simulate", "simulate_command"),
    "test": ("smartseg_dsl.cli.journey_test", "test_command"),
    "sync": ("smartseg_dsl.cli.sync", "sync_command"),
    "link": ("smartseg_dsl.cli.link", "link_command"),
    "demo": ("smartseg_dsl.cli.demo", "demo_command"),
    "report": ("smartseg_dsl.cli.report", "report_command"),
    "events": ("smartseg_dsl.cli.events", "events_group"),
    "inbound": ("smartseg_dsl.cli.inbound", "inbound_command"),
    "lsp": ("smartseg_dsl.cli.lsp", "lsp_command"),
}

_HELP = {
    "check": "Parse and check rule files.",
    "fmt": "Rewrite rule files in canonical layout.",
    "simulate": "Play a visitor journey and show what the rules decide.",
    "test": "Play journeys with expectations and report pass/fail.",
    "sync": "Deliver the CRM outbox.",
    "link": "Print a signed e-mail or preview link.",
    "demo": "Run the example site on http://127.0.0.1:8000.",
    "report": "The measurement report: goals, holdout and experiments.",
    "events": "Export recorded measurement events as JSON lines.",
    "inbound": "Store inbound tags, events and attributes from JSON-lines files.",
    "lsp": "Run the language server for editors (stdio).",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None  # not built yet in this checkout
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in _COMMANDS])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smartseg", prog_name="smartseg")
def main() -> None:
    """smartseg: segment visitors and personalize pages with .seg rules."""

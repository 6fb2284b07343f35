"""The framework examples (examples/): their shared rules pass `smartseg check --strict`,
and examples/README.md gives every app's one command. The apps themselves are run by
tests/test_frameworks_*.py."""

from __future__ import annotations

from pathlib import Path

from smartseg_dsl.loader import check_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

COMMANDS = {
    "fastapi_app": "uvicorn examples.fastapi_app.app:app",
    "django_app": "uvicorn examples.django_app.asgi:application",
    "litestar_app": "uvicorn examples.litestar_app.app:app",
    "quart_app": "uvicorn examples.quart_app.app:app",
}


def test_the_examples_rules_pass_the_strict_check() -> None:
    result = check_paths([EXAMPLES / "rules"])
    assert not result.errors and not result.warnings, result.diagnostics


def test_every_example_app_has_its_command_in_the_readme() -> None:
    apps = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name.endswith("_app"))
    assert apps == sorted(COMMANDS)
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "frameworks.md").read_text(encoding="utf-8")
    for command in COMMANDS.values():
        assert command in readme
        assert command in docs

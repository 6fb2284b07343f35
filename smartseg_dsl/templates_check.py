"""Do the templates that rules name (`replace slot s with template "t"`) exist?

The language checker cannot know: the templates belong to the site. Two callers ask:

* `smartseg check --templates DIR` checks the parsed rule set against a folder, with
  the diagnostic's range on the template's name (SEG208, suppressible as any other);
* the middleware checks the compiled rule set against the Jinja environment it was
  given, at start-up (a missing template refuses to start the app, SEG208 again, so
  the log reads like `smartseg check`).

A template "cannot be loaded" when the environment does not find it *or* it does not
compile (a Jinja syntax error): either way, every page that needs it would lose the
slot's personalization.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from . import ast
from .diagnostics import Diagnostic

if TYPE_CHECKING:
    from .compiler import CompiledRuleSet

__all__ = [
    "BROKEN_HELP",
    "CODE",
    "NOT_FOUND_HELP",
    "check_compiled_templates",
    "check_templates",
    "describe_loader",
    "folder_environment",
    "template_problem",
]

CODE = "SEG208"
PACKAGE_TEMPLATES = Path(__file__).parent / "templates"


def folder_environment(folders: Sequence[str | os.PathLike[str]]) -> jinja2.Environment:
    """The environment `smartseg check --templates` uses: the folders, then smartseg's
    own templates (as the middleware's overlay does)."""
    searchpath = [str(f) for f in folders] + [str(PACKAGE_TEMPLATES)]
    return jinja2.Environment(loader=jinja2.FileSystemLoader(searchpath), autoescape=True)


def describe_loader(loader: jinja2.BaseLoader | None) -> str:
    """Where a loader looks, in words: folders, package paths or the loader's class."""
    if loader is None:
        return "no loader"
    if isinstance(loader, jinja2.ChoiceLoader):
        return ", then ".join(describe_loader(sub) for sub in loader.loaders)
    if isinstance(loader, jinja2.FileSystemLoader):
        return (
            ", ".join(
                str(p).rstrip("/") + "/"
                for p in loader.searchpath
                if Path(p).resolve() != PACKAGE_TEMPLATES.resolve()
            )
            or "smartseg's own templates"
        )
    if isinstance(loader, jinja2.PackageLoader):
        return f"package {loader.package_name}/{loader.package_path}"
    if isinstance(loader, jinja2.DictLoader):
        return f"a DictLoader of {len(loader.mapping)} template(s)"
    return type(loader).__name__


NOT_FOUND_HELP = "create the template, or fix its name (it is relative to the template folders)"
BROKEN_HELP = "fix the template: it must compile for any page to use it"


def template_problem(env: jinja2.Environment, name: str) -> tuple[str, str] | None:
    """Why `name` cannot be loaded from `env`, and a fix: (message, help); None: it can."""
    try:
        env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        missing = f" (it includes `{exc.name}`)" if exc.name and exc.name != name else ""
        return (
            f"template `{name}` not found{missing}; looked in {describe_loader(env.loader)}",
            NOT_FOUND_HELP,
        )
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or name}:{exc.lineno}"
        return f"template `{name}` does not compile: {where}: {exc.message}", BROKEN_HELP
    except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
        return f"template `{name}` cannot be loaded: {type(exc).__name__}: {exc}", BROKEN_HELP
    return None


def check_templates(ruleset: ast.RuleSet, env: jinja2.Environment) -> list[Diagnostic]:
    """SEG208 for every `with template` the environment cannot load (suppressions
    applied), on the template's name."""
    from .checker import apply_suppressions

    found: list[Diagnostic] = []
    cache: dict[str, tuple[str, str] | None] = {}
    for file in ruleset.files:
        for action in _template_actions(file.items):
            name = action.template.value
            if name not in cache:
                cache[name] = template_problem(env, name)
            problem = cache[name]
            if problem is not None:
                message, help = problem
                found.append(
                    Diagnostic.at(file.path, action.template.span, CODE, message, help=help)
                )
    return apply_suppressions(found, ruleset)


def _template_actions(items: Iterable[object]) -> Iterable[ast.ReplaceTemplate]:
    for item in items:
        if isinstance(item, ast.Rule):
            for action in item.actions:
                if isinstance(action, ast.ReplaceTemplate):
                    yield action


def check_compiled_templates(
    compiled: CompiledRuleSet, env: jinja2.Environment, *, not_found_help: str = NOT_FOUND_HELP
) -> list[Diagnostic]:
    """SEG208 for every template decision of a compiled rule set that `env` cannot load.

    A compiled rule knows its `file:line`; the column is found by looking for the
    quoted name in the file (column 1 when the file cannot be read)."""
    found: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for rule in compiled.rules:
        for decision in rule.decisions:
            if decision.kind != "template" or decision.template is None:
                continue
            if (rule.where, decision.template) in seen:
                continue
            seen.add((rule.where, decision.template))
            problem = template_problem(env, decision.template)
            if problem is None:
                continue
            message, help = problem
            if help == NOT_FOUND_HELP:
                help = not_found_help
            file, _, line_text = rule.where.rpartition(":")
            line = int(line_text) if line_text.isdigit() else 1
            line, column, end = _locate(file, line, decision.template)
            found.append(Diagnostic(file, line, column, line, end, "error", CODE, message, help))
    return sorted(found, key=Diagnostic.sort_key)


def _locate(file: str, line: int, name: str) -> tuple[int, int, int]:
    """(line, column, end column) of `"name"` at or after `line` in `file`."""
    import json

    quoted = json.dumps(name, ensure_ascii=False)
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return line, 1, 2
    for number in range(max(line, 1), min(len(lines), line + 200) + 1):
        at = lines[number - 1].find(quoted)
        if at >= 0:
            return number, at + 1, at + 1 + len(quoted)
    return line, 1, 2

"""`smartseg link URL --tag T…`: print a signed e-mail link (SPEC §4), or with
`--preview Group.Segment` a signed preview link (SPEC §3.7).

The signing key comes from `--secret-key` (repeatable, oldest first: the last one signs,
as the middleware's `secret_key` list) or else `SMARTSEG_SECRET_KEY` (comma-separated,
oldest first). It must be the site's `secret_key`, or the site will ignore the link.
A preview's segment is checked against the site's rules: `--rules DIR` (default `rules/`
when it exists), so a typo fails here with a suggestion rather than later on the server
("no such segment").
Exit status: 0 printed, 1 bad input (tag, URL, duration, segment, rules with errors),
2 usage error.
"""

from __future__ import annotations

import os

import click

from smartseg_dsl.links import (
    LinkError,
    check_segment,
    make_link,
    make_preview_link,
    parse_duration,
)

DEFAULT_RULES = "rules/"


def _segments(rules: str | None) -> list[str] | None:
    """The `Group.Segment` names of the rules (None: no rules to check against)."""
    from smartseg_dsl.loader import PathError, RuleSetError, check_paths, load_ruleset

    if rules is None:
        if not os.path.isdir(DEFAULT_RULES):
            click.echo(
                "smartseg link: warning: no --rules given and no rules/ here: "
                "the preview segment is not checked",
                err=True,
            )
            return None
        rules = DEFAULT_RULES
    try:
        check_paths([rules])
    except PathError as exc:
        raise click.UsageError(f"--rules: {exc}") from None
    try:
        compiled = load_ruleset(rules)
    except RuleSetError:
        click.echo(
            f"smartseg link: error: the rules in {rules} have errors; run `smartseg check {rules}`",
            err=True,
        )
        raise SystemExit(1) from None
    return list(compiled.segment_index)


@click.command("link")
@click.argument("url")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag to give (repeatable).")
@click.option(
    "--secret-key",
    "secret_keys",
    multiple=True,
    metavar="KEY",
    help="The site's secret key (repeatable, oldest first). Default: $SMARTSEG_SECRET_KEY.",
)
@click.option(
    "--expires",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="How long the link works: 30m, 24h, 30d, 2w…",
)
@click.option(
    "--preview",
    metavar="GROUP.SEGMENT",
    help="Make a preview link rendering the page as a visitor certain of this segment.",
)
@click.option(
    "--rules",
    metavar="DIR",
    help="The site's rules, to check the --preview segment. Default: rules/ when it exists.",
)
def link_command(
    url: str,
    tags: tuple[str, ...],
    secret_keys: tuple[str, ...],
    expires: str,
    preview: str | None,
    rules: str | None,
) -> None:
    """Print URL with a signed parameter that gives the visitor TAGs (an e-mail link)."""
    keys = list(secret_keys) or [
        key.strip() for key in os.environ.get("SMARTSEG_SECRET_KEY", "").split(",") if key.strip()
    ]
    if not keys:
        raise click.UsageError(
            "no secret key: pass --secret-key or set SMARTSEG_SECRET_KEY to the site's key"
        )
    if not tags and not preview:
        raise click.UsageError("give at least one --tag (or --preview GROUP.SEGMENT)")
    try:
        lifetime = parse_duration(expires)
        link = url
        if tags:
            link = make_link(link, tags, keys, lifetime)
        if preview:
            link = make_preview_link(link, preview, keys, lifetime)
            known = _segments(rules)
            if known is not None:
                check_segment(preview, known)
    except LinkError as exc:
        click.echo(f"smartseg link: error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(link)

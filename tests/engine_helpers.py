"""Helpers for the engine tests: compile rule text, and a scripted visitor.

`rules_from(text)` writes the text to a temporary `.seg` file and loads it with
the real loader (parse + check + compile), so every rule set used in a test
is one the checker accepts. `Visitor` plays requests one by one through the
engine AND the real cookie codec (like a browser keeping the cookie), so
every formula test also exercises the encoding.
"""

from __future__ import annotations

import functools
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smartseg_dsl.compiler import CompiledRuleSet
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.engine import Answer, Engine, Outcome, RequestInfo
from smartseg_dsl.loader import load_ruleset
from smartseg_dsl.state import VisitorState

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
KEY = "test-key"

_TMP = Path(tempfile.mkdtemp(prefix="smartseg-engine-tests-"))


@functools.cache
def rules_from(text: str) -> CompiledRuleSet:
    source = textwrap.dedent(text)
    path = _TMP / f"r{abs(hash(source))}.seg"
    path.write_text(source, encoding="utf-8")
    return load_ruleset(path)


def demo_rules() -> CompiledRuleSet:
    return load_ruleset(Path(__file__).resolve().parent.parent / "rules")


class Visitor:
    """One browser: keeps the cookie between requests, and a clock."""

    def __init__(self, rules: CompiledRuleSet, *, start: float = T0, roundtrip: bool = True):
        self.rules = rules
        self.engine = Engine(rules)
        self.codec = CookieCodec(rules, KEY)
        self.now = float(start)
        self.cookie: str | None = None
        self.state: VisitorState | None = None
        self.roundtrip = roundtrip
        self.last: Outcome | None = None

    def wait(self, seconds: float) -> Visitor:
        self.now += seconds
        return self

    def request(self, **kwargs: Any) -> Outcome:
        if self.roundtrip:
            state = None
            if self.cookie is not None:
                state, reason = self.codec.loads(self.cookie, self.now)
                assert state is not None, reason
        else:
            state = self.state
        outcome = self.engine.step(state, RequestInfo(time=self.now, **kwargs))
        if outcome.changed:
            self.state = outcome.state
            self.cookie = self.codec.dumps(outcome.state)
        self.last = outcome
        return outcome

    def page(
        self,
        path: str,
        *,
        categories: Sequence[str] = (),
        query: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> Outcome:
        return self.request(path=path, categories=tuple(categories), query=query or {}, **kwargs)

    def event(self, *names: str, **kwargs: Any) -> Outcome:
        return self.request(events=names, **kwargs)

    def tag(self, *tags: str, **kwargs: Any) -> Outcome:
        return self.request(tags=tags, **kwargs)

    def answer(self, about: str, value: str, **kwargs: Any) -> Outcome:
        return self.request(answers=(Answer(about, value),), **kwargs)

    def dismiss(self, about: str, **kwargs: Any) -> Outcome:
        return self.request(dismissals=(about,), **kwargs)

    def conf(self, ref: str) -> float:
        assert self.last is not None
        return self.last.view.confidence(ref)

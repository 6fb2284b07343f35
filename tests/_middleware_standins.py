"""TEMPORARY stand-ins for modules still being written (engine, rewrite, cookie).

Installed into ``sys.modules`` only when the real module cannot be imported, so the
middleware can be exercised before its dependencies land. Delete once they have.
"""

from __future__ import annotations

import importlib
import json
import re
import secrets
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        return exc.name == name
    return False


def install() -> list[str]:
    installed = []
    for name, build in (
        ("smartseg_dsl.rewrite", _rewrite),
        ("smartseg_dsl.engine", _engine),
        ("smartseg_dsl.cookie", _cookie),
    ):
        if _missing(name):
            module = build()
            sys.modules[name] = module
            setattr(sys.modules["smartseg_dsl"], name.rsplit(".", 1)[1], module)
            installed.append(name)
    return installed


# --------------------------------------------------------------------------- rewrite


def _rewrite() -> types.ModuleType:
    m = types.ModuleType("smartseg_dsl.rewrite")

    @dataclass(frozen=True)
    class Show:
        pass

    @dataclass(frozen=True)
    class Hide:
        pass

    @dataclass(frozen=True)
    class Replace:
        html: str
        reveal: bool = False

    @dataclass(frozen=True)
    class Order:
        ranking: Mapping[str, float]

    def has_slots(doc: bytes) -> bool:
        return b"data-seg-slot" in doc

    def page_categories(doc: bytes, encoding: str = "utf-8") -> tuple[str, ...]:
        found = re.search(rb'<meta name="smartseg:category" content="([^"]*)"', doc)
        if not found:
            return ()
        return tuple(c.strip() for c in found.group(1).decode(encoding).split(",") if c.strip())

    def rewrite(doc: bytes, edits: Mapping[str, Any], encoding: str = "utf-8") -> bytes:
        for slot, edit in edits.items():
            pattern = re.compile(
                rb'<(\w+)([^>]*?)data-seg-slot="' + re.escape(slot.encode()) + rb'"([^>]*)>'
            )
            start = pattern.search(doc)
            if not start:
                continue
            tag = start.group(1)
            end = doc.find(b"</" + tag + b">", start.end())
            if end < 0:
                continue
            open_tag = start.group(0)
            if isinstance(edit, Hide):
                doc = doc[: start.start()] + doc[end + len(tag) + 3 :]
            elif isinstance(edit, Show):
                doc = doc[: start.start()] + open_tag.replace(b" hidden", b"") + doc[start.end() :]
            elif isinstance(edit, Replace):
                new_open = open_tag.replace(b" hidden", b"") if edit.reveal else open_tag
                doc = (
                    doc[: start.start()]
                    + new_open
                    + edit.html.encode(encoding)
                    + doc[end:]
                )
        return doc

    for name, value in locals().copy().items():
        if not name.startswith("_") and name != "m":
            setattr(m, name, value)
    m.Edit = Show | Hide | Replace | Order
    return m


# --------------------------------------------------------------------------- engine


def _engine() -> types.ModuleType:
    m = types.ModuleType("smartseg_dsl.engine")

    @dataclass(frozen=True)
    class Answer:
        about: str
        value: str

    @dataclass(frozen=True)
    class RequestInfo:
        time: float
        path: str | None = None
        query: Mapping[str, str] = field(default_factory=dict)
        referrer: str | None = None
        host: str | None = None
        user_agent: str = ""
        categories: tuple[str, ...] = ()
        events: tuple[str, ...] = ()
        tags: tuple[str, ...] = ()
        attributes: Mapping[str, Any] = field(default_factory=dict)
        answers: tuple[Answer, ...] = ()
        dismissals: tuple[str, ...] = ()
        gpc: bool = False
        preview_as: str | None = None

    @dataclass(frozen=True)
    class VisitorState:
        visitor_id: str
        pageviews: int = 0
        certain: tuple[tuple[str, str], ...] = ()  # (group, segment)
        score: tuple[tuple[str, float], ...] = ()
        dismissed: tuple[str, ...] = ()
        last_path: str | None = None

    @dataclass(frozen=True)
    class Decision:
        slot: str
        kind: str
        rule: str = "test.seg:1"
        text: str | None = None
        template: str | None = None
        group: str | None = None
        question: str | None = None
        about: str | None = None
        options: tuple[tuple[str, str], ...] = ()

    @dataclass(frozen=True)
    class GroupView:
        confidences: Mapping[str, float]
        most_likely: str | None
        certain: str | None
        known: bool

    class VisitorView:
        def __init__(self, groups: Mapping[str, GroupView], pageviews: int) -> None:
            self.groups = groups
            self.pageviews = pageviews

        def confidence(self, ref: str) -> float:
            g, _, s = ref.partition(".")
            return self.groups[g].confidences.get(s, 0.0)

        def certain(self, ref: str) -> bool:
            g, _, s = ref.partition(".")
            return self.groups[g].certain == s

        def most_likely(self, group: str) -> str | None:
            return self.groups[group].most_likely

        def known(self, group: str) -> bool:
            return self.groups[group].known

    @dataclass
    class Outcome:
        state: VisitorState
        changed: bool
        decisions: dict[str, Decision]
        groups: dict[str, GroupView]
        audiences: tuple[str, ...]
        view: VisitorView
        trace: tuple[str, ...] = ()

    @dataclass
    class FakeRules:
        groups: dict[str, list[str]]
        tag_map: dict[str, str] = field(default_factory=dict)  # tag → G.S
        category_map: dict[str, str] = field(default_factory=dict)  # category → G.S
        decide: Callable[[VisitorView, RequestInfo], dict[str, Decision]] = lambda v, i: {}

    class Engine:
        def __init__(self, rules: FakeRules) -> None:
            self.rules = rules

        def new_state(self, now: float) -> VisitorState:
            return VisitorState(secrets.token_urlsafe(12))

        def _groups(self, s: VisitorState, preview: str | None) -> dict[str, GroupView]:
            certain = dict(s.certain)
            if preview:
                g, _, seg = preview.partition(".")
                certain[g] = seg
            score = dict(s.score)
            out = {}
            for g, segs in self.rules.groups.items():
                if g in certain:
                    conf = {x: 1.0 if x == certain[g] else 0.0 for x in segs}
                    out[g] = GroupView(conf, certain[g], certain[g], True)
                    continue
                total = sum(score.get(f"{g}.{x}", 0) for x in segs) + 10
                conf = {x: score.get(f"{g}.{x}", 0) / total for x in segs}
                best = max(segs, key=lambda x: conf[x])
                out[g] = GroupView(conf, best if conf[best] > 0 else None, None, False)
            return out

        def view(self, state: VisitorState, now: float) -> VisitorView:
            return VisitorView(self._groups(state, None), state.pageviews)

        def step(self, state: VisitorState | None, info: RequestInfo) -> Outcome:
            s = state or self.new_state(info.time)
            before = s
            certain = dict(s.certain)
            score = dict(s.score)
            if info.path is not None and info.path != s.last_path:
                s = replace(s, pageviews=s.pageviews + 1, last_path=info.path)
                if not info.gpc:
                    for c in info.categories:
                        ref = self.rules.category_map.get(c)
                        if ref:
                            score[ref] = score.get(ref, 0) + 3
            for t in info.tags:
                ref = self.rules.tag_map.get(t)
                if ref:
                    g, _, seg = ref.partition(".")
                    certain[g] = seg
            for a in info.answers:
                g, _, seg = a.about.partition(".")
                if seg and a.value == "yes":
                    certain[g] = seg
                elif not seg and a.value != "other":
                    certain[g] = a.value
            dismissed = tuple(dict.fromkeys((*s.dismissed, *info.dismissals)))
            s = replace(
                s,
                certain=tuple(sorted(certain.items())),
                score=tuple(sorted(score.items())),
                dismissed=dismissed,
            )
            groups = self._groups(s, info.preview_as)
            view = VisitorView(groups, s.pageviews)
            return Outcome(
                s, s != before, self.rules.decide(view, info), groups, ("Everyone",), view
            )

        def validate_answer(self, answer: Answer) -> str | None:
            g, _, seg = answer.about.partition(".")
            if g not in self.rules.groups:
                return f"unknown group {g!r}"
            if seg:
                if seg not in self.rules.groups[g]:
                    return f"unknown segment {answer.about!r}"
                if answer.value not in ("yes", "no"):
                    return f"answer about {answer.about} must be 'yes' or 'no'"
            elif answer.value != "other" and answer.value not in self.rules.groups[g]:
                return f"answer about {g} must be a segment of {g} or 'other'"
            return None

        def validate_dismissal(self, about: str) -> str | None:
            g, _, seg = about.partition(".")
            if g not in self.rules.groups or (seg and seg not in self.rules.groups[g]):
                return f"unknown group or segment {about!r}"
            return None

    for name, value in locals().copy().items():
        if not name.startswith("_") and name != "m":
            setattr(m, name, value)
    return m


# --------------------------------------------------------------------------- cookie


def _cookie() -> types.ModuleType:
    m = types.ModuleType("smartseg_dsl.cookie")

    class CookieCodec:
        def __init__(self, rules: Any, secret_key: Any, *, max_age: int, salt: str = "c") -> None:
            keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
            self.s = URLSafeTimedSerializer(keys, salt=salt)
            self.max_age = max_age
            self.state_type = sys.modules["smartseg_dsl.engine"].VisitorState

        def dumps(self, state: Any) -> str:
            d = dict(state.__dict__)
            return self.s.dumps(json.loads(json.dumps(d)))

        def loads(self, value: str | None, now: float) -> tuple[Any, str | None]:
            if not value:
                return None, "missing"
            try:
                d = self.s.loads(value, max_age=self.max_age)
                d["certain"] = tuple(tuple(x) for x in d["certain"])
                d["score"] = tuple(tuple(x) for x in d["score"])
                d["dismissed"] = tuple(d["dismissed"])
                return self.state_type(**d), None
            except (BadData, KeyError, TypeError, ValueError):
                return None, "bad"

    def set_cookie_header(
        name: str, value: str, *, max_age: int, secure: bool, path: str = "/"
    ) -> str:
        out = f"{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax"
        return out + ("; Secure" if secure else "")

    m.CookieCodec = CookieCodec
    m.set_cookie_header = set_cookie_header
    return m

"""Tests of the Ledgerly example site (site_example/) and its rule files (rules/).

The site is exercised through Starlette's TestClient without the smartseg middleware:
these tests pin down the contract between the site and the rules (slots, categories,
template paths, hidden-by-default sections), the site's own CSRF protection, escaping,
page size, the absence of external assets, and the example CRM receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the repository root holds the site_example package
    sys.path.insert(0, str(ROOT))

site_app = importlib.import_module("site_example.app")
site_catalog = importlib.import_module("site_example.catalog")
site_content = importlib.import_module("site_example.content")
site_csrf = importlib.import_module("site_example.csrf")
site_hooks = importlib.import_module("site_example.hooks")
crm_receiver = importlib.import_module("site_example.crm_receiver")

RULES_DIR = ROOT / "rules"
SITE_DIR = ROOT / "site_example"
TEMPLATES_DIR = SITE_DIR / "templates"
STATIC_DIR = SITE_DIR / "static"
ARTICLES_DIR = SITE_DIR / "content" / "articles"

BASE_SLOTS = {"announcement", "discount_banner", "pricing_reminder", "survey", "newsletter_signup"}
HOME_SLOTS = BASE_SLOTS | {
    "headline",
    "hero",
    "cta",
    "welcome_back",
    "industry_picker",
    "product_tour",
    "legal_case_study",
    "testimonials",
    "industry_survey",
}
PRICING_SLOTS = BASE_SLOTS | {
    "pricing_headline",
    "plan_recommendation",
    "sales_contact",
    "testimonials",
}
ARTICLE_SLOTS = BASE_SLOTS | {
    "article_cta",
    "trust_accounting_promo",
    "newsletter_nudge",
    "industry_survey",
}
LANDING_SLOTS = BASE_SLOTS | {"cta", "testimonials"}
PRODUCT_SLOTS = BASE_SLOTS | {"cta", "compare_plans_hint"}

ARTICLES = site_content.load_articles()
INDUSTRIES = site_catalog.INDUSTRY_LIST


# --------------------------------------------------------------------------- helpers


@pytest.fixture()
def client() -> Iterator[TestClient]:
    with TestClient(site_app.create_app(holdout=False)) as test_client:
        yield test_client


def slots_in(html: str) -> set[str]:
    return set(re.findall(r'data-seg-slot="([^"]+)"', html))


def categories_in(html: str) -> list[str] | None:
    match = re.search(r'<meta name="smartseg:category" content="([^"]*)">', html)
    if match is None:
        return None
    return [c.strip() for c in match.group(1).split(",") if c.strip()]


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def rules_source() -> str:
    """All rule files, comments removed (strings kept), in load order."""
    files = sorted(RULES_DIR.glob("*.seg"))
    assert files, "no rule files in rules/"
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return _STRING_OR_COMMENT.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)


def rule_segments() -> dict[str, list[str]]:
    """{group: [segment, …]} as declared in the rule files."""
    groups: dict[str, list[str]] = {}
    current: str | None = None
    for match in re.finditer(r"\b(group|segment)\s+([A-Za-z_]\w*)", rules_source()):
        if match.group(1) == "group":
            current = match.group(2)
            groups[current] = []
        else:
            assert current is not None
            groups[current].append(match.group(2))
    return groups


def template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def all_template_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in template_files())


def slot_elements(html: str, slot: str) -> list[str]:
    """The opening tags of every element of ``slot``."""
    return re.findall(rf'<[a-zA-Z][^>]*\bdata-seg-slot="{re.escape(slot)}"[^>]*>', html)


# --------------------------------------------------------------------------- pages


PAGES: list[tuple[str, set[str]]] = [
    ("/", HOME_SLOTS),
    ("/pricing", PRICING_SLOTS),
    *[(f"/pricing/{i.slug}", PRICING_SLOTS) for i in INDUSTRIES],
    ("/blog", BASE_SLOTS),
    *[(f"/blog/{a.slug}", ARTICLE_SLOTS) for a in ARTICLES],
    *[(f"/{i.slug}/", LANDING_SLOTS) for i in INDUSTRIES],
    *[(f"/product/{p.slug}", PRODUCT_SLOTS) for p in site_catalog.PRODUCT_LIST],
    ("/cart", BASE_SLOTS),
    ("/privacy", BASE_SLOTS),
    ("/thanks/trial", BASE_SLOTS),
    ("/webinars/legal/registered", BASE_SLOTS),
]


@pytest.mark.parametrize(("path", "expected_slots"), PAGES, ids=[p for p, _ in PAGES])
def test_page_renders_with_its_slots(
    client: TestClient, path: str, expected_slots: set[str]
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.startswith("<!doctype html>")
    missing = expected_slots - slots_in(html)
    assert not missing, f"{path} lacks slots {sorted(missing)}"


def test_create_app_takes_the_demo_configuration(tmp_path: Path) -> None:
    app = site_app.create_app(
        rules_path="rules/",
        db_url=str(tmp_path / "smartseg.db"),
        secret_key=["old", "new"],
        dev=True,
        webhook_url="http://127.0.0.1:8001/webhook",
        webhook_secret="demo-webhook-secret",
    )
    assert app.state.rules_path.resolve() == RULES_DIR.resolve()
    assert app.state.webhook_url == "http://127.0.0.1:8001/webhook"
    assert app.state.jinja_env.autoescape is True


def test_unknown_pages_are_html_404s(client: TestClient) -> None:
    for path in ("/nope", "/blog/no-such-article", "/pricing/astronauts", "/product/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text


def test_home_page_is_between_30_and_100_kb(client: TestClient) -> None:
    size = len(client.get("/").content)
    assert 30_000 <= size <= 100_000, f"home page is {size} bytes"


def test_home_page_is_real_copy() -> None:
    text = all_template_text() + "\n".join(p.read_text() for p in ARTICLES_DIR.glob("*.html"))
    assert "lorem" not in text.lower()
    assert "ipsum" not in text.lower()


def test_blog_has_at_least_12_articles_covering_every_industry(client: TestClient) -> None:
    assert len(ARTICLES) >= 12
    index = client.get("/blog").text
    for article in ARTICLES:
        assert f'href="/blog/{article.slug}"' in index
    for industry in INDUSTRIES:
        covering = [a for a in ARTICLES if set(a.categories) & set(industry.categories)]
        assert len(covering) >= 2, f"only {len(covering)} article(s) for {industry.key}"


@pytest.mark.parametrize("article", ARTICLES, ids=[a.slug for a in ARTICLES])
def test_each_article_declares_its_categories(client: TestClient, article: Any) -> None:
    html = client.get(f"/blog/{article.slug}").text
    declared = categories_in(html)
    assert declared, f"{article.slug} declares no smartseg:category"
    assert declared == list(article.categories)
    assert article.title in html.replace("&amp;", "&")
    assert len(article.body_html) > 1500, "articles carry real copy"


def test_landing_and_product_pages_declare_categories(client: TestClient) -> None:
    for industry in INDUSTRIES:
        assert categories_in(client.get(f"/{industry.slug}/").text) == list(industry.categories)
    for product in site_catalog.PRODUCT_LIST:
        assert categories_in(client.get(f"/product/{product.slug}").text) == list(
            product.categories
        )
    # Pages that are not evidence of anything declare nothing.
    for path in ("/", "/blog", "/pricing", "/cart"):
        assert categories_in(client.get(path).text) is None, path


def test_blog_filter_by_category(client: TestClient) -> None:
    html = client.get("/blog", params={"category": "law"}).text
    law = [a for a in ARTICLES if "law" in a.categories]
    other = [a for a in ARTICLES if "law" not in a.categories]
    assert law and other
    assert all(f'href="/blog/{a.slug}"' in html for a in law)
    assert html.count('class="article-card"') == len(law)


# --------------------------------------------------------------------------- rules ↔ site


def test_every_template_a_rule_names_exists() -> None:
    paths = set(re.findall(r'\bwith\s+template\s+"([^"]+)"', rules_source()))
    assert len(paths) >= 5
    for path in paths:
        assert (TEMPLATES_DIR / path).is_file(), f"rules name missing template {path}"


def test_every_slot_a_rule_targets_exists_in_a_template() -> None:
    source = rules_source()
    targeted = set(re.findall(r"\bslot\s+([A-Za-z_]\w*)", source))
    if re.search(
        r'show\s+survey\s+"(?:[^"\\]|\\.)*"(?!(?:\s+about\s+[\w.]+)?\s+in\s+slot)', source
    ):
        targeted.add("survey")  # a survey without `in slot` goes to slot `survey`
    assert {"headline", "hero", "testimonials", "survey", "industry_survey"} <= targeted
    in_templates = slots_in(all_template_text())
    missing = targeted - in_templates
    assert not missing, f"rules target slots no template has: {sorted(missing)}"


def test_every_template_slot_is_targeted_by_a_rule() -> None:
    targeted = set(re.findall(r"\bslot\s+([A-Za-z_]\w*)", rules_source())) | {"survey"}
    unused = slots_in(all_template_text()) - targeted
    assert not unused, f"slots no rule uses: {sorted(unused)}"


def test_shown_slots_are_hidden_by_default_and_hidden_slots_are_not() -> None:
    source = rules_source()
    shown = set(re.findall(r"\bshow\s+slot\s+([A-Za-z_]\w*)", source))
    hidden = set(re.findall(r"\bhide\s+slot\s+([A-Za-z_]\w*)", source))
    assert {"discount_banner", "legal_case_study"} <= shown
    assert hidden, "some rule uses `hide slot`"
    html = all_template_text()
    for slot in shown:
        tags = slot_elements(html, slot)
        assert tags, slot
        assert all(re.search(r"\shidden(\s|>|$)", tag) for tag in tags), (
            f"`show slot {slot}` but {slot} is not hidden by default"
        )
    for slot in hidden:
        tags = slot_elements(html, slot)
        assert tags, slot
        assert not any(re.search(r"\shidden(\s|>|$)", tag) for tag in tags), slot


def test_rules_use_every_action_and_the_language() -> None:
    source = rules_source()
    for construct in (
        r"\bshow\s+slot\b",
        r"\bhide\s+slot\b",
        r'\breplace\s+slot\s+\w+\s+with\s+"',
        r"\breplace\s+slot\s+\w+\s+with\s+template\b",
        r"\border\s+slot\s+testimonials\s+by\s+Industry\b",
        r'show\s+survey\s+"Are you a lawyer\?"\s*\n',  # segment inferred
        r"show\s+survey\s+\"[^\"]+\"\s+about\s+Industry\.\w+",
        r"show\s+survey\s+\"[^\"]+\"\s+about\s+Industry\s+in\s+slot\s+\w+",
        r"^order\s+slot\b",  # a bare action
        r"\{\s*\n\s*(replace|show|hide)",  # a block rule
        r"\band\b",
        r"\bor\b",
        r"\bnot\b",
        r"\bis\s+Industry\.",
        r"\bis\s+not\s+none\b",
        r"\bwithin\s+\d",
        r"\bsince\(",
        r"\bcount\(",
        r"confidence\([\w.]+\)\s*>=\s*50%",
        r"\blikely\(",
        r"\bcertain\(",
        r"\bknown\(",
        r"\btagged\(",
        r"\bviewing\(",
        r"\battribute\(",
        r"\bvisits\b",
        r"\bpageviews\b",
        r"\bsession_time\b",
        r"\bdevice\b",
        r"\bprior\s+\d",
        r"\bdecay\s+\d",
        r"\bmax\s+\d",
    ):
        assert re.search(construct, source, re.MULTILINE), construct
    for matcher in ("tag", "query", "category", "referrer", "landing", "page", "event"):
        assert re.search(rf"\b(explicit|implicit)\s+{matcher}\b", source), matcher


def test_audiences_are_all_used() -> None:
    source = rules_source()
    audiences = re.findall(r"\baudience\s+([A-Za-z_]\w*)\s*=", source)
    assert {"HotLead", "Lapsed", "Returning", "MobileReader"} <= set(audiences)
    for name in audiences:
        if re.search(rf"\bsync\s+audience\s+{name}\b", source):
            continue  # used by being sent to the CRM (SPEC §7)
        uses = re.findall(rf"\b{name}\b", source)
        assert len(uses) >= 2, f"audience {name} is never used"


def test_industry_segments_match_the_site() -> None:
    groups = rule_segments()
    assert len(groups["Industry"]) >= 4
    assert set(groups["Industry"]) == set(site_catalog.INDUSTRIES)
    assert "Intent" in groups or "Role" in groups
    # Testimonials reordered by Industry carry real segments.
    segments = {f"Industry.{s}" for s in groups["Industry"]}
    for testimonial in site_catalog.TESTIMONIALS:
        assert testimonial.segment in segments
    # Every industry's tag, ?seg= value, landing path, webinar event and categories are
    # ones the rules listen for.
    source = rules_source()
    for industry in INDUSTRIES:
        assert f'explicit tag "{industry.tag}"' in source
        assert f'"/{industry.slug}/**"' in source
        assert f'implicit event "{industry.webinar_event}"' in source
        for category in industry.categories:
            assert f'category "{category}"' in source, category


def test_every_category_a_rule_counts_is_declared_by_some_page() -> None:
    declared = {c for a in ARTICLES for c in a.categories}
    declared |= {c for i in INDUSTRIES for c in i.categories}
    declared |= {c for p in site_catalog.PRODUCT_LIST for c in p.categories}
    in_rules = set(re.findall(r'\bcategory\s+"([^"]+)"', rules_source()))
    assert in_rules
    assert not in_rules - declared, f"no page declares {sorted(in_rules - declared)}"


def test_every_event_a_rule_counts_is_tracked_by_the_site() -> None:
    app_source = (SITE_DIR / "app.py").read_text(encoding="utf-8")
    tracked = set(re.findall(r'hooks\.track\(request, "([^"]+)"\)', app_source))
    tracked |= {i.webinar_event for i in INDUSTRIES}
    in_rules = set(re.findall(r'\bevent\s+"([^"]+)"', rules_source()))
    assert {"add_to_cart", "purchase", "start_trial"} <= in_rules
    assert not in_rules - tracked, f"the site never tracks {sorted(in_rules - tracked)}"


def test_rule_files_parse() -> None:
    parser = pytest.importorskip("smartseg_dsl.parser")
    results = parser.parse_paths(sorted(RULES_DIR.glob("*.seg")))
    problems = [str(d) for r in results for d in r.diagnostics]
    assert not problems, problems


def test_rule_files_check_clean() -> None:
    pytest.importorskip("smartseg_dsl.checker")
    loader = importlib.import_module("smartseg_dsl.loader")
    result = loader.check_paths([RULES_DIR])
    problems = [f"{d.file}:{d.line}: {d.code} {d.message}" for d in result.diagnostics]
    assert not problems, problems  # no errors and no warnings


# --------------------------------------------------------------------------- partials


class StubVisitor:
    """The shape of the ``visitor`` view (SPEC §3.4) the partials are rendered with."""

    def __init__(self, most_likely: str | None, *, certain: bool, confidence: float) -> None:
        self._most_likely = most_likely
        self._certain = certain
        self._confidence = confidence

    def _is_it(self, ref: str) -> bool:
        name = self._most_likely.rsplit(".", 1)[-1] if self._most_likely else None
        return name is not None and ref == f"Industry.{name}"

    def confidence(self, ref: str) -> float:
        if self._is_it(ref):
            return 1.0 if self._certain else self._confidence
        return 0.0

    def certain(self, ref: str) -> bool:
        return self._certain and self._is_it(ref)

    def most_likely(self, group: str) -> str | None:
        return self._most_likely if group == "Industry" else None

    def known(self, group: str) -> bool:
        return group == "Industry" and self._certain


PARTIALS = sorted(
    p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.glob("partials/*.html")
)
VISITORS = [
    *[(f"Industry.{i.key}", False, 0.62) for i in INDUSTRIES],
    *[(i.key, True, 1.0) for i in INDUSTRIES],  # a bare segment name works too
    (None, False, 0.0),
]


@pytest.mark.parametrize("partial", PARTIALS)
@pytest.mark.parametrize(("most_likely", "certain", "confidence"), VISITORS)
def test_partials_render_with_the_visitor_view(
    partial: str, most_likely: str | None, certain: bool, confidence: float
) -> None:
    env = site_app.create_app(holdout=False).state.jinja_env
    visitor = StubVisitor(most_likely, certain=certain, confidence=confidence)
    html = env.get_template(partial).render(visitor=visitor)
    assert len(html.strip()) > 80
    assert "data-seg-slot" not in html  # a partial is the inner content of a slot
    assert "Undefined" not in html and "None" not in html
    if most_likely and partial in {
        "partials/industry_hero.html",
        "partials/article_cta.html",
        "partials/plan_recommendation.html",
    }:
        key = most_likely.rsplit(".", 1)[-1]
        assert site_catalog.INDUSTRIES[key].audience in html or (
            site_catalog.INDUSTRIES[key].headline in html.replace("&amp;", "&")
        )
    if partial == "partials/legal_hero.html" and most_likely == "Industry.Legal":
        assert "62%" in html


def test_partials_escape_what_they_print() -> None:
    env = site_app.create_app(holdout=False).state.jinja_env
    assert env.autoescape is True
    hostile = StubVisitor("<script>alert(1)</script>", certain=False, confidence=0.5)
    html = env.get_template("partials/industry_hero.html").render(visitor=hostile)
    assert "<script>" not in html


# --------------------------------------------------------------------------- forms & CSRF

FORMS: list[tuple[str, dict[str, str], str]] = [
    ("/newsletter", {"email": "ana@example.com", "industry": "legal"}, "/thanks/newsletter"),
    ("/trial", {}, "/thanks/trial"),
    ("/cart/add", {"plan": "practice"}, "/cart"),
    ("/webinars/healthcare", {}, "/webinars/healthcare/registered"),
]


@pytest.mark.parametrize(("path", "fields", "location"), FORMS, ids=[f[0] for f in FORMS])
def test_forms_require_the_csrf_token(
    client: TestClient, path: str, fields: dict[str, str], location: str
) -> None:
    token = csrf_token_in(client.get("/").text)
    assert client.post(path, data=fields, follow_redirects=False).status_code == 403
    bad = {**fields, "csrf_token": token[:-2] + ("AA" if not token.endswith("AA") else "BB")}
    assert client.post(path, data=bad, follow_redirects=False).status_code == 403
    ok = client.post(path, data={**fields, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == location


def test_checkout_requires_csrf_and_a_cart(client: TestClient) -> None:
    token = csrf_token_in(client.get("/pricing").text)
    assert client.post("/checkout", follow_redirects=False).status_code == 403
    empty = client.post("/checkout", data={"csrf_token": token}, follow_redirects=False)
    assert empty.headers["location"] == "/pricing"
    client.post("/cart/add", data={"plan": "firm", "csrf_token": token})
    assert "Firm plan" in client.get("/cart").text
    done = client.post("/checkout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/thanks/purchase"


def test_csrf_token_is_bound_to_the_visitors_cookie(client: TestClient) -> None:
    token = csrf_token_in(client.get("/").text)
    with TestClient(site_app.create_app(holdout=False)) as stranger:
        stranger.get("/")  # has a cookie of its own
        response = stranger.post("/trial", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403
    # A token signed with another key is refused too.
    with TestClient(site_app.create_app(holdout=False, secret_key="another-key")) as other:
        other.cookies.set(site_csrf.COOKIE_NAME, client.cookies[site_csrf.COOKIE_NAME])
        response = other.post("/trial", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403


def test_csrf_cookie_flags_and_key_rotation() -> None:
    with TestClient(site_app.create_app(holdout=False, secret_key="old-key")) as client:
        response = client.get("/")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{site_csrf.COOKIE_NAME}=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        token = csrf_token_in(response.text)
        later = client.get("/pricing").headers.get_list("set-cookie")
        # set once (smartseg's own visitor cookie may still change on every page view)
        assert not [c for c in later if c.startswith(f"{site_csrf.COOKIE_NAME}=")]
        rotated = site_app.create_app(holdout=False, secret_key=["old-key", "new-key"])
        with TestClient(rotated, cookies=dict(client.cookies)) as after_rotation:
            response = after_rotation.post(
                "/trial", data={"csrf_token": token}, follow_redirects=False
            )
            assert response.status_code == 303


def test_forms_work_without_smartseg_and_log_nothing(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="site_example.hooks")
    token = csrf_token_in(client.get("/").text)
    assert client.post("/trial", data={"csrf_token": token}, follow_redirects=False).is_redirect
    assert client.post(
        "/newsletter", data={"csrf_token": token, "email": "a@b.example"}, follow_redirects=False
    ).is_redirect
    assert not [r for r in caplog.records if r.name == "site_example.hooks"]


def test_lead_score_attribute_rises_with_trial_and_cart(client: TestClient) -> None:
    token = csrf_token_in(client.get("/").text)
    assert site_app.TRIAL_COOKIE not in client.cookies
    assert site_app.CART_COOKIE not in client.cookies
    client.post("/trial", data={"csrf_token": token})
    client.post("/cart/add", data={"plan": "solo", "csrf_token": token})
    cookies = dict(client.cookies)
    assert cookies[site_app.TRIAL_COOKIE] == "1"
    assert cookies[site_app.CART_COOKIE] == "solo"

    def scope(path: str, cookie_jar: dict[str, str]) -> dict[str, Any]:
        header = "; ".join(f"{k}={v}" for k, v in cookie_jar.items()).encode()
        return {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"cookie", header)] if header else [],
        }

    assert site_app.lead_score(Request(scope("/", {}))) == 0
    assert site_app.lead_score(Request(scope("/pricing", cookies))) >= 70  # rules: >= 70


# --------------------------------------------------------------------------- escaping


def test_visitor_input_is_escaped(client: TestClient) -> None:
    attack = '<script>alert("x")</script>'
    html = client.get("/blog", params={"category": attack}).text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    token = csrf_token_in(html)
    response = client.post(
        "/newsletter", data={"csrf_token": token, "email": f"{attack}@x"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


# --------------------------------------------------------------------------- assets


_URL = re.compile(r"(?i)\b(?:https?:)?//([a-z0-9.-]+\.[a-z]{2,}|localhost|127\.0\.0\.1)")
_LOCAL = {"localhost", "127.0.0.1"}


def _external_urls(text: str) -> list[str]:
    return [m.group(0) for m in _URL.finditer(text) if m.group(1).lower() not in _LOCAL]


def test_no_external_urls_in_templates_css_or_content() -> None:
    files = [
        *template_files(),
        *STATIC_DIR.rglob("*.css"),
        *ARTICLES_DIR.glob("*.html"),
    ]
    assert len(files) > 20
    offenders = {str(p.relative_to(ROOT)): _external_urls(p.read_text()) for p in files}
    assert not {k: v for k, v in offenders.items() if v}
    css = (STATIC_DIR / "site.css").read_text()
    assert "@import" not in css
    assert "@font-face" not in css


def test_no_external_urls_in_rendered_pages(client: TestClient) -> None:
    for path in ("/", "/pricing", "/legal/", f"/blog/{ARTICLES[0].slug}"):
        html = client.get(path).text
        assert not _external_urls(html), path
        assert not re.search(r'(?:src|href)="(?!/|#|mailto:|data:)', html), path


def test_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "[hidden]" in response.text  # hidden slots stay hidden


# --------------------------------------------------------------------------- CRM receiver


def _signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_crm_receiver_verifies_signatures_and_prints_payloads() -> None:
    out = io.StringIO()
    app = crm_receiver.create_receiver("s3cret", out=out)
    body = json.dumps({"email": "ana@example.com", "answers": [{"about": "Industry.Legal"}]})
    raw = body.encode()
    with TestClient(app) as crm:
        unsigned = crm.post("/webhook", content=raw)
        assert unsigned.status_code == 401
        forged = crm.post(
            "/webhook", content=raw, headers={"X-Smartseg-Signature": _signed(raw, "wrong")}
        )
        assert forged.status_code == 401
        headers = {"X-Smartseg-Signature": _signed(raw, "s3cret"), "Idempotency-Key": "k-1"}
        first = crm.post("/webhook", content=raw, headers=headers)
        assert first.status_code == 200 and first.json()["status"] == "received"
        again = crm.post("/webhook", content=raw, headers=headers)
        assert again.json()["status"] == "duplicate"
        not_json = b"not json"
        bad = crm.post(
            "/webhook",
            content=not_json,
            headers={"X-Smartseg-Signature": _signed(not_json, "s3cret")},
        )
        assert bad.status_code == 400
        assert crm.get("/").json()["received"] == 1
    printed = out.getvalue()
    assert printed.count("ana@example.com") == 1
    assert "Idempotency-Key: k-1" in printed


def test_crm_receiver_signature_matches_smartseg_sync() -> None:
    sync = pytest.importorskip("smartseg_dsl.sync")
    body = b'{"visitor": "v1"}'
    assert crm_receiver.sign(body, "key") == sync.sign(body, "key")
    assert crm_receiver.verify(body, sync.sign(body, "key"), "key")


# --------------------------------------------------------------------------- with smartseg


@pytest.fixture()
def with_smartseg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Wire the real SmartSegMiddleware into create_app() (skipped until it exists)."""
    middleware = pytest.importorskip("smartseg_dsl.middleware")
    from starlette.middleware import Middleware

    def wired(**kwargs: Any) -> list[Middleware]:
        return [
            Middleware(
                middleware.SmartSegMiddleware,
                rules=str(kwargs["rules"]),
                secret_key=kwargs["secret_key"],
                templates=kwargs["templates"],
                dev=kwargs["dev"],
                store=f"sqlite:///{tmp_path / 'smartseg.db'}",
                holdout=kwargs.get("holdout", True),
            )
        ]

    monkeypatch.setattr(site_app, "smartseg_middleware", wired)


@pytest.mark.usefixtures("with_smartseg")
def test_demo_journey_with_the_real_middleware() -> None:
    """The newcomer's ten minutes: read, get asked, answer, see the page turn CERTAIN."""
    default_headline = "Get paid for every hour, milestone and booking, without chasing anyone."
    with TestClient(site_app.create_app(holdout=False)) as visitor:
        home = visitor.get("/").text
        assert default_headline in home
        assert slot_elements(home, "legal_case_study")  # present, hidden
        assert 'action="/smartseg/answer"' not in home  # nothing to ask yet

        # home was page view 1; the survey waits for the third page view
        first = visitor.get("/blog/trust-accounting-basics").text
        assert "Are you a lawyer?" not in first

        visitor.get("/blog/billing-in-six-minute-increments")
        home = visitor.get("/").text
        assert default_headline in home  # a guess never rewrites the headline
        assert "Running the numbers at a law firm?" in home  # partials/legal_hero.html
        (case_study,) = slot_elements(home, "legal_case_study")
        assert "hidden" not in case_study
        order = re.findall(r'data-seg-segment="([^"]+)"', home)
        assert order[:2] == ["Industry.Legal", "Industry.Legal"]

        form = re.search(r'<form[^>]*action="/smartseg/answer".*?</form>', home, re.DOTALL)
        assert form is not None
        fields = dict(re.findall(r'name="(about|csrf|next)" value="([^"]*)"', form.group(0)))
        assert fields["about"] == "Industry.Legal"
        answer = visitor.post(
            "/smartseg/answer", data={**fields, "answer": "yes"}, follow_redirects=False
        )
        assert answer.status_code == 303

        home = visitor.get("/").text
        # the LegalHeadline experiment shows lawyers the rule's headline or its variant
        assert (
            "Billing built for law firms, trust accounting included" in home
            or "Every billable hour invoiced, every invoice paid" in home
        )
        assert "industry_picker" not in home  # known(Industry): hidden
        assert 'action="/smartseg/answer"' not in home  # never asked again
        pricing = visitor.get("/pricing").text
        assert "Pricing for law firms: trust accounting on every plan" in pricing

        privacy = visitor.get("/privacy").text
        forget = dict(re.findall(r'name="(csrf|next)" value="([^"]*)"', privacy))
        assert visitor.post("/smartseg/forget", data=forget).status_code == 200
        assert default_headline in visitor.get("/").text  # a new visitor again


@pytest.mark.usefixtures("with_smartseg")
def test_site_events_reach_the_rules() -> None:
    """The hooks forward events, tags and attributes once the middleware is active."""
    with TestClient(site_app.create_app(holdout=False)) as visitor:
        for product in ("invoicing", "payments", "time-tracking", "reporting"):
            page = visitor.get(f"/product/{product}").text
        (banner,) = slot_elements(page, "discount_banner")  # HotLead
        assert "hidden" not in banner
        (hint,) = slot_elements(page, "compare_plans_hint")  # score(Intent.Evaluating)
        assert "hidden" not in hint

        token = csrf_token_in(page)
        assert visitor.post("/trial", data={"csrf_token": token}).status_code == 200
        home = visitor.get("/").text
        assert "Your free trial is running." in home  # count(event "start_trial")

        visitor.post("/cart/add", data={"plan": "practice", "csrf_token": token})
        pricing = visitor.get("/pricing").text
        assert "Book my onboarding call" in pricing  # attribute("lead_score") >= 70
        (banner,) = slot_elements(pricing, "discount_banner")  # in the cart: not HotLead
        assert "hidden" in banner

        response = visitor.post(
            "/newsletter",
            data={"csrf_token": token, "email": "ana@example.com", "industry": "healthcare"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        home = visitor.get("/").text
        assert "Patient billing that is clear, kind and paid on time" in home  # tag "clinic"
        assert 'data-seg-slot="newsletter_signup"' not in home  # tagged("subscriber")


def test_the_csrf_cookie_is_never_set_on_a_shared_cacheable_response() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def public(request: Any) -> PlainTextResponse:
        return PlainTextResponse(
            "hi", headers={"cache-control": "public, s-maxage=600, max-age=60"}
        )

    app = Starlette(
        routes=[Route("/public", public)],
        middleware=[Middleware(site_csrf.CSRFMiddleware, secret_key="k")],
    )
    with TestClient(app) as fresh:
        first = fresh.get("/public")
        assert "set-cookie" in first.headers
        assert first.headers["cache-control"] == "private, max-age=60"
        assert "Cookie" in first.headers["vary"]
        again = fresh.get("/public")  # no cookie to set: the app's own headers
        assert "set-cookie" not in again.headers
        assert again.headers["cache-control"] == "public, s-maxage=600, max-age=60"
    with TestClient(site_app.create_app(holdout=False)) as visitor:
        css = visitor.get("/static/site.css")
        assert "set-cookie" in css.headers and css.headers["cache-control"].startswith("private")


@pytest.mark.parametrize(("env", "expected"), [({}, True), ({"SMARTSEG_HOLDOUT": "0"}, False)])
def test_smartseg_demo_honours_smartseg_holdout(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    import uvicorn
    from click.testing import CliRunner

    from smartseg_dsl.cli.demo import demo_command

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.setdefault("app", app))
    monkeypatch.delenv("SMARTSEG_HOLDOUT", raising=False)
    result = CliRunner().invoke(demo_command, ["--no-crm", "--port", "8765"], env=env)
    assert result.exit_code == 0, result.output
    assert "holdout" in result.output
    (mw,) = [m for m in seen["app"].user_middleware if m.cls.__name__ == "SmartSegMiddleware"]
    assert mw.kwargs["holdout"] is expected

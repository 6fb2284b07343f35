"""Load test of the demo site behind SmartSegMiddleware (issue 6).

    python bench/load.py [--seconds 60] [--visitors 100] [--workers 2] [--ci] [--json FILE]
                         [--only baseline|smartseg] [--rss-limit PCT] [--keep]

Serves the example site with uvicorn and ``--workers 2`` (``site_example.asgi``) twice:
once without smartseg (the baseline) and once with it, and puts the same load on both:
``--visitors`` concurrent simulated visitors, each with its own cookie jar, following
random journeys over the site (home, blog articles, industry landing pages, pricing,
product pages), answering the surveys the pages show and now and then starting a trial,
adding a plan to the cart or checking out (with the site's CSRF token from the form).
A visitor comes back for a few journeys with the same cookies, then a new one takes its
place; one slot in ten keeps the same visitor for the whole run, so long histories
(and the biggest cookies) are exercised too. ``--ci`` is the short form: 10 s per run.

Reported per run, as a markdown table (and as JSON with ``--json``): requests, requests
per second, p50/p99 latency (client side), 5xx responses, transport errors, unexpected
statuses, answers given vs. answer rows in the answer bank, the largest ``Set-Cookie``
header value seen, and the resident memory (VmRSS, all workers together, sampled every
second) of the uvicorn workers: after start-up, after the page warm-up (every page fetched
three times, without cookies), half-way through the run, at the end, and at its peak.

Flat. The first half of a run is its warm-up: under real load each worker fills what it
keeps for good — compiled templates, the survey-widget cache, the rewriter's page and
extent memos, the anyio thread pool and its SQLite connections (each with its own page
cache), Python's object arenas and the C heap at the size the concurrency needs. Growth
there is expected and reported ("after page warm-up → end"), not judged. The workers'
RSS is *flat* when it grows by at most ``--rss-limit`` % (2 % by default) from half-way
to the end, each point being the median over a tenth of the run so that one sample
cannot decide; the least-squares trend over the second half (MiB/min) is reported next
to it, so a slow steady leak stays visible. Runs shorter than 5 minutes are reported but
not judged (their second half is still mostly warm-up: the 60 s default, ``--ci``); to
check flatness, soak: ``--only smartseg --seconds 600``. RSS also counts what the C
allocator keeps after Python has freed it: when Python objects, SQLite and the caches
are steady but RSS still rises, that is glibc's heap holding freed memory. The workers
therefore run as docs/middleware.md ("Deploying") tells a deployment to run them, with
``MALLOC_MMAP_THRESHOLD_=131072``: glibc's default raises that threshold after the first
whole page a worker buffers and frees, after which page-sized buffers (and asyncio's
256 KiB read buffers) come from a heap that fragments and is never given back; measured
over 30 minutes that is a slow, steady rise (BENCHMARKS.md). ``--glibc-default`` runs the
workers without it, to see that; a ``MALLOC_*`` variable already in this script's
environment is passed on as it is.

Exit status 1 when the smartseg run shows any 5xx, transport error, unexpected status,
answer that is not in the answer bank afterwards (or that the server refused), any
``Set-Cookie`` over 4,096 bytes, or (judged runs only) workers' RSS that is not flat; the
baseline run must be clean too. Every request goes to 127.0.0.1; every loop is bounded by
the run's deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import random
import re
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from site_example.catalog import INDUSTRY_LIST, PLANS, PRODUCTS  # noqa: E402
from site_example.content import load_articles  # noqa: E402
from smartseg_dsl.cookie import CookieCodec  # noqa: E402
from smartseg_dsl.loader import load_ruleset  # noqa: E402

HOST = "127.0.0.1"
RULES = ROOT / "rules"
SECRET_KEY = "load-test-secret-key"
COOKIE_NAME = "smartseg"
COOKIE_LIMIT = 4096
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
READY_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
# How long visitors may take to finish the request they are in once time is up.
GRACE = REQUEST_TIMEOUT + 5.0
# Memory (see the module doc, "Flat"): the workers' RSS may grow by at most this much over
# the second half of a run, and a run shorter than this is too short to tell.
RSS_FLAT_LIMIT_PCT = 2.0
RSS_JUDGE_MIN_SECONDS = 300.0
# What docs/middleware.md ("Deploying") asks of a deployment on glibc; see "Flat".
DEPLOYMENT_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}

_FORM_RE = re.compile(r"<form\b.*?</form\s*>", re.IGNORECASE | re.DOTALL)


# --------------------------------------------------------------------------- the site


@dataclass(frozen=True)
class Theme:
    """What a visitor with a given industry reads, and how it answers surveys."""

    segment: str  # "Legal"
    pages: tuple[str, ...]


def site_pages() -> tuple[tuple[str, ...], dict[str, Theme]]:
    """Generic pages, and per industry the pages a visitor of that industry reads."""
    articles = load_articles()
    generic = [
        "/",
        "/pricing",
        "/blog",
        "/privacy",
        "/cart",
        *(f"/product/{slug}" for slug in PRODUCTS),
        *(f"/blog/{a.slug}" for a in articles),
        *(f"/{i.slug}/" for i in INDUSTRY_LIST),
    ]
    themes: dict[str, Theme] = {}
    for industry in INDUSTRY_LIST:
        wanted = set(industry.categories)
        reads = [f"/blog/{a.slug}" for a in articles if wanted & set(a.categories)]
        pages = (*reads, f"/{industry.slug}/", f"/pricing/{industry.slug}", "/")
        themes[industry.key] = Theme(industry.key, pages)
    return tuple(generic), themes


# --------------------------------------------------------------------------- forms


@dataclass
class Form:
    action: str
    method: str
    classes: tuple[str, ...]
    fields: dict[str, str] = field(default_factory=dict)
    #: submit buttons: (name, value, formaction or "")
    buttons: list[tuple[str, str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    """The forms of one HTML snippet: action, hidden inputs, submit buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                action=a.get("action", ""),
                method=a.get("method", "get").lower(),
                classes=tuple(a.get("class", "").split()),
            )
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("type", "text").lower() == "hidden" and a.get("name"):
            self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._form.buttons.append(
                (a.get("name", ""), a.get("value", ""), a.get("formaction", ""))
            )

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def parse_forms(html: str) -> list[Form]:
    """Every form of a page. Only the ``<form>…</form>`` snippets are parsed: a whole
    page through HTMLParser would cost the client more than the server spends on it."""
    parser = _FormParser()
    for match in _FORM_RE.finditer(html):
        parser.feed(match.group(0))
    parser.close()
    return parser.forms


# --------------------------------------------------------------------------- measurements


@dataclass
class AnswerRecord:
    about: str
    answer: str
    status: int
    cookie: str | None  # the visitor cookie sent back (else the one the answer was sent with)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    answers: list[AnswerRecord] = field(default_factory=list)
    dismissals: int = 0
    posts: Counter[str] = field(default_factory=Counter)
    surveys_seen: int = 0
    max_set_cookie: int = 0
    max_smartseg_cookie: int = 0
    oversize_cookies: int = 0


class Visitor:
    """One simulated visitor slot: a cookie jar (reset for each new visitor) and a
    connection of its own."""

    def __init__(
        self,
        base_url: str,
        rng: random.Random,
        stats: Stats,
        generic: tuple[str, ...],
        themes: dict[str, Theme],
        loyal: bool,
    ) -> None:
        self.rng = rng
        self.stats = stats
        self.deadline = 0.0  # set by drive() once every visitor's client exists
        self.generic = generic
        self.themes = themes
        self.loyal = loyal
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=REQUEST_TIMEOUT,
            follow_redirects=False,
            trust_env=False,  # never a proxy: every request stays on 127.0.0.1
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.theme: Theme | None = None

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    async def request(
        self, method: str, path: str, expect: int, data: dict[str, str] | None = None
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, data=data)
        except httpx.HTTPError as exc:
            self.stats.errors[f"{type(exc).__name__} on {method} {path.split('?')[0]}"] += 1
            return None
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.statuses[response.status_code] += 1
        if response.status_code != expect:
            key = f"{method} {path.split('?')[0]} -> {response.status_code} (expected {expect})"
            self.stats.unexpected[key] += 1
        for value in response.headers.get_list("set-cookie"):
            size = len(value.encode("latin-1", "replace"))
            self.stats.max_set_cookie = max(self.stats.max_set_cookie, size)
            if value.startswith(COOKIE_NAME + "="):
                self.stats.max_smartseg_cookie = max(self.stats.max_smartseg_cookie, size)
            if size > COOKIE_LIMIT:
                self.stats.oversize_cookies += 1
        return response

    async def run(self) -> None:
        try:
            while self.time_left():
                self.client.cookies = httpx.Cookies()  # a new visitor
                self.theme = (
                    self.rng.choice(list(self.themes.values()))
                    if self.rng.random() < 0.75
                    else None
                )
                visits = 10**6 if self.loyal else self.rng.randint(1, 4)
                for _ in range(visits):
                    if not self.time_left():
                        break
                    await self.journey()
        finally:
            await self.client.aclose()

    def next_path(self) -> str:
        if self.theme is not None and self.rng.random() < 0.6:
            return self.rng.choice(self.theme.pages)
        return self.rng.choice(self.generic)

    async def journey(self) -> None:
        """One visit: a few pages; now and then four product pages in a row (HotLead)."""
        length = self.rng.randint(3, 10)
        products = [f"/product/{slug}" for slug in PRODUCTS]
        plan = (
            [self.rng.choice(products) for _ in range(4)]
            if self.rng.random() < 0.1
            else [self.next_path() for _ in range(length)]
        )
        if self.rng.random() < 0.1:
            plan[self.rng.randrange(len(plan))] += "?utm_medium=email&utm_campaign=compare-q3"
        for path in plan:
            if not self.time_left():
                return
            await self.page(path)

    async def page(self, path: str) -> None:
        response = await self.request("GET", path, 200)
        if response is None or response.status_code != 200:
            return
        html = response.text
        if "<form" not in html:
            return
        forms = parse_forms(html)
        for form in forms:
            if "smartseg-survey" in form.classes and self.time_left():
                self.stats.surveys_seen += 1
                await self.survey(form)
                return  # the survey's redirect brought us to a new page view
        roll = self.rng.random()
        if roll < 0.04:
            await self.post_site_form(forms, "/trial", "trial")
        elif roll < 0.10 and path.startswith("/pricing"):
            await self.post_site_form(forms, "/cart/add", "cart", plan=self.rng.choice(list(PLANS)))
        elif roll < 0.30 and path == "/cart":
            await self.post_site_form(forms, "/checkout", "checkout")

    def choose_answer(self, form: Form) -> str | None:
        values = [
            value for name, value, formaction in form.buttons if name == "answer" and not formaction
        ]
        if not values:
            return None
        about = form.fields.get("about", "")
        mine = self.theme.segment if self.theme else None
        if set(values) == {"yes", "no"}:
            if mine and about.endswith("." + mine):
                return "yes" if self.rng.random() < 0.85 else "no"
            return "no" if self.rng.random() < 0.8 else "yes"
        if mine in values and self.rng.random() < 0.85:
            return mine
        return self.rng.choice(values)

    async def survey(self, form: Form) -> None:
        """Answer (most of the time), dismiss or ignore the survey, like people do."""
        roll = self.rng.random()
        if roll >= 0.95:
            return
        if roll >= 0.85:
            dismiss = next((fa for _, _, fa in form.buttons if fa), None)
            if dismiss:
                response = await self.request("POST", dismiss, 303, data=dict(form.fields))
                self.stats.dismissals += 1
                await self.follow(response)
            return
        answer = self.choose_answer(form)
        if answer is None:
            return
        sent_with = self.client.cookies.get(COOKIE_NAME)
        data = {**form.fields, "answer": answer}
        response = await self.request("POST", form.action, 303, data=data)
        if response is None:
            return  # a transport error: counted; the answer's fate is unknown
        cookie = None
        for value in response.headers.get_list("set-cookie"):
            if value.startswith(COOKIE_NAME + "="):
                cookie = value.split(";", 1)[0].split("=", 1)[1]
        self.stats.answers.append(
            AnswerRecord(
                form.fields.get("about", ""), answer, response.status_code, cookie or sent_with
            )
        )
        await self.follow(response)

    async def post_site_form(self, forms: list[Form], action: str, kind: str, **extra: str) -> None:
        form = next((f for f in forms if f.action == action and "csrf_token" in f.fields), None)
        if form is None:
            return  # the slot that holds it was replaced on this page
        data = {**form.fields, **extra}
        response = await self.request("POST", action, 303, data=data)
        self.stats.posts[kind] += 1
        await self.follow(response)

    async def follow(self, response: httpx.Response | None) -> None:
        if response is None or response.status_code != 303 or not self.time_left():
            return
        location = response.headers.get("location", "/")
        if not location.startswith("/") or location.startswith("//"):
            self.stats.unexpected[f"redirect off site: {location[:80]}"] += 1
            return
        await self.request("GET", location, 200)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when this script dies (even by SIGKILL), so
    an interrupted load test leaves no uvicorn behind. (Its workers follow their
    supervisor.)"""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Server:
    """``uvicorn site_example.asgi:app_from_env --factory --workers N`` in a subprocess."""

    def __init__(self, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "site_example.asgi:app_from_env",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=log_path.parent,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def allocator_env(self) -> list[dict[str, str]]:
        """Each worker's ``MALLOC_*`` environment, read from /proc (what it really got)."""
        seen: list[dict[str, str]] = []
        for pid in self.worker_pids():
            try:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0"))
            seen.append({k: v for k, _, v in pairs if k.startswith("MALLOC_")})
        return seen

    def worker_pids(self) -> list[int]:
        """The worker processes: children of the uvicorn supervisor running
        multiprocessing's spawn_main (not its resource tracker)."""
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.process.pid:
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ValueError, IndexError):
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def rss(self) -> dict[int, int]:
        out = {}
        for pid in self.worker_pids():
            value = rss_kib(pid)
            if value is not None:
                out[pid] = value
        return out

    def cpu(self) -> dict[int, float]:
        out = {}
        for pid in self.worker_pids():
            value = cpu_seconds(pid)
            if value is not None:
                out[pid] = value
        return out

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"uvicorn exited early:\n{self.log()}")
                try:
                    ok = client.get(self.base_url + "/").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok and len(self.worker_pids()) >= self.workers:
                    return
                time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not become ready in {READY_TIMEOUT:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # the supervisor stops its workers
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def serving(workers: int, env: dict[str, str], log_path: Path) -> Iterator[Server]:
    server = Server(workers, env, log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- a run


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def warm_up(base_url: str, pages: tuple[str, ...]) -> None:
    """Every page a few times, so that both workers have compiled their templates and
    rules before memory and time are measured."""
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, trust_env=False) as c:
        for _ in range(3):
            await asyncio.gather(*(c.get(path) for path in pages))


async def drive(base_url: str, seconds: float, visitors: int, seed: int, stats: Stats) -> float:
    generic, themes = site_pages()
    slots = [
        Visitor(
            base_url,
            random.Random(seed * 100_003 + i),
            stats,
            generic,
            themes,
            loyal=i % 10 == 0,
        )
        for i in range(visitors)
    ]
    started = time.monotonic()
    for slot in slots:
        slot.deadline = started + seconds
    tasks = [asyncio.create_task(v.run()) for v in slots]
    done, pending = await asyncio.wait(tasks, timeout=seconds + GRACE)
    for task in pending:  # only a hung server gets here: say so, do not wait forever
        task.cancel()
        stats.errors["visitor still waiting after the deadline"] += 1
    for task in done:
        if task.exception() is not None:
            stats.errors[f"visitor crashed: {task.exception()!r}"] += 1
    return time.monotonic() - started


def answers_in_bank(db_path: Path) -> Counter[tuple[str, str, str]]:
    if not db_path.exists():
        return Counter()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute(
            "SELECT visitor_id, subject, value FROM smartseg_events WHERE kind = 'answer'"
        ).fetchall()
    return Counter((str(v), str(s), str(a)) for v, s, a in rows)


def rss_second_half(
    samples: list[tuple[float, int]],
    *,
    duration: float | None = None,
    limit_pct: float = RSS_FLAT_LIMIT_PCT,
    min_seconds: float = RSS_JUDGE_MIN_SECONDS,
) -> dict[str, Any]:
    """Whether the workers' RSS was flat over the second half of a run.

    ``samples`` are ``(seconds into the run, KiB)``. "Half-way" is the median RSS over the
    tenth of the run around its middle, "end" the median over its last tenth (at least
    2 s each, so one sample cannot decide). ``growth_pct`` compares the two; the trend is
    the least-squares slope over the whole second half, in KiB per minute, so a steady
    leak shows even when the end window happens to sit in a trough. ``flat`` is None when
    the run (``duration``, else the last sample's time) is shorter than ``min_seconds``: a
    run that short is mostly warm-up.
    """
    out: dict[str, Any] = {
        "half_kib": None,
        "end_kib": None,
        "growth_pct": None,
        "trend_kib_per_min": None,
        "limit_pct": limit_pct,
        "flat": None,
    }
    if not samples:
        return out
    total = samples[-1][0]
    span = max(2.0, total / 10)
    middle = [kib for at, kib in samples if abs(at - total / 2) <= span / 2]
    last = [kib for at, kib in samples if at >= total - span]
    if not middle or not last:
        return out
    half, end = statistics.median(middle), statistics.median(last)
    second = [(at, kib) for at, kib in samples if at >= total / 2]
    trend = None
    if len({at for at, _ in second}) >= 2:
        times, kibs = zip(*second, strict=True)
        trend = 60 * statistics.linear_regression(times, kibs).slope
    growth = 100 * (end - half) / half if half else 0.0
    out.update(
        half_kib=round(half),
        end_kib=round(end),
        growth_pct=round(growth, 2),
        trend_kib_per_min=None if trend is None else round(trend, 1),
        flat=None if (duration or total) < min_seconds else growth <= limit_pct,
    )
    return out


def run_once(
    *,
    personalize: bool,
    seconds: float,
    visitors: int,
    workers: int,
    seed: int,
    workdir: Path,
    rss_limit: float = RSS_FLAT_LIMIT_PCT,
    allocator_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    label = "smartseg" if personalize else "baseline"
    db_path = workdir / f"{label}.db"
    env = {
        **(allocator_env or {}),
        "SMARTSEG_DB": str(db_path),
        "SMARTSEG_SECRET_KEY": SECRET_KEY,
        "SMARTSEG_RULES": str(RULES),
        "SMARTSEG_DISABLE": "0" if personalize else "1",
    }
    stats = Stats()
    rss_samples: list[tuple[float, int]] = []  # (seconds into the run, KiB, all workers)
    load_before = os.getloadavg()[0]
    with serving(workers, env, workdir / f"{label}.log") as server:
        rss_boot = server.rss()
        worker_allocator_env = server.allocator_env()
        generic, _ = site_pages()
        asyncio.run(warm_up(server.base_url, generic))
        rss_start = server.rss()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu_before = server.cpu()

        async def sample_rss() -> None:
            began = time.monotonic()
            while True:
                rss_samples.append((time.monotonic() - began, sum(server.rss().values())))
                await asyncio.sleep(1.0)

        async def main() -> float:
            sampler = asyncio.create_task(sample_rss())
            try:
                return await drive(server.base_url, seconds, visitors, seed, stats)
            finally:
                sampler.cancel()

        elapsed = asyncio.run(main())
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu_after = server.cpu()
        rss_end = server.rss()
        load_after = os.getloadavg()[0]
        worker_log = server.log()
    # Read the answer bank after the workers have closed it.
    bank = answers_in_bank(db_path)

    codec = CookieCodec(load_ruleset(RULES), SECRET_KEY) if stats.answers else None
    given: Counter[tuple[str, str, str]] = Counter()
    rejected = undecodable = 0
    for record in stats.answers:
        if record.status != 303:
            rejected += 1
            continue
        state = None
        if codec is not None and record.cookie:
            state, _why = codec.loads(record.cookie, time.time())
        if state is None:
            undecodable += 1
            continue
        given[(state.visitor_id, record.about, record.answer)] += 1
    lost = given - bank
    extra = bank - given

    latencies = sorted(stats.latencies)
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    # Workers' CPU per request: unlike requests/s, it does not depend on whether the
    # load generator or the server was the bottleneck on this machine.
    server_cpu = sum(
        server_cpu_after[pid] - server_cpu_before[pid]
        for pid in server_cpu_after
        if pid in server_cpu_before
    )
    fivexx = sum(n for status, n in stats.statuses.items() if status >= 500)
    return {
        "label": label,
        "seconds": round(elapsed, 2),
        "visitors": visitors,
        "workers": workers,
        "worker_allocator_env": worker_allocator_env,
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / len(latencies), 3)
        if latencies
        else 0.0,
        "server_cpu_percent": round(100 * server_cpu / elapsed, 1) if elapsed else 0.0,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "5xx": fivexx,
        "errors": dict(stats.errors),
        "unexpected": dict(stats.unexpected),
        "surveys_seen": stats.surveys_seen,
        "answers_given": sum(given.values()),
        "answers_rejected": rejected,
        "answers_undecodable": undecodable,
        "answers_in_bank": sum(bank.values()),
        "answers_lost": sum(lost.values()),
        "answers_unexpected_in_bank": sum(extra.values()),
        "dismissals": stats.dismissals,
        "posts": dict(stats.posts),
        "max_set_cookie_bytes": stats.max_set_cookie,
        "max_smartseg_cookie_bytes": stats.max_smartseg_cookie,
        "oversize_cookies": stats.oversize_cookies,
        "rss_kib_boot": sum(rss_boot.values()),
        "rss_kib_start": sum(rss_start.values()),
        "rss_kib_end": sum(rss_end.values()),
        "rss_kib_peak": max((kib for _, kib in rss_samples), default=0),
        # The verdict: growth over the second half (the first half is the warm-up).
        "rss_second_half": rss_second_half(rss_samples, duration=elapsed, limit_pct=rss_limit),
        "rss_kib_trend": [[round(at), kib] for at, kib in rss_samples[::5]],
        "rss_kib_per_worker": {
            str(pid): [rss_start.get(pid), rss_end.get(pid)]
            for pid in sorted(set(rss_start) | set(rss_end))
        },
        "loadavg_before_after": [round(load_before, 2), round(load_after, 2)],
        "client_cpu_percent": round(100 * client_cpu / elapsed, 1) if elapsed else 0.0,
        "server_log_tail": worker_log[-2000:],
    }


def problems(result: dict[str, Any]) -> list[str]:
    out = []
    if result["5xx"]:
        out.append(f"{result['5xx']} responses with a 5xx status")
    if result["errors"]:
        out.append(f"transport errors: {result['errors']}")
    if result["unexpected"]:
        out.append(f"unexpected statuses: {result['unexpected']}")
    if result["answers_lost"]:
        out.append(f"{result['answers_lost']} answers accepted but not in the answer bank")
    if result["answers_rejected"]:
        out.append(f"{result['answers_rejected']} answers refused by the server")
    if result["answers_undecodable"]:
        out.append(f"{result['answers_undecodable']} answers without a readable visitor cookie")
    if result["answers_unexpected_in_bank"]:
        out.append(f"{result['answers_unexpected_in_bank']} answer rows nobody gave")
    if result["oversize_cookies"]:
        out.append(f"{result['oversize_cookies']} Set-Cookie headers over {COOKIE_LIMIT} bytes")
    if result["requests"] == 0:
        out.append("no request completed")
    memory = result["rss_second_half"]
    if memory["flat"] is False:
        out.append(
            f"workers' RSS not flat: {memory['growth_pct']:+.1f} % over the second half of the "
            f"run (limit +{memory['limit_pct']:g} %; trend {memory['trend_kib_per_min']} KiB/min)"
        )
    return [f"{result['label']}: {p}" for p in out]


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """The table for BENCHMARKS.md: one column per run."""

    def growth(r: dict[str, Any]) -> str:
        start, end = r["rss_kib_start"], r["rss_kib_end"]
        pct = 100 * (end - start) / start if start else 0.0
        return f"{mib(start)} → {mib(end)} ({pct:+.1f} %, peak {mib(r['rss_kib_peak'])})"

    def second_half(r: dict[str, Any]) -> str:
        v = r["rss_second_half"]
        if v["half_kib"] is None:
            return "—"
        trend = v["trend_kib_per_min"]
        slope = "" if trend is None else f", trend {trend / 1024:+.2f} MiB/min"
        return f"{mib(v['half_kib'])} → {mib(v['end_kib'])} ({v['growth_pct']:+.1f} %{slope})"

    def flat(r: dict[str, Any]) -> str:
        v = r["rss_second_half"]
        if v["flat"] is None:
            return f"not judged (runs under {RSS_JUDGE_MIN_SECONDS:.0f} s are mostly warm-up)"
        verdict = "yes" if v["flat"] else "**NO**"
        return f"{verdict} (limit +{v['limit_pct']:g} % over the second half)"

    rows = [
        ("duration", lambda r: f"{r['seconds']:.1f} s"),
        ("visitors / workers", lambda r: f"{r['visitors']} / {r['workers']}"),
        ("requests", lambda r: f"{r['requests']:,}"),
        ("requests/s", lambda r: f"{r['rps']:,.0f}"),
        ("latency p50", lambda r: f"{r['p50_ms']:.1f} ms"),
        ("latency p99", lambda r: f"{r['p99_ms']:.1f} ms"),
        ("5xx / transport errors", lambda r: f"{r['5xx']} / {sum(r['errors'].values())}"),
        ("unexpected statuses", lambda r: str(sum(r["unexpected"].values()))),
        ("surveys shown", lambda r: f"{r['surveys_seen']:,}"),
        (
            "answers given / in bank / lost",
            lambda r: f"{r['answers_given']:,} / {r['answers_in_bank']:,} / {r['answers_lost']}",
        ),
        (
            "trial / cart / checkout posts",
            lambda r: "{trial} / {cart} / {checkout}".format(
                trial=r["posts"].get("trial", 0),
                cart=r["posts"].get("cart", 0),
                checkout=r["posts"].get("checkout", 0),
            ),
        ),
        ("largest Set-Cookie", lambda r: f"{r['max_set_cookie_bytes']:,} bytes"),
        ("workers' RSS at boot", lambda r: mib(r["rss_kib_boot"])),
        ("workers' RSS after page warm-up → end", growth),
        ("workers' RSS half-way → end", second_half),
        ("workers' RSS flat", flat),
        (
            "workers' CPU per request",
            lambda r: (
                f"{r['server_cpu_ms_per_request']:.2f} ms "
                f"({r['server_cpu_percent']:.0f} % of one core)"
            ),
        ),
        ("load generator CPU", lambda r: f"{r['client_cpu_percent']:.0f} % of one core"),
        (
            "machine load average before / after",
            lambda r: "{} / {}".format(*r["loadavg_before_after"]),
        ),
    ]
    titles = {"baseline": "without smartseg", "smartseg": "with smartseg"}
    runs = list(results.values())
    lines = [
        "| | " + " | ".join(titles[r["label"]] for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    lines += [f"| {name} | " + " | ".join(fmt(r) for r in runs) + " |" for name, fmt in rows]
    if "baseline" in results and "smartseg" in results and results["baseline"]["rps"]:
        ratio = results["smartseg"]["rps"] / results["baseline"]["rps"]
        lines += ["", f"Throughput with smartseg: {ratio:.2f}× the baseline."]
    if "baseline" in results and "smartseg" in results:
        extra = results["smartseg"]["rss_kib_end"] - results["baseline"]["rss_kib_end"]
        workers = results["smartseg"]["workers"]
        lines += [
            f"Workers' RSS at the end with smartseg: {extra / 1024:+.1f} MiB over the baseline "
            f"({extra / 1024 / workers:+.1f} MiB per worker)."
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/load.py", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--visitors", type=int, default=100, help="concurrent visitors")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--ci", action="store_true", help="short form: 10 s per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--rss-limit",
        type=float,
        default=RSS_FLAT_LIMIT_PCT,
        metavar="PCT",
        help="most the workers' RSS may grow over the second half of a run, in %% "
        f"(default {RSS_FLAT_LIMIT_PCT:g}; judged from {RSS_JUDGE_MIN_SECONDS:.0f} s runs on)",
    )
    parser.add_argument(
        "--only",
        choices=("baseline", "smartseg"),
        default=None,
        help="one run only (investigating; the comparison needs both)",
    )
    parser.add_argument(
        "--glibc-default",
        action="store_true",
        help="run the workers with glibc's default allocator settings, not the deployment's "
        "MALLOC_MMAP_THRESHOLD_ (see the module doc, 'Flat')",
    )
    args = parser.parse_args(argv)
    seconds = 10.0 if args.ci else args.seconds
    if seconds <= 0 or args.visitors <= 0 or args.workers <= 0:
        parser.error("--seconds, --visitors and --workers must be positive")

    workdir = Path(tempfile.mkdtemp(prefix="smartseg-load-"))
    print(
        f"load test: {args.visitors} visitors, {seconds:.0f} s per run, "
        f"{args.workers} uvicorn workers, {os.cpu_count()} CPUs (work dir {workdir})",
        flush=True,
    )
    # Allocator settings change the workers' RSS (see "Flat"): say which are in force.
    allocator = {
        k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "PYTHONMALLOC"
    }
    if not args.glibc_default and not any(k.startswith("MALLOC_") for k in allocator):
        allocator.update(DEPLOYMENT_MALLOC_ENV)
    print(
        "workers' allocator settings: "
        + (" ".join(f"{k}={v}" for k, v in allocator.items()) or "glibc defaults")
    )
    results: dict[str, dict[str, Any]] = {}
    for label in ("baseline", "smartseg"):
        if args.only not in (None, label):
            continue
        print(f"  {label} run…", flush=True)
        results[label] = run_once(
            personalize=label == "smartseg",
            seconds=seconds,
            visitors=args.visitors,
            workers=args.workers,
            seed=args.seed,
            workdir=workdir,
            rss_limit=args.rss_limit,
            allocator_env=allocator,
        )
    found = [problem for result in results.values() for problem in problems(result)]
    print()
    print(markdown(results))
    summary = {
        "ok": not found,
        "problems": found,
        "cpus": os.cpu_count(),
        "allocator_env": allocator,
        **results,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if found:
        print("\nFAILED:")
        for problem in found:
            print(f"  - {problem}")
        for label, result in results.items():
            if result["server_log_tail"].strip():
                print(f"\n{label} server log (tail):\n{result['server_log_tail']}")
        print(f"\nwork dir kept for inspection: {workdir}")
    elif not args.keep:
        for path in sorted(workdir.iterdir()):
            path.unlink()
        workdir.rmdir()
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

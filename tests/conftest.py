"""Shared test configuration.

Hypothesis runs without deadlines (CI machines are small and shared) and with
a derandomised profile in CI so a failure there is reproducible locally with
`HYPOTHESIS_PROFILE=ci`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

#: the answer bank's fixtures (`store`, `store_url`, `pg_base_url`) for every module
pytest_plugins = ["answers_fixtures"]

settings.register_profile(
    "dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def require_corpus() -> Path:
    """The shared HTML corpus; a test that needs it skips only outside the workspace."""
    if not CORPUS.is_dir():
        if IN_CI:
            pytest.fail(f"the shared corpus is missing at {CORPUS} (CI must have it)")
        pytest.skip(f"the shared corpus is not at {CORPUS} (checkout outside the workspace)")
    return CORPUS


@pytest.fixture
def corpus() -> Path:
    return require_corpus()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def fresh_rewriter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rewriter raising its internal errors, with empty page and extent memos."""
    from smartseg_dsl import rewrite

    monkeypatch.setattr(rewrite, "_RAISE_INTERNAL_ERRORS", True)
    rewrite._PAGES.clear()
    rewrite._EXTENTS.clear()
    yield
    rewrite._PAGES.clear()
    rewrite._EXTENTS.clear()

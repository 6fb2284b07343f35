"""The report's statistics agree with GrowthBook's `gbstats` (SPEC §6) to 1e-6.

`smartseg_dsl.measure.stats` is standard library only; gbstats (with scipy,
numpy, pandas) is the oracle here: its frequentist `TwoSidedTTest` for the lift,
interval and p-value, `EffectBayesianABTest` with the default prior for the
chance to beat, and `check_srm` for the sample-ratio check — on hypothesis-made
sufficient statistics and on the edge cases (no or all conversions, tiny and
huge samples). Where gbstats gives its uninformative default (an error message),
we give no numbers and a reason.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.measure.stats import (
    Cell,
    chi2_sf,
    compare,
    srm_p_value,
    student_t_ppf,
    student_t_sf,
)

gbstats = pytest.importorskip("gbstats", reason="gbstats is the oracle (pip install -e '.[test]')")

from gbstats.bayesian.tests import EffectBayesianABTest  # noqa: E402
from gbstats.frequentist.tests import TwoSidedTTest  # noqa: E402
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic  # noqa: E402
from gbstats.utils import check_srm  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

TOL = 1e-6


def _gb(cell: Cell) -> ProportionStatistic | SampleMeanStatistic:
    if cell.sum_squares is None:
        return ProportionStatistic(n=cell.n, sum=cell.total)
    return SampleMeanStatistic(n=cell.n, sum=cell.total, sum_squares=cell.sum_squares)


def _close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=TOL, abs_tol=TOL)


def assert_agrees(a: Cell, b: Cell) -> None:
    ours = compare(a, b, min_visitors=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy on gbstats' degenerate paths
        freq = TwoSidedTTest(_gb(a), _gb(b)).compute_result()
        bayes = EffectBayesianABTest(_gb(a), _gb(b)).compute_result()
    if freq.error_message or bayes.error_message:
        assert ours.lift is None and ours.note, (a, b, freq.error_message, ours)
        return
    assert ours.note is None, (a, b, ours)
    assert ours.lift is not None and ours.ci95 is not None
    assert ours.p_value is not None and ours.chance_to_beat is not None
    assert _close(ours.lift, freq.expected), (ours.lift, freq.expected)
    assert _close(ours.ci95[0], freq.ci[0]), (ours.ci95, freq.ci)
    assert _close(ours.ci95[1], freq.ci[1]), (ours.ci95, freq.ci)
    assert _close(ours.p_value, freq.p_value), (ours.p_value, freq.p_value)
    assert _close(ours.chance_to_beat, bayes.chance_to_win), (
        ours.chance_to_beat,
        bayes.chance_to_win,
    )


@st.composite
def proportions(draw: st.DrawFn) -> Cell:
    n = draw(st.integers(2, 5_000_000))
    return Cell(n, draw(st.integers(0, n)))


@st.composite
def sample_means(draw: st.DrawFn) -> Cell:
    """Σx and Σx² of n non-negative per-visitor totals, consistent (variance ≥ 0)."""
    n = draw(st.integers(2, 2_000_000))
    paying = draw(st.integers(0, n))
    mean_paid = draw(st.floats(0.01, 5000))
    spread = draw(st.floats(0, 3))
    total = paying * mean_paid
    # Σx² ≥ (Σx)²/paying for the payers; spread adds variance among them
    squares = (total**2 / paying) * (1 + spread) if paying else 0.0
    return Cell(n, total, squares)


@given(proportions(), proportions())
def test_proportions_agree_with_gbstats(a: Cell, b: Cell) -> None:
    assert_agrees(a, b)


@given(sample_means(), sample_means())
def test_sample_means_agree_with_gbstats(a: Cell, b: Cell) -> None:
    assert_agrees(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Cell(1000, 0), Cell(1000, 10)),  # baseline without conversions
        (Cell(1000, 10), Cell(1000, 0)),  # variant without conversions
        (Cell(1000, 1000), Cell(1000, 990)),  # everybody converted
        (Cell(1000, 990), Cell(1000, 1000)),
        (Cell(50, 1), Cell(50, 2)),  # the smallest cells that get statistics
        (Cell(2, 1), Cell(3, 1)),  # tiny
        (Cell(10**9, 5 * 10**7), Cell(10**9, 5 * 10**7 + 10**5)),  # huge
        (Cell(10**8, 1), Cell(10**8, 3)),  # huge and rare
        (Cell(4000, 200), Cell(36000, 2160)),  # the holdout of the population test
        (Cell(1000, 0.0, 0.0), Cell(1000, 50.0, 2500.0)),  # value goal: nobody paid
        (Cell(1000, 50.0, 2500.0), Cell(1000, 50.0, 2500.0)),  # identical
        (Cell(100, 1200.0, 90000.0), Cell(120, 2000.0, 150000.0)),
        (Cell(1, 10.0, 100.0), Cell(1000, 50.0, 2500.0)),  # n = 1: no variance
    ],
)
def test_edge_cases_agree_with_gbstats(a: Cell, b: Cell) -> None:
    assert_agrees(a, b)


def test_too_few_visitors_have_no_statistics() -> None:
    result = compare(Cell(49, 10), Cell(5000, 600))
    assert result.lift is None and result.p_value is None and result.note == "too few visitors"
    assert compare(Cell(50, 10), Cell(50, 12)).lift is not None


@given(
    st.lists(st.integers(0, 200_000), min_size=2, max_size=5),
    st.lists(st.floats(0.1, 10), min_size=5, max_size=5),
)
def test_srm_agrees_with_gbstats(counts: list[int], weights: list[float]) -> None:
    weights = weights[: len(counts)]
    assert _close(srm_p_value(counts, weights), float(check_srm(counts, weights)))


@pytest.mark.parametrize("dof", [1, 2.5, 10, 49.5, 98, 1e3, 4.2e4, 1e5, 1e6, 1e7, 2e8, 1e9])
def test_student_t_agrees_with_scipy(dof: float) -> None:
    assert _close(student_t_ppf(0.975, dof), float(scipy_stats.t.ppf(0.975, dof)))
    for t in (0.0, 0.2, 1.0, 1.96, 2.6, 4.0, 7.5, 30.0):
        assert _close(student_t_sf(t, dof), float(scipy_stats.t.sf(t, dof)))
        assert _close(student_t_sf(-t, dof), float(scipy_stats.t.sf(-t, dof)))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7])
def test_chi2_agrees_with_scipy(dof: int) -> None:
    for x in (0.0, 0.01, 0.5, 1.0, 3.8, 10.0, 16.3, 60.0, 400.0):
        assert _close(chi2_sf(x, dof), float(scipy_stats.chi2.sf(x, dof)))


def test_the_middleware_never_needs_scipy() -> None:
    """stats.py is standard library only: importing it pulls in neither scipy nor numpy."""
    import subprocess
    import sys

    code = (
        "import sys; import smartseg_dsl.measure.report, smartseg_dsl.measure.stats;"
        "bad = [m for m in ('scipy', 'numpy', 'gbstats', 'pandas') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

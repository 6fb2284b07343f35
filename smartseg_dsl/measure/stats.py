"""The report's statistics (SPEC §6), exactly as GrowthBook's `gbstats` 0.8 computes them.

Standard library only, so the report needs neither scipy nor numpy:

* `compare(a, b)` — variant `b` against baseline `a`: the relative lift, its 95 %
  interval and two-sided p-value of gbstats' frequentist `TwoSidedTTest` (delta
  method on the relative difference, Welch–Satterthwaite degrees of freedom,
  Student t), and the chance to beat of `EffectBayesianABTest` with its default
  (improper) prior, which makes the posterior of the lift Normal(lift, variance).
* `srm_p_value(counts, weights)` — gbstats' `check_srm`: Pearson χ² of observed
  counts against the weights.

Where gbstats answers with its "uninformative default" (a baseline mean of 0, a
variance of 0, an empty arm) we return no numbers and a plain-words reason, and
a cell under `MIN_VISITORS` gets "too few visitors": a lift of 0 with p = 1, as
gbstats would print, would read to a marketer like evidence of no effect.

The Student-t tail and quantile and the χ² tail are computed from the regularised
incomplete beta and gamma functions (continued fractions, Numerical Recipes
§6.2/§6.4) with R's `lbeta` decomposition for large arguments: relative error
below 1e-10 up to a million degrees of freedom and about 1e-8 at a billion (the
continued fraction converges slowly there), far inside the report's precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "MIN_VISITORS",
    "Cell",
    "Comparison",
    "chi2_sf",
    "compare",
    "srm_p_value",
    "student_t_ppf",
    "student_t_sf",
]

#: Fewer visitors than this on either side: counts only, no statistics (SPEC §6).
MIN_VISITORS = 50
ALPHA = 0.05

TOO_FEW = "too few visitors"
NO_BASELINE = "no conversions in the baseline yet"
NO_VARIATION = "no variation yet (nobody or everybody converted)"

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITER = 1_000_000


@dataclass(frozen=True, slots=True)
class Cell:
    """Sufficient statistics of one arm for one goal.

    A proportion (`sum_squares is None`): n visitors, `total` of them converted.
    A sample mean: n visitors, `total` = Σx and `sum_squares` = Σx² over visitors,
    x being a visitor's total value (0 for a visitor without one).
    """

    n: int
    total: float
    sum_squares: float | None = None

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.sum_squares is None:  # gbstats ProportionStatistic
            return self.mean * (1 - self.mean)
        if self.n <= 1:  # gbstats SampleMeanStatistic
            return 0.0
        return (self.sum_squares - self.total**2 / self.n) / (self.n - 1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """`b` against `a`; the numbers are None when `note` says why there are none."""

    lift: float | None = None
    ci95: tuple[float, float] | None = None
    p_value: float | None = None
    chance_to_beat: float | None = None
    note: str | None = None


def compare(a: Cell, b: Cell, *, min_visitors: int = MIN_VISITORS) -> Comparison:
    """Relative lift of `b` over baseline `a`, as gbstats' t-test and Bayesian test."""
    if a.n < min_visitors or b.n < min_visitors:
        return Comparison(note=TOO_FEW)
    if a.n == 0 or b.n == 0 or a.mean == 0:
        return Comparison(note=NO_BASELINE)
    var_a, var_b = a.variance, b.variance
    if var_a <= 0 or var_b <= 0:
        return Comparison(note=NO_VARIATION)
    mean_a, mean_b = a.mean, b.mean
    lift = (mean_b - mean_a) / mean_a
    # delta method for the relative difference (gbstats `frequentist_variance`)
    variance = var_b / (mean_a**2 * b.n) + var_a * mean_b**2 / (mean_a**4 * a.n)
    se = math.sqrt(variance)
    dof = (var_b / b.n + var_a / a.n) ** 2 / (
        var_b**2 / (b.n**2 * (b.n - 1)) + var_a**2 / (a.n**2 * (a.n - 1))
    )
    width = student_t_ppf(1 - ALPHA / 2, dof) * se
    p_value = 2 * student_t_sf(abs(lift / se), dof)
    # improper Gaussian prior: posterior mean = lift, sd = se; P(effect > 0)
    chance = NormalDist().cdf(lift / se)
    return Comparison(lift, (lift - width, lift + width), min(1.0, p_value), chance)


def srm_p_value(counts: Sequence[int], weights: Sequence[float]) -> float:
    """gbstats `check_srm`: χ² of `counts` against `weights` (df = arms − 1)."""
    total = sum(counts)
    if not total or len(counts) < 2:
        return 1.0
    total_weight = sum(weights)
    x = 0.0
    for observed, weight in zip(counts, weights, strict=True):
        if weight <= 0:
            continue
        expected = weight / total_weight * total
        x += (observed - expected) ** 2 / expected
    return chi2_sf(x, len(counts) - 1)


# --------------------------------------------------------------------------- distributions


def student_t_sf(t: float, dof: float) -> float:
    """P(T > t) for Student's t with `dof` (any positive real) degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    # I_x(dof/2, 1/2) with x = dof/(dof+t²), 1-x passed separately: no cancellation
    tail = 0.5 * _betai(dof / 2, 0.5, dof / (dof + t2), t2 / (dof + t2))
    return tail if t > 0 else 1 - tail


def student_t_ppf(q: float, dof: float) -> float:
    """The `q` quantile (0.5 < q < 1) of Student's t with `dof` degrees of freedom."""
    if not 0.5 < q < 1:
        raise ValueError("student_t_ppf is only needed for upper quantiles")
    # The t cdf is concave above 0 and the normal quantile lies below the t quantile,
    # so Newton's iterates from there rise monotonically onto the root.
    t = NormalDist().inv_cdf(q)
    target = 1 - q
    for _ in range(100):
        step = (student_t_sf(t, dof) - target) / _t_pdf(t, dof)
        t += step
        # 1e-12: the tail itself is only that exact for millions of degrees of freedom
        if abs(step) <= 1e-12 * abs(t):
            break
    return t


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for a χ² variable with `dof` degrees of freedom."""
    if x <= 0:
        return 1.0
    return _gammq(dof / 2, x / 2)


def _t_pdf(t: float, dof: float) -> float:
    return math.exp(
        -0.5 * math.log(dof) - _lbeta(dof / 2, 0.5) - (dof + 1) / 2 * math.log1p(t * t / dof)
    )


# --------------------------------------------------------------------------- special functions

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgammacor(x: float) -> float:
    """lgamma(x) − Stirling's approximation, for x ≥ 10 (R's `lgammacor`, to ~1e-17)."""
    x2 = 1 / (x * x)
    return (1 / 12 - x2 * (1 / 360 - x2 * (1 / 1260 - x2 * (1 / 1680 - x2 * (1 / 1188))))) / x


def _lbeta(a: float, b: float) -> float:
    """log B(a, b), without the cancellation of lgamma differences for large arguments."""
    p, q = min(a, b), max(a, b)
    if p >= 10:
        corr = _lgammacor(p) + _lgammacor(q) - _lgammacor(p + q)
        return (
            -0.5 * math.log(q)
            + _HALF_LOG_2PI
            + corr
            + (p - 0.5) * math.log(p / (p + q))
            + q * math.log1p(-p / (p + q))
        )
    if q >= 10:
        corr = _lgammacor(q) - _lgammacor(p + q)
        return (
            math.lgamma(p) + corr + p - p * math.log(p + q) + (q - 0.5) * math.log1p(-p / (p + q))
        )
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


def _betai(a: float, b: float, x: float, y: float) -> float:
    """Regularised incomplete beta I_x(a, b), with y = 1 − x given exactly."""
    if x <= 0:
        return 0.0
    if y <= 0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log(y) - _lbeta(a, b))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, y) / b


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            return h
    return h


def _gammq(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x)."""
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P, then Q = 1 − P
        term = total = 1 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1 - total * math.exp(log_front))
    b = x + 1 - a  # continued fraction for Q (modified Lentz)
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(log_front) * h

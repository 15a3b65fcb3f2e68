import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from quanta.errors import QuantaError
from quanta.fit import (PowerLawFit, RankEnvelope, ZipfFit, _power_sums, fit_power_law, fit_rank_frequency,
                        fit_zipf_from_sizes, fit_zipf_mle, rank_frequency_envelope)


# ------------------------------------------------------------------------------------------ power laws
@pytest.mark.parametrize("alpha,L_inf,A", [(0.4, 0.5, 3.0), (0.08, 1.7, 2.0), (1.3, 0.01, 50.0)])
def test_offset_fit_recovers_noiseless_law(alpha, L_inf, A):
    x = np.logspace(1, 6, 30)
    fit = fit_power_law(x, L_inf + A * x ** -alpha, n_boot=20)
    assert fit.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.L_inf == pytest.approx(L_inf, rel=1e-3)
    assert fit.A == pytest.approx(A, rel=1e-3)
    assert fit.r2 > 0.999999 and fit.offset and fit.n_points == 30
    np.testing.assert_allclose(fit.predict(x), L_inf + A * x ** -alpha, rtol=1e-5)


def test_plain_fit_matches_ordinary_least_squares_in_log_space():
    rng = np.random.default_rng(3)
    x = np.logspace(2, 5, 12)
    y = 4.0 * x ** -0.3 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = fit_power_law(x, y, offset=False, n_boot=50)
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    assert fit.alpha == pytest.approx(-slope, rel=1e-10)
    assert fit.A == pytest.approx(math.exp(intercept), rel=1e-8)
    assert fit.L_inf == 0.0 and not fit.offset
    assert fit.alpha_ci[0] < fit.alpha < fit.alpha_ci[1]


def _coverage(noise: float, n_points: int, repeats: int = 200) -> int:
    """How many of ``repeats`` seeded fits' 90% intervals cover the true exponent of 0.3 + 2·x^-0.35 (``n_points``
    log-spaced x from 10 to 1e5, log-normal noise of sd ``noise``)."""
    hits = 0
    for rep in range(repeats):
        rng = np.random.default_rng(1000 + rep)
        x = np.logspace(1, 5, n_points)
        y = (0.3 + 2.0 * x ** -0.35) * np.exp(noise * rng.standard_normal(x.size))
        fit = fit_power_law(x, y, ci=0.9, seed=rep)
        assert fit.ci_level == 0.9 and fit.n_boot == 200
        hits += fit.alpha_ci[0] <= 0.35 <= fit.alpha_ci[1]
    return hits


def test_bootstrap_intervals_cover_the_true_exponent():
    """90% intervals of a noisy power law with offset cover the true exponent in >= 80% of 200 repeats, and
    docs/fit.md quotes the counts measured here for its three settings."""
    from pathlib import Path

    from quanta.calibrate.rates import wilson

    counts = {(noise, n): _coverage(noise, n) for noise, n in ((0.02, 20), (0.05, 25), (0.01, 15))}
    assert counts[(0.02, 20)] >= 160, f"coverage {counts[(0.02, 20)]}/200"
    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "fit.md").read_text().split())
    for (noise, n), k in counts.items():
        lo, hi = wilson(k, 200)
        assert f"{k}/200 ({k / 200:.0%} [{lo:.0%}, {hi:.0%}]; {noise:.0%} noise, {n} points)" in doc


def test_x_range_and_to_dict_and_determinism():
    x = np.logspace(0, 4, 25)
    y = 0.2 + x ** -0.5
    fit = fit_power_law(x, y, x_range=(10, 1000), n_boot=30, seed=1)
    assert fit.x_min >= 10 and fit.x_max <= 1000 and fit.n_points == int(((x >= 10) & (x <= 1000)).sum())
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert isinstance(d["alpha_ci"], list) and d["alpha"] == fit.alpha
    again = fit_power_law(x, y, x_range=(10, 1000), n_boot=30, seed=1)
    assert again == fit
    assert isinstance(fit, PowerLawFit)


def test_no_bootstrap_gives_nan_interval_and_none_in_json():
    x = np.logspace(0, 3, 10)
    fit = fit_power_law(x, x ** -0.5, offset=False, n_boot=0)
    assert all(math.isnan(v) for v in fit.alpha_ci)
    assert fit.to_dict()["alpha_ci"] == [None, None]


@pytest.mark.parametrize("x,y,offset,match", [
    ([1, 2, 3], [3, 2, 1], True, "too few points"),
    ([1, 2], [3, 2], False, "too few points"),
    ([1, 2, np.nan, 4], [4, 3, 2, 1], False, "finite"),
    ([1, 2, 3, 4], [4, 3, np.inf, 1], False, "finite"),
    ([0, 1, 2, 3], [4, 3, 2, 1], False, "x must be positive"),
    ([1, 2, 3, 4], [4, 3, 0, 1], False, "y must be positive"),
    ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], True, "does not decrease"),
    ([1, 2, 3], [1, 2], False, "same length"),
    ([2, 2, 2, 2], [4, 3, 2, 1], True, "distinct"),
    ([[1, 2], [3, 4]], [1, 2], False, "1-d"),
    (["a", "b", "c"], [1, 2, 3], False, "numbers"),
])
def test_power_law_rejects_bad_data(x, y, offset, match):
    with pytest.raises(QuantaError, match=match):
        fit_power_law(x, y, offset=offset, n_boot=10)


@pytest.mark.parametrize("kwargs,match", [({"n_boot": -1}, "n_boot"), ({"ci": 1.0}, "ci"), ({"ci": 0}, "ci"),
                                          ({"x_range": (100, None)}, "too few"), ({"x_range": 5}, "x_range"),
                                          ({"seed": 1.5}, "seed")])
def test_power_law_rejects_bad_options(kwargs, match):
    x = np.logspace(0, 2, 10)
    with pytest.raises(QuantaError, match=match):
        fit_power_law(x, x ** -0.5, **kwargs)


# ------------------------------------------------------------------------------------------ Zipf sums
@pytest.mark.parametrize("lo,hi", [(1, None), (1, 500), (3, 50_000), (200, 300_000)])
@pytest.mark.parametrize("s", [0.02, 0.5, 0.9998, 1.0, 1.00002, 1.0003, 1.3, 2.5, 7.9])
def test_power_sums_match_direct_sums(lo, hi, s):
    if hi is None and s <= 1:
        return
    top = hi if hi is not None else 2_000_000
    k = np.arange(lo, top + 1, dtype=float)
    w, lk = k ** -s, np.log(k)
    got = [float(z[0]) for z in _power_sums(np.array([s]), lo, hi)]
    want = [w.sum(), (w * lk).sum(), (w * lk * lk).sum()]
    if hi is None:  # the direct sum is cut at 2e6; compare Z0 with scipy's Hurwitz zeta instead
        from scipy.special import zeta

        assert got[0] == pytest.approx(float(zeta(s, lo)), rel=1e-8)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-7)


# ------------------------------------------------------------------------------------------ Zipf MLE
@pytest.mark.parametrize("exponent", [1.2, 1.4, 1.8])
def test_zipf_mle_recovers_planted_exponent(exponent):
    samples = np.random.default_rng(int(exponent * 10)).zipf(exponent, size=100_000)
    fit = fit_zipf_mle(samples, x_min=1, n_boot=100)
    assert abs(fit.exponent - exponent) < 0.05
    assert fit.exponent_ci[0] < fit.exponent < fit.exponent_ci[1]
    assert fit.method == "mle" and fit.n == 100_000 and fit.x_max is None and fit.ks < 0.02
    assert fit.alpha == pytest.approx(fit.exponent - 1)


@pytest.mark.parametrize("exponent", [1.2, 1.8])
def test_zipf_mle_chooses_x_min_by_ks_and_still_recovers(exponent):
    samples = np.random.default_rng(7).zipf(exponent, size=100_000)
    fit = fit_zipf_mle(samples, n_boot=50)
    assert fit.x_min >= 1 and fit.n <= 100_000
    assert abs(fit.exponent - exponent) < 0.05


def test_zipf_mle_with_a_planted_x_min_below_which_the_law_fails():
    rng = np.random.default_rng(11)
    tail = rng.zipf(1.6, size=200_000)
    tail = tail[tail >= 20]
    head = rng.integers(1, 20, size=tail.size)  # flat below 20: not the law
    fit = fit_zipf_mle(np.concatenate([head, tail]), n_boot=0)
    assert 10 <= fit.x_min <= 40
    assert abs(fit.exponent - 1.6) < 0.05


@pytest.mark.parametrize("exponent", [0.8, 1.4])
def test_truncated_zipf_mle_matches_a_brute_force_likelihood(exponent):
    K = 1000
    k = np.arange(1, K + 1)
    p = k ** -exponent / np.sum(k ** -exponent)
    samples = np.random.default_rng(5).choice(k, p=p, size=100_000)
    fit = fit_zipf_mle(samples, x_min=1, x_max=K, n_boot=50)
    counts = np.bincount(samples, minlength=K + 1)[1:]

    def nll(s):
        return s * (counts * np.log(k)).sum() + counts.sum() * np.log(np.sum(k ** -s))

    ref = minimize_scalar(nll, bounds=(0.05, 5), method="bounded", options={"xatol": 1e-10}).x
    assert fit.exponent == pytest.approx(ref, abs=1e-6)
    assert abs(fit.exponent - exponent) < 0.05 and fit.x_max == K


@pytest.mark.parametrize("samples,kwargs,match", [
    ([1.5, 2, 3] * 10, {}, "integers"),
    ([0, 1, 2] * 10, {}, ">= 1"),
    ([3] * 50, {}, "distinct"),
    ([1, 2, 3, 50] * 10, {"x_max": 10}, "exceed x_max"),
    ([1, 2, 3] * 10, {"x_min": 0}, "x_min"),
    ([1, 2, 3] * 10, {"x_min": 5, "x_max": 5}, "x_min"),
    ([1, 2, 3], {"x_min": 1}, "too few samples"),
    ([1, 2, np.nan], {}, "finite"),
])
def test_zipf_mle_rejects_bad_input(samples, kwargs, match):
    with pytest.raises(QuantaError, match=match):
        fit_zipf_mle(samples, n_boot=0, **kwargs)


# ------------------------------------------------------------------------------------------ cluster sizes
def _planted_sizes(exponent, n_parts=1000, members=1_000_000, seed=0):
    p = np.arange(1, n_parts + 1) ** -exponent
    sizes = np.random.default_rng(seed).multinomial(members, p / p.sum())
    return np.random.default_rng(seed + 1).permutation(sizes)  # clusterings come in no particular order


@pytest.mark.parametrize("exponent", [1.1, 1.4])
def test_fit_zipf_from_sizes_recovers_planted_exponent(exponent):
    sizes = _planted_sizes(exponent)
    fit = fit_zipf_from_sizes(sizes, n_boot=100)
    assert isinstance(fit, ZipfFit) and fit.method == "sizes"
    assert abs(fit.exponent - exponent) < 0.05
    assert fit.exponent_ci[0] < fit.exponent < fit.exponent_ci[1]
    assert (fit.x_min, fit.x_max, fit.n) == (1, 1000, int(sizes.sum()))
    sub = fit_zipf_from_sizes(sizes, rank_range=(10, 300), n_boot=0)
    assert abs(sub.exponent - exponent) < 0.05 and (sub.x_min, sub.x_max) == (10, 300)
    # alpha pairs with the bias-corrected exponent, on which the interval is centred
    assert fit.alpha == pytest.approx(fit.exponent_corrected - 1) and fit.to_dict()["alpha"] == fit.alpha
    assert np.isnan(sub.bias) and sub.alpha == pytest.approx(sub.exponent - 1)


@pytest.mark.parametrize("exponent", [1.1, 1.4])
def test_fit_rank_frequency_recovers_planted_exponent(exponent):
    sizes = _planted_sizes(exponent)
    fit = fit_rank_frequency(sizes, rank_range=(1, 300), n_boot=100)
    assert fit.method == "rank_slope" and fit.n == 300
    assert abs(fit.exponent - exponent) < 0.05
    assert fit.exponent_ci[0] < fit.exponent < fit.exponent_ci[1]
    json.dumps(fit.to_dict(), allow_nan=False)


def test_rank_frequency_envelope_and_its_fit():
    a = np.array([5, 50, 10, 1])
    b = np.array([40, 30, 20, 9, 8, 2])
    env = rank_frequency_envelope([a, b])
    assert isinstance(env, RankEnvelope)
    np.testing.assert_array_equal(env, [50, 30, 20, 9, 8, 2])
    assert (np.diff(env) <= 0).all()
    # several clusterings of the same planted law: the envelope keeps its slope
    lists = [_planted_sizes(1.3, n_parts=m, members=500_000, seed=m) for m in (200, 400, 800)]
    env = rank_frequency_envelope(lists)
    fit = fit_rank_frequency(env, rank_range=(5, 150), n_boot=50)
    assert fit.method == "envelope" and abs(fit.exponent - 1.3) < 0.05
    again = fit_rank_frequency(lists, rank_range=(5, 150), n_boot=50)
    assert again == fit


@pytest.mark.parametrize("call,match", [
    (lambda: fit_zipf_from_sizes([5]), "at least 2 parts"),
    (lambda: fit_zipf_from_sizes([5, -1, 3]), "non-negative"),
    (lambda: fit_zipf_from_sizes([5.5, 2, 1]), "whole"),
    (lambda: fit_zipf_from_sizes([50, 20, 10], rank_range=(5, 9)), "only 3 parts"),
    (lambda: fit_zipf_from_sizes([50, 20, 10], rank_range=(2, 1)), "lo < hi"),
    (lambda: fit_rank_frequency([10, 5, 0, 0]), "too few non-empty ranks"),
    (lambda: fit_rank_frequency([]), "empty"),
    (lambda: rank_frequency_envelope([]), "empty"),
])
def test_size_fits_reject_bad_input(call, match):
    with pytest.raises(QuantaError, match=match):
        call()


def test_zipf_fits_refuse_data_flatter_than_any_power_law():
    with pytest.raises(QuantaError, match="flatter"):
        fit_zipf_from_sizes(np.full(100, 1000), n_boot=0)
    # most mass at the top of the range: the frequencies rise with k
    samples = np.concatenate([np.random.default_rng(2).integers(600, 751, size=20_000), np.arange(1, 10)])
    with pytest.raises(QuantaError, match="flatter"):
        fit_zipf_mle(samples, x_min=1, x_max=750, n_boot=0)


def test_bootstrap_beyond_memory_is_one_quanta_error_before_allocating():
    import numpy as np

    from quanta.errors import QuantaError
    from quanta.fit import fit_power_law, fit_zipf_from_sizes

    x = np.geomspace(1, 100, 8)
    with pytest.raises(QuantaError, match="n_boot=100000000000000 .* memory"):
        fit_power_law(x, 0.5 + 3 * x ** -0.4, n_boot=10**14)
    with pytest.raises(QuantaError, match="n_boot=100000000000000 .* memory"):
        fit_zipf_from_sizes(np.array([100, 50, 30, 20, 10, 8, 5, 3, 2, 1]), n_boot=10**14)


@pytest.mark.parametrize("points", [5, 60])
def test_bootstrap_memory_model_bounds_the_measured_peak(points):
    """BOOT_BYTES, the per-replicate figures the up-front n_boot checks use, hold: each fit's traced peak is within
    them and not far below (an estimate that refuses requests that would fit is as wrong as one that lets a
    MemoryError through)."""
    import tracemalloc

    import numpy as np

    from quanta.fit import fit_power_law, fit_rank_frequency, fit_zipf_from_sizes, fit_zipf_mle
    from quanta.fit._shared import bootstrap_bytes
    from quanta.plausibility import power_law_check

    B = 4000
    x = np.geomspace(10, 1e4, points)
    y = 0.5 + 3 * x ** -0.4 * (1 + 0.01 * np.random.default_rng(0).standard_normal(points))
    sizes = np.round(30000 * np.arange(1, points + 1) ** -1.3) + 1
    samples = np.random.default_rng(0).zipf(1.5, 20000)
    samples = samples[samples <= 10 * points]
    values = np.unique(samples).size
    calls = {"fit_power_law": (lambda: fit_power_law(x, y, offset=False, n_boot=B), points),
             "fit_power_law(offset=True)": (lambda: fit_power_law(x, y, n_boot=B), points),
             "fit_zipf_from_sizes": (lambda: fit_zipf_from_sizes(sizes, n_boot=B), points),
             "fit_rank_frequency": (lambda: fit_rank_frequency(sizes, n_boot=B), points),
             "power_law_check": (lambda: power_law_check(sizes, n_boot=B), points),
             "fit_zipf_mle": (lambda: fit_zipf_mle(samples, x_min=1, x_max=10 * points, n_boot=B),
                              values + 10 * points)}
    power_law_check(sizes, n_boot=2)  # imports (scipy's optimisers) outside the traced peaks
    for name, (call, width) in calls.items():
        tracemalloc.start()
        call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        model = bootstrap_bytes(B, width, (name,))
        assert peak <= model <= 4 * peak, (name, points, peak, model)


def test_every_bootstrap_refuses_beyond_memory_before_allocating():
    import numpy as np

    from quanta.errors import QuantaError
    from quanta.fit import fit_rank_frequency, fit_zipf_mle
    from quanta.plausibility import head_law, power_law_check

    sizes = np.round(3000 * np.arange(1, 21) ** -1.4)
    for call in (lambda: fit_rank_frequency(sizes, n_boot=10**14), lambda: power_law_check(sizes, n_boot=10**14),
                 lambda: head_law(sizes, n_boot=10**14),  # not read as "no plausible head"
                 lambda: fit_zipf_mle(np.random.default_rng(0).zipf(2.0, 500), x_max=10**4, n_boot=10**14)):
        with pytest.raises(QuantaError, match="n_boot=100000000000000 .* memory"):
            call()


def test_profile_interval_ends_are_where_the_profile_crosses_the_threshold():
    """Each end of the profile interval is found between grid points, not read off the grid: on narrow intervals
    (40 parity-like sweeps, 0.1-1% noise) the width is that of a 40,001-point scan refined by root finding."""
    from scipy.optimize import brentq
    from scipy.stats import f as f_dist

    from quanta.fit import fit_power_law_profile
    from quanta.fit.profile import _profile_ssr

    rng = np.random.default_rng(7)
    ratios = []
    for _ in range(40):
        x = np.geomspace(1e3, 1e5, 12)
        y = (0.3 + 6 * x ** -rng.uniform(0.2, 0.9)) * (1 + rng.uniform(0.001, 0.01) * rng.standard_normal(12))
        fit = fit_power_law_profile(x, y)
        g = np.linspace(1e-3, 4, 40001)
        s = _profile_ssr(x, y, g)[:, 0]
        i = int(s.argmin())
        thr = s[i] * (1 + f_dist.ppf(0.9, 1, x.size - 3) / (x.size - 3))

        def h(a, x=x, y=y, thr=thr):
            return _profile_ssr(x, y, np.array([a]))[0, 0] - thr

        lo = brentq(h, g[:i + 1][s[:i + 1] > thr][-1], g[i])
        hi = brentq(h, g[i], g[i:][s[i:] > thr][0])
        assert fit.alpha_ci == pytest.approx((lo, hi), abs=2e-5)
        ratios.append((fit.alpha_ci[1] - fit.alpha_ci[0]) / (hi - lo))
    assert min(ratios) > 0.999  # the grid's ends alone gave as little as 0.6 of the width


def test_the_profile_scan_is_each_alphas_least_squares():
    """The closed-form scan of the profile gives, alpha by alpha, the constrained least squares that
    ``numpy.linalg.lstsq`` gives (L_inf clamped to [0, min y) with A refitted, A >= 0): on 200 random sweeps from
    nearly exact to noisy, small and large exponents, and offsets from none to most of the loss."""
    from quanta.fit.profile import _profile_ssr

    def by_lstsq(x, y, alphas):
        w, out = 1.0 / y, []
        for a in alphas:
            u = x ** -a
            (L, A), *_ = np.linalg.lstsq(np.stack([w, u * w], axis=1), np.ones_like(y), rcond=None)
            if L < 0 or L >= y.min():
                L = 0.0 if L < 0 else y.min() * (1 - 1e-9)
                A = float(((u * w) @ (1 - L * w)) / ((u * w) @ (u * w)))
            A = max(A, 0.0)
            r = 1 - L * w - A * u * w
            out.append((r @ r, L, A))
        return np.array(out)

    rng = np.random.default_rng(3)
    grid = np.linspace(1e-3, 4, 301)
    clamped = capped = 0
    for _ in range(200):
        n = int(rng.integers(5, 20))
        x = np.geomspace(rng.uniform(1, 1e3), rng.uniform(1e4, 1e7), n)
        y = (rng.choice([0.0, rng.uniform(0, 1)]) + rng.uniform(0.1, 10) * x ** -rng.uniform(0.05, 1.5)) * (
            1 + rng.choice([1e-4, 1e-2, 0.2]) * rng.standard_normal(n))
        y = np.abs(y) + 1e-6
        got, want = _profile_ssr(x, y, grid, chunk=97), by_lstsq(x, y, grid)
        assert np.allclose(got[:, 0], want[:, 0], rtol=1e-8, atol=1e-14)
        assert np.allclose(got[:, 1:], want[:, 1:], rtol=1e-7, atol=1e-12 * y.max())
        clamped += int((want[:, 1] == 0).any())
        capped += int((want[:, 1] == y.min() * (1 - 1e-9)).any())
    assert clamped > 20 and capped > 20  # both bounds of L_inf were met, so the clamped branches are checked too

"""Per-token scaling curves: a line and a reverse sigmoid in log x fitted to every token's losses, its label
(monogenic, polygenic, neither), the labels' null shares and the learning sizes.

The fits are vectorised: the line fit is closed form, and the sigmoid ``y = lo + (hi - lo)·σ(-k(x - x0))`` is
linear in ``(lo, hi)`` once ``(x0, k)`` is fixed, so it is solved exactly for every token on a grid of transition
points and widths with one matrix product per chunk of tokens. The criteria are documented in docs/lm-analyze.md.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from quanta.errors import QuantaError


LABELS = ("monogenic", "polygenic", "neither")


_LN9 = math.log(9.0)


class TokenFits(NamedTuple):
    """Per-token fits of loss against x = log10 N (or log10 step); every array has shape (T,).

    ``slope`` (nats per decade), ``intercept``, ``r2_line``, ``sse_line``; sigmoid
    ``lo``, ``hi``, ``x0`` (log10 of the transition point), ``width`` (10–90 % width in decades),
    ``sse_sigmoid``, ``r2_sigmoid``; ``sst`` (total sum of squares).
    """

    slope: np.ndarray
    intercept: np.ndarray
    r2_line: np.ndarray
    sse_line: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    x0: np.ndarray
    width: np.ndarray
    sse_sigmoid: np.ndarray
    r2_sigmoid: np.ndarray
    sst: np.ndarray


def model_gap(x: np.ndarray) -> float:
    """Median spacing of adjacent distinct x (log10 units); 1.0 when there is only one."""
    u = np.unique(np.asarray(x, dtype=np.float64))
    return float(np.median(np.diff(u))) if u.size >= 2 else 1.0


def sigmoid_grid(x: np.ndarray, *, n_x0: int = 32, n_width: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """The (x0, width) grid of the sigmoid fit for curves sampled at ``x`` (log10 units).

    x0: ``n_x0`` points evenly inside (smallest x, largest x), ends excluded, plus the midpoints of
    adjacent models (where a step between two models is best placed). A transition outside the
    models is not fitted: a sigmoid's tail through one end point would fit any curve with a kink.
    width: ``n_width`` log-spaced values from 0.05 gap (a step) to twice the span of x.
    Returns the flattened pairs ``(x0, width)``, each of shape (G,).
    """
    x = np.asarray(x, dtype=np.float64)
    u = np.unique(x)
    gap = model_gap(x)
    span = max(u[-1] - u[0], gap)
    x0s = np.unique(np.concatenate([np.linspace(u[0], u[-1], n_x0 + 2)[1:-1], (u[1:] + u[:-1]) / 2]))
    widths = np.geomspace(0.05 * gap, 2 * span, n_width)
    X0, W = np.meshgrid(x0s, widths, indexing="ij")
    return X0.ravel(), W.ravel()


def _sigmoid_design(x, x0, width):
    """(G, M) values s = σ(-k (x - x0)) with k = 2 ln 9 / width: 0.9 at x0 - width/2, 0.1 at x0 + width/2."""
    k = 2 * _LN9 / width
    z = np.clip(k[:, None] * (x[None, :] - x0[:, None]), -60, 60)
    return 1.0 / (1.0 + np.exp(z))


def fit_token_curves(loss: np.ndarray, x: np.ndarray, *, n_x0: int = 32, n_width: int = 12,
                     chunk_elements: int = 4_000_000) -> TokenFits:
    """Fit a line and a reverse sigmoid in x to every token's losses, vectorised.

    Parameters
    ----------
    loss : ndarray, shape (T, M)
        Finite losses (nats) of T tokens under M models.
    x : ndarray, shape (M,)
        log10 of the models' sizes (or steps).
    n_x0, n_width : int
        The sigmoid grid, see :func:`sigmoid_grid`.
    chunk_elements : int
        Tokens are processed in chunks of about ``chunk_elements / grid size``.

    Notes
    -----
    Line: ordinary least squares, closed form. Sigmoid: ``y = lo + (hi - lo)·s`` with
    ``s = σ(-k(x - x0))``. For a fixed grid point ``(x0, width)`` this is a least-squares fit on the
    constant and ``s``; with ``q`` the unit vector along ``s - mean(s)``, the residual is
    ``|y - ȳ|² - (q·(y - ȳ))²`` and ``hi - lo = q·(y - ȳ) / |s - mean(s)|``. So one matrix product
    ``(Y - Ȳ) Q`` scores every grid point for every token, and the best falling fit (hi > lo) is the
    largest positive ``q·(y - ȳ)``. A token with no falling fit gets the constant fit (``x0`` NaN,
    ``hi = lo`` = mean).
    """
    from quanta.progress import progress

    Y = np.asarray(loss)
    x = np.asarray(x, dtype=np.float64)
    T, M = Y.shape
    if x.shape != (M,):
        raise QuantaError(f"x: expected {M} values, one per model, got shape {x.shape}", "pass log10 sizes")
    xc = x - x.mean()
    sxx = float(xc @ xc)

    x0g, wg = sigmoid_grid(x, n_x0=n_x0, n_width=n_width)
    S = _sigmoid_design(x, x0g, wg)                      # (G, M)
    Sc = S - S.mean(axis=1, keepdims=True)               # the sigmoid's part orthogonal to the constant
    norm = np.sqrt(np.einsum("gm,gm->g", Sc, Sc))
    ok = norm > 1e-6 * np.sqrt(M)
    x0g, wg, S, Sc, norm = x0g[ok], wg[ok], S[ok], Sc[ok], norm[ok]
    G = x0g.size
    Q = (Sc / norm[:, None]).T.copy()                    # (M, G): unit vectors q_g
    smean = S.mean(axis=1)

    ymean = np.empty(T)
    sst = np.empty(T)
    slope = np.zeros(T)
    lo = np.empty(T)
    hi = np.empty(T)
    x0 = np.full(T, np.nan)
    width = np.full(T, np.nan)
    sse_sig = np.empty(T)
    step = max(1, int(chunk_elements // max(G, M)))
    for s0 in progress(range(0, T, step), total=-(-T // step), desc="token fits", unit="chunk"):
        sl = slice(s0, min(T, s0 + step))
        y = Y[sl].astype(np.float64)
        ym = y.mean(axis=1)
        yc = y - ym[:, None]
        ss = np.einsum("tm,tm->t", yc, yc)
        ymean[sl], sst[sl] = ym, ss
        if sxx > 0:
            slope[sl] = (yc @ xc) / sxx
        lo[sl] = hi[sl] = ym
        sse_sig[sl] = ss
        z = yc @ Q                                       # (t, G): q_g · (y - ȳ); > 0 means a falling fit
        best = np.argmax(z, axis=1)
        zb = z[np.arange(best.size), best]
        good = zb > 0
        idx = np.arange(sl.start, sl.stop)[good]
        bg = best[good]
        drop = zb[good] / norm[bg]                       # hi - lo of y = lo + (hi - lo)·s_g
        lo[idx] = ymean[idx] - drop * smean[bg]
        hi[idx] = lo[idx] + drop
        x0[idx] = x0g[bg]
        width[idx] = wg[bg]
        sse_sig[idx] = np.maximum(sst[idx] - zb[good] ** 2, 0.0)
    intercept = ymean - slope * x.mean()
    sse_line = np.maximum(sst - slope**2 * sxx, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_line = np.where(sst > 0, 1 - sse_line / sst, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_sig = np.where(sst > 0, 1 - sse_sig / sst, np.nan)
    return TokenFits(slope=slope, intercept=intercept, r2_line=r2_line, sse_line=sse_line, lo=lo, hi=hi, x0=x0,
                     width=width, sse_sigmoid=sse_sig, r2_sigmoid=r2_sig, sst=sst)


def classify_tokens(fits: TokenFits, loss: np.ndarray, x: np.ndarray, cfg) -> np.ndarray:
    """Label every token ``monogenic``, ``polygenic`` or ``neither`` (object array of shape (T,)).

    ``cfg`` is a :class:`quanta.lm.analyze.AnalyzeConfig`; its criteria fields are read.

    ``cfg.criteria == "sigmoid"`` (default), with gap = :func:`model_gap` of x:

    * monogenic: hi - lo >= min_drop, R²_sigmoid >= min_r2_sigmoid,
      SSE_sigmoid <= max_sse_ratio · SSE_line, width <= max_width · gap, and at least ``min_side``
      models on each side of x0;
    * polygenic (if not monogenic): slope <= max_slope (nats per decade) and R²_line >= min_r2_line;
    * neither: the rest.

    ``"reference"``: monogenic when, for some split j (1 <= j < M, models ordered by x), every loss
    before j is above ref_high and every loss from j on is below ref_low; polygenic (if not
    monogenic) when slope < ref_slope and R²_line > ref_r2.
    """
    Y = np.asarray(loss)
    x = np.asarray(x, dtype=np.float64)
    T, M = Y.shape
    with np.errstate(invalid="ignore"):
        if cfg.criteria == "reference":
            order = np.argsort(x, kind="stable")
            Ys = Y[:, order]
            above = np.cumprod(Ys > cfg.ref_high, axis=1).astype(bool)                 # all before j (incl.)
            below = np.cumprod((Ys < cfg.ref_low)[:, ::-1], axis=1)[:, ::-1].astype(bool)  # all from j on
            mono = np.zeros(T, dtype=bool)
            for j in range(1, M):
                mono |= above[:, j - 1] & below[:, j]
            poly = ~mono & (fits.slope < cfg.ref_slope) & (fits.r2_line > cfg.ref_r2)
        else:
            gap = model_gap(x)
            n_left = np.sum(x[None, :] < fits.x0[:, None], axis=1)
            n_right = np.sum(x[None, :] > fits.x0[:, None], axis=1)
            mono = ((fits.hi - fits.lo) >= cfg.min_drop) & (fits.r2_sigmoid >= cfg.min_r2_sigmoid) \
                & (fits.sse_sigmoid <= cfg.max_sse_ratio * fits.sse_line) & (fits.sse_line > 0) \
                & (fits.width <= cfg.max_width * gap) & (n_left >= cfg.min_side) & (n_right >= cfg.min_side) \
                & np.isfinite(fits.x0)
            poly = ~mono & (fits.slope <= cfg.max_slope) & (fits.r2_line >= cfg.min_r2_line)
    labels = np.full(T, "neither", dtype=object)
    labels[poly] = "polygenic"
    labels[mono] = "monogenic"
    return labels


def classification_nulls(loss: np.ndarray, x: np.ndarray, cfg, *, seed: int = 0) -> dict:
    """The monogenic and polygenic shares of two worlds where sizes carry no learning, for beside the observed.

    * ``permuted``: each token's losses shuffled across the model sizes (its own permutation per token), which
      keeps every token's set of losses and destroys their order;
    * ``reversed``: the sizes in reverse order, so that a token "learned" with size is one that got worse.

    ``cfg`` is a :class:`quanta.lm.analyze.AnalyzeConfig` (its grid and criteria). A classification whose observed
    share is near its null share is at noise level. Returns
    ``share_{label}_null_permuted`` and ``share_{label}_null_reversed`` for the monogenic and polygenic labels.
    """
    rng = np.random.default_rng(seed)
    T, M = loss.shape
    perm = np.argsort(rng.random((T, M)), axis=1)
    worlds = {"permuted": np.take_along_axis(loss, perm, axis=1), "reversed": loss[:, ::-1]}
    out = {}
    for name, L in worlds.items():
        fits = fit_token_curves(L, x, n_x0=cfg.n_x0, n_width=cfg.n_width, chunk_elements=cfg.chunk_elements)
        labels = classify_tokens(fits, L, x, cfg)
        for lab in ("monogenic", "polygenic"):
            out[f"share_{lab}_null_{name}"] = float((labels == lab).mean()) if T else None
    return out


def learning_sizes(fits: TokenFits, x: np.ndarray, *, min_drop: float) -> np.ndarray:
    """10^x0 for tokens whose fitted sigmoid falls by at least ``min_drop`` nats with x0 inside the
    range of x (the token is learned within the suite); NaN otherwise."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(fits.x0) & ((fits.hi - fits.lo) >= min_drop) & (fits.x0 > x.min()) & (fits.x0 < x.max())
    return np.where(ok, 10.0 ** np.where(ok, fits.x0, 0.0), np.nan)


def learning_size_distribution(sizes: np.ndarray, labels: np.ndarray, x: np.ndarray) -> pd.DataFrame:
    """Counts of learning sizes on bins between adjacent models (edges at the models and the midpoints
    of adjacent models, in log10), for all tokens with a learning size and for monogenic tokens.

    Columns: ``group`` (``all`` or ``monogenic``), ``bin_lo``, ``bin_hi`` (in units of N or steps),
    ``count``, ``share`` (of the group), ``cumulative_share``.
    """
    u = np.unique(np.asarray(x, dtype=np.float64))
    edges = np.unique(np.concatenate([u, (u[1:] + u[:-1]) / 2]))
    if edges.size < 2:
        edges = np.array([u[0] - 0.5, u[0] + 0.5])
    lx = np.log10(sizes)
    rows = []
    for group, mask in (("all", np.isfinite(lx)), ("monogenic", np.isfinite(lx) & (labels == "monogenic"))):
        cnt, _ = np.histogram(lx[mask], bins=edges)
        tot = cnt.sum()
        share = cnt / tot if tot else np.zeros(cnt.size)
        rows.append(pd.DataFrame({"group": group, "bin_lo": 10.0 ** edges[:-1], "bin_hi": 10.0 ** edges[1:],
                                  "count": cnt.astype(np.int64), "share": share,
                                  "cumulative_share": np.cumsum(share)}))
    return pd.concat(rows, ignore_index=True)

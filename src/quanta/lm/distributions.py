"""Loss distributions of a suite: every model's losses on log-spaced bins, with the share of tokens below a
threshold and the loss-weighted density L·p(L)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def loss_bins(loss_max: float, *, n_bins: int = 60, loss_floor: float = 1e-4) -> np.ndarray:
    """Bin edges: [0, loss_floor) then ``n_bins`` log-spaced bins up to just above ``loss_max``."""
    top = max(float(loss_max), loss_floor * 10.0) * (1 + 1e-6)
    return np.concatenate([[0.0], np.geomspace(loss_floor, top, n_bins + 1)])


def loss_distribution(loss: np.ndarray, models: pd.DataFrame, *, n_bins: int = 60,
                      loss_floor: float = 1e-4) -> pd.DataFrame:
    """Histogram of every model's per-token losses on log-spaced bins.

    Parameters
    ----------
    loss : ndarray, shape (T, M)
        Finite per-token losses (nats), one column per row of ``models``.
    models : DataFrame
        With ``model``, ``n_params_nonembed`` and ``step``.
    n_bins, loss_floor
        See :func:`loss_bins`. Negative losses (rounding) are counted in the first bin.

    Returns
    -------
    DataFrame
        One row per (model, bin): ``model``, ``n_params_nonembed``, ``step``, ``bin``, ``bin_lo``,
        ``bin_hi``, ``count``, ``share`` (sums to 1 per model), ``density`` (share per nat = p(L)),
        ``loss_density`` (the bin average of L·p(L)), ``mean_loss_contrib`` (Σ of the bin's losses / T;
        sums to the model's mean loss) and ``loss_share`` (the bin's part of the total loss; sums to 1).
    """
    loss = np.asarray(loss)
    T, M = loss.shape
    edges = loss_bins(np.nanmax(loss) if T else 1.0, n_bins=n_bins, loss_floor=loss_floor)
    nb = edges.size - 1
    widths = np.diff(edges)
    rows = []
    for m in range(M):
        col = loss[:, m].astype(np.float64)
        b = np.clip(np.searchsorted(edges, col, side="right") - 1, 0, nb - 1)
        count = np.bincount(b, minlength=nb)
        lsum = np.bincount(b, weights=col, minlength=nb)
        total = lsum.sum()
        share = count / max(T, 1)
        contrib = lsum / max(T, 1)
        rows.append(pd.DataFrame({
            "model": models["model"].iloc[m],
            "n_params_nonembed": models["n_params_nonembed"].iloc[m],
            "step": models["step"].iloc[m],
            "bin": np.arange(nb, dtype=np.int32),
            "bin_lo": edges[:-1],
            "bin_hi": edges[1:],
            "count": count.astype(np.int64),
            "share": share,
            "density": share / widths,
            "loss_density": contrib / widths,
            "mean_loss_contrib": contrib,
            "loss_share": lsum / total if total > 0 else np.zeros(nb),
        }))
    return pd.concat(rows, ignore_index=True)


def summarize_models(loss: np.ndarray, models: pd.DataFrame, *, low_loss: float = 0.1) -> pd.DataFrame:
    """One row per model: size, step, ``n_tokens``, ``mean_loss``, ``median_loss``, ``share_below``
    (share of tokens with loss < ``low_loss``) and ``loss_share_below`` (their part of the total loss)."""
    loss = np.asarray(loss)
    T, M = loss.shape
    stats = np.full((M, 4), np.nan)
    for m in range(M):  # one float64 column at a time
        c = loss[:, m].astype(np.float64)
        if T:
            total = c.sum()
            stats[m] = c.mean(), np.median(c), np.mean(c < low_loss), \
                (c[c < low_loss].sum() / total if total > 0 else 0.0)
    out = models[[c for c in ("model", "order", "n_params", "n_params_nonembed", "step") if c in models]].copy()
    out["n_tokens"] = T
    out["mean_loss"] = stats[:, 0]
    out["median_loss"] = stats[:, 1]
    out["share_below"] = stats[:, 2]
    out["loss_share_below"] = stats[:, 3]
    out["low_loss"] = low_loss
    return out.reset_index(drop=True)

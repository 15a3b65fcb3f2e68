"""Emergence prediction: from the models of width <= W, the width at which each task not yet learned is learned.

Checked against the wider models of the same run (docs/parity-analyze.md, "Emergence prediction").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quanta.errors import check
from quanta.parity.fit_ranges import _fit


def default_emergence_width(widths, n_learned=None, n_tasks: int | None = None) -> float:
    """The default W of the emergence prediction.

    The largest width of the sweep not above its median width. With ``n_learned`` (tasks learned
    per width, aligned with ``widths``) and ``n_tasks``: if fewer than 3 widths up to that W have
    1 <= n_learned <= n_tasks - 1 (too few to fit n(N)), the smallest width below the widest that
    has 3 such widths at or below it, when there is one.
    """
    w = np.asarray(widths, float)
    order = np.argsort(w)
    w = w[order]
    W = float(w[w <= np.median(w)].max())
    if n_learned is None or n_tasks is None:
        return W
    n = np.asarray(n_learned, float)[order]
    usable = np.cumsum((n >= 1) & (n <= n_tasks - 1))
    if usable[w <= W][-1] >= 3:
        return W
    ok = (usable >= 3) & (w < w[-1])
    return float(w[ok][0]) if ok.any() else W


def _predict_emergence(alpha, online, end, tasks, n_tasks, cfg, thr, summary, notes, tag):
    """From the models of width <= W, predict the width at which each task not yet learned is learned.

    The learned-count law n(N) = N^x / A is fitted (as 1/n = A·N^-x) on the models of width <= W
    with 1 <= n <= n_tasks - 1 (seed means). Assuming tasks are learned in frequency order, the task
    of rank r is learned once n(N) >= r, at N_r = (A·r)^(1/x); N_r is turned into a width by
    log-log interpolation of the run's (n_params, width) pairs. The prediction is checked against
    the first wider model (same seed) in which the task's loss is below the threshold.
    """
    widths = np.sort(online["width"].unique().astype(float))
    if cfg.emergence_width is not None:
        W = float(cfg.emergence_width)
        check(widths[0] <= W < widths[-1],
              f"emergence_width must lie in [{widths[0]:g}, {widths[-1]:g}) (the parameter sweep's widths, "
              f"below the widest so wider models can check the prediction), got {W:g}",
              f"pass emergence_width={widths[-2]:g} or another width from {widths[0]:g} up")
    else:
        per_width = online.groupby("width")["n_learned"].mean()
        W = default_emergence_width(per_width.index.to_numpy(float), per_width.to_numpy(float), n_tasks)
    summary["emergence_W"] = W
    small = online[online["width"] <= W]
    sw = small.groupby("width").agg(x=("n_params", "mean"), n=("n_learned", "mean")).reset_index()
    x, n = sw["x"].to_numpy(float), sw["n"].to_numpy(float)
    ok = (n >= 1) & (n <= n_tasks - 1)
    if ok.sum() < 3:
        notes.append(f"{tag} emergence prediction: fewer than 3 widths <= {W:g} have "
                     f"1 <= n_learned <= n_tasks-1; no prediction")
        return None
    fit = _fit(x[ok], 1.0 / n[ok], offset=False, cfg=cfg, notes=notes, label=f"{tag} n(N) for width <= {W:g}")
    if fit is None:
        return None
    e_end = end[end["model"].isin(online["model"])]
    learned_small = e_end[(e_end["width"] <= W) & (e_end["loss"] < thr)][["seed", "task"]].drop_duplicates()
    grid = online.groupby("width")["n_params"].mean()
    rows = []
    for seed in sorted(online["seed"].unique()):
        done = set(learned_small.loc[learned_small["seed"] == seed, "task"])
        todo = tasks[~tasks["task"].isin(done)]
        if not len(todo):
            continue
        wide = e_end[(e_end["seed"] == seed) & (e_end["width"] > W) & (e_end["loss"] < thr)]
        first = wide.groupby("task")["width"].min()
        r = todo["rank"].to_numpy(float)
        with np.errstate(over="ignore"):  # a flat n(N) puts rare tasks at infinite width
            n_pred = np.exp(np.log(fit.A * r) / fit.alpha)  # n(N) = N^x / A  =>  N_r = (A r)^(1/x)
            w_pred = _loglog_interp(np.minimum(n_pred, np.finfo(float).max), grid.to_numpy(float),
                                    grid.index.to_numpy(float))
        w_pred[~np.isfinite(n_pred)] = np.inf
        actual = first.reindex(todo["task"]).to_numpy(float)
        rows.append(pd.DataFrame({"alpha": alpha, "seed": seed, "task": todo["task"].to_numpy(),
                                  "rank": todo["rank"].to_numpy(), "p": todo["p"].to_numpy(), "W": W,
                                  "predicted_n_params": n_pred, "predicted_width": w_pred,
                                  "actual_width": actual}))
    if not rows:
        notes.append(f"{tag} emergence prediction: every task is learned at width <= {W:g}; nothing to predict")
        return None
    pr = pd.concat(rows, ignore_index=True)
    pr["actual_n_params"] = pr["actual_width"].map(grid)
    pr["log10_error"] = np.log10(pr["predicted_width"] / pr["actual_width"])
    # the actual width is only known to the grid: the task was learned in (previous width, actual width]
    prev = pd.Series(np.r_[np.nan, widths[:-1]], index=widths)
    lo = pr["actual_width"].map(prev)
    pr["in_grid_interval"] = (pr["predicted_width"] > lo) & (pr["predicted_width"] <= pr["actual_width"])
    checked = pr[np.isfinite(pr["actual_width"])]
    w_max = widths[-1]
    summary["emergence_n_predicted"] = int(len(pr))
    summary["emergence_n_checked"] = int(len(checked))
    summary["emergence_n_predicted_in_run"] = int((pr["predicted_width"] <= w_max).sum())
    summary["emergence_n_vs_N_exponent_small"] = float(fit.alpha)
    if len(checked):
        err = checked["log10_error"].to_numpy(float)
        summary["emergence_log10_error_median"] = float(np.median(err))
        summary["emergence_abs_log10_error_median"] = float(np.median(np.abs(err)))
        summary["emergence_in_grid_fraction"] = float(checked["in_grid_interval"].mean())
        summary["emergence_grid_log10_step"] = float(np.median(np.diff(np.log10(widths))))
    else:
        notes.append(f"{tag} emergence prediction: no task left at width <= {W:g} is learned by a wider model")
    return pr


def _loglog_interp(x, xp, fp) -> np.ndarray:
    """Interpolate f(x) from points (xp, fp) linearly in log-log space, extrapolating the end segments."""
    x = np.log(np.asarray(x, float))  # (may hold inf: the result is then inf too)
    xp = np.log(np.asarray(xp, float))
    fp = np.log(np.asarray(fp, float))
    order = np.argsort(xp)
    xp, fp = xp[order], fp[order]
    xp, idx = np.unique(xp, return_index=True)
    fp = fp[idx]
    if len(xp) == 1:
        return np.exp(np.full_like(x, fp[0]))
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return np.exp(y)

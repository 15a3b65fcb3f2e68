"""The figures of ``quanta parity analyze`` (paper Fig. 2 style), drawn from a :class:`~quanta.parity.analyze.ParityAnalysis`."""

from __future__ import annotations

import numpy as np

from quanta.parity.fit_ranges import LN2


def plot_parity_analysis(result) -> dict:
    """Draw the figures of an analysis (paper Fig. 2 style). Returns ``{name: matplotlib Figure}``.

    ``result`` is what :func:`~quanta.parity.analyze.analyze_parity` returns (a ``ParityAnalysis``).

    * ``loss_scaling``: mean loss against N, D and S with the fitted power laws (one colour per α);
    * ``task_curves`` (``task_curves_alpha<α>`` with several α): per-task loss against S, N and D,
      coloured by frequency rank, with the learning threshold;
    * ``learning_order``: learn step against frequency rank, and against p with the fitted law;
    * ``learned_counts``: tasks learned against N and D with the fitted laws;
    * ``emergence_prediction``: predicted against actual learn width.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    figs = {}
    thr = result.summary["threshold_nats"]
    alphas = sorted(result.learned_counts["alpha"].unique()) if len(result.learned_counts) else []
    acolors = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(alphas), 1)))
    fits = result.fits
    counts = result.learned_counts

    def fitline(ax, alpha, name, color):
        row = fits[(fits["alpha"] == alpha) & (fits["fit"] == name)]
        if not len(row):
            return
        r = row.iloc[0]
        xs = np.geomspace(r["x_min"], r["x_max"], 100)
        L_inf = r["L_inf"] if np.isfinite(r["L_inf"]) else 0.0
        ys = L_inf + r["A"] * xs ** (-r["exponent"])
        lab = f"fit α={r['exponent']:.3f}"
        if np.isfinite(r["ci_lo"]):
            lab += f" [{r['ci_lo']:.3f}, {r['ci_hi']:.3f}]"
        ax.plot(xs, ys, "--", color=color, lw=1.5, label=lab + f" (theory {r['predicted']:.3f})")

    # loss scaling: one panel per axis the run sweeps (no empty "no such sweep" panels)
    specs = [s for s in [("N", "L(N): end of training", "parameters N", "L_N"),
                         ("D", "L(D): best test loss", "training samples D", "L_D"),
                         ("S", "L(S): widest model", "step S", "L_S")]
             if ((counts["axis"] == s[0]) & (counts["x"] > 0)).any()] if len(counts) else []
    fig = Figure(figsize=(5 * max(len(specs), 1), 4.2))
    axes = np.atleast_1d(fig.subplots(1, max(len(specs), 1)))
    for (axis, title, xlabel, fname), ax in zip(specs, axes):
        for a, color in zip(alphas, acolors):
            c = counts[(counts["alpha"] == a) & (counts["axis"] == axis)]
            if not len(c):
                continue
            g = c.groupby("x")["loss"].mean()
            g = g[g.index > 0]
            ax.plot(g.index, g.values, "o-" if axis != "S" else "-", color=color, ms=4, lw=1,
                    label=f"α={a:g}")
            fitline(ax, a, fname, color)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean test loss (nats)")
        if ax.has_data():
            _log_axes(ax)
            ax.legend(fontsize=7)
        else:
            _mark_empty(ax)
    fig.tight_layout()
    if specs:
        figs["loss_scaling"] = fig

    # per-task curves
    cv = result.curves
    for a in alphas:
        c_a = cv[cv["alpha"] == a]
        specs = [s for s in [("S", "step S (widest model)"), ("N", "parameters N (end of training)"),
                             ("D", "training samples D (best step)")]
                 if ((c_a["axis"] == s[0]) & (c_a["x"] > 0)).any()]
        if not specs:
            continue
        fig = Figure(figsize=(5 * len(specs), 4.2))
        axes = np.atleast_1d(fig.subplots(1, len(specs)))
        n_tasks = int(c_a["rank"].max()) if len(c_a) else 1
        norm = LogNorm(vmin=1, vmax=max(n_tasks, 2))
        cmap = colormaps["plasma"]
        for (axis, xlabel), ax in zip(specs, axes):
            c = c_a[(c_a["axis"] == axis) & (c_a["x"] > 0)]
            g = c.groupby(["rank", "x"])["loss"].mean().reset_index()
            ranks = np.unique(g["rank"])
            if len(ranks) > 60:  # draw at most 60 tasks, spread evenly in log rank
                keep = np.unique(np.round(np.geomspace(1, ranks.max(), 60)).astype(int))
                ranks = ranks[np.isin(ranks, keep)]
            for r in ranks:
                gr = g[g["rank"] == r]
                ax.plot(gr["x"], gr["loss"] / LN2, color=cmap(norm(r)), lw=0.8, alpha=0.8)
            ax.axhline(thr / LN2, color="k", ls=":", lw=1, label=f"threshold {thr / LN2:g} bits")
            _log_axes(ax, y=False)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("task test loss (bits)")
            ax.legend(fontsize=7, loc="lower left")
        sm = ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=axes, label="frequency rank")
        fig.suptitle(f"per-task loss, α={a:g}")
        figs["task_curves" if len(alphas) == 1 else f"task_curves_alpha{a:g}"] = fig

    # learning order
    em = result.emergence
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    for a, color in zip(alphas, acolors):
        summ = _alpha_summary(result.summary, a)
        width = summ.get("order_model_width")
        # the order models alone: the widest online ones, or the largest-D data ones, never their width's others
        D = summ.get("order_model_D")
        e = em[(em["alpha"] == a) & (em["axis"] == "step") & (em["width"] == width) & np.isfinite(em["at"])
               & (em["at"] > 0) & ((em["D"] == D) if D is not None else True)]
        if width is None or not len(e):
            continue
        rho = summ.get("order_spearman")
        lab = f"α={a:g}" + (f", Spearman {rho:.2f}" if rho is not None else "")
        axes[0].scatter(e["rank"], e["at"], s=8, color=color, label=lab)
        axes[1].scatter(e["p"], e["at"], s=8, color=color, label=f"α={a:g}")
        fitline(axes[1], a, "learn_step_p", color)
    for ax, xl in zip(axes, ["frequency rank", "task probability p_k"]):
        ax.set_xlabel(xl)
        ax.set_ylabel(f"learn step (loss < {thr / LN2:g} bits)")
        if ax.has_data():
            _log_axes(ax)
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "fewer than 3 tasks learned", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0].set_title("learning order against frequency rank")
    axes[1].set_title("convergence time against p_k")
    fig.tight_layout()
    figs["learning_order"] = fig

    # learned counts
    specs = [s for s in [("N", "n_N", "parameters N"), ("D", "n_D", "training samples D")]
             if (counts["axis"] == s[0]).any()] if len(counts) else []
    fig = Figure(figsize=(5 * max(len(specs), 1), 4.2))
    axes = np.atleast_1d(fig.subplots(1, max(len(specs), 1)))
    for (axis, fname, xl), ax in zip(specs, axes):
        for a, color in zip(alphas, acolors):
            c = counts[(counts["alpha"] == a) & (counts["axis"] == axis)]
            if not len(c):
                continue
            g = c.groupby("x")["n_learned"].mean()
            ax.plot(g.index, g.values, "o-", color=color, ms=4, lw=1, label=f"α={a:g}")
            row = fits[(fits["alpha"] == a) & (fits["fit"] == fname)]
            if len(row):
                r = row.iloc[0]
                xs = np.geomspace(r["x_min"], r["x_max"], 50)
                ax.plot(xs, xs ** r["exponent"] / r["A"], "--", color=color,
                        label=f"n ∝ {axis}^{r['exponent']:.3f} (theory {r['predicted']:.3f})")
        ax.set_xlabel(xl)
        ax.set_ylabel("tasks learned n")
        g_pos = counts[(counts["axis"] == axis) & (counts["n_learned"] > 0)]
        if ax.has_data():
            _log_axes(ax, y=bool(len(g_pos)))
            ax.legend(fontsize=7)
        else:
            _mark_empty(ax)
    fig.tight_layout()
    if specs:
        figs["learned_counts"] = fig

    # emergence prediction
    pr = result.emergence_prediction
    if len(pr):
        fig = Figure(figsize=(5.2, 4.6))
        ax = fig.subplots()
        ok = pr[np.isfinite(pr["actual_width"])]
        for a, color in zip(alphas, acolors):
            o = ok[ok["alpha"] == a]
            if len(o):
                W = o["W"].iloc[0]
                ax.scatter(o["actual_width"], o["predicted_width"], s=10, color=color,
                           label=f"α={a:g}, from widths <= {W:g}")
        if len(ok):
            lim = [min(ok["actual_width"].min(), ok["predicted_width"].min()),
                   max(ok["actual_width"].max(), ok["predicted_width"].max())]
            ax.plot(lim, lim, "k:", lw=1, label="prediction = actual")
            ax.legend(fontsize=7)
        _log_axes(ax)
        ax.set_xlabel("actual learn width")
        ax.set_ylabel("predicted learn width")
        ax.set_title("emergence predicted from the small models")
        fig.tight_layout()
        figs["emergence_prediction"] = fig
    return figs


def _mark_empty(ax) -> None:
    """Say on a panel that the run has no sweep along its axis, without ticks."""
    ax.text(0.5, 0.5, "no such sweep in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _log_axes(ax, x: bool = True, y: bool = True) -> None:
    """Log scales whose minor ticks are labelled only at 2 and 5 (the default labels overlap on short ranges)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    for flag, axis, set_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if flag:
            set_scale("log")
            lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
            if hi / lo < 300:  # less than ~2.5 decades: label 2 and 5 between the decades too
                axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            else:
                axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _alpha_summary(summary: dict, alpha: float) -> dict:
    for s in summary.get("per_alpha", []):
        if np.isclose(s.get("alpha", np.nan), alpha):
            return s
    return {}

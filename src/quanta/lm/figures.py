"""The figures of ``quanta lm analyze``: loss distributions, the mean-loss law, per-token curves and examples in
context. They only draw tables the analysis has computed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quanta.lm.token_curves import LABELS


def save_figures(run, dist, msum, models, xname, fit, fit_cols, L, labels, fits, tokens_df, xs, cfg, mode):
    """Draw the analysis figures from its tables and save them into the run directory ``run``."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    xlabel = "training step" if mode == "dynamics" else "non-embedding parameters N"
    M = len(models)
    cmap = colormaps["viridis"]
    colors = [cmap(i / max(M - 1, 1)) for i in range(M)]

    # loss histograms, overlaid (paper Fig. 3 style) and loss-weighted
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for m, name in enumerate(models["model"]):
        d = dist[dist["model"] == name]
        d = d[d["bin"] > 0]
        mid = np.sqrt(d["bin_lo"] * d["bin_hi"])
        lab = f"{name}" if M <= 12 else None
        axes[0].plot(mid, d["share"], color=colors[m], label=lab)
        axes[1].plot(mid, d["mean_loss_contrib"], color=colors[m], label=lab)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("per-token loss (nats)")
        ax.axvline(cfg.low_loss, color="0.6", lw=0.8, ls="--")
    axes[0].set_ylabel("share of tokens per log bin")
    axes[0].set_title("loss distribution")
    axes[1].set_ylabel("contribution to mean loss per log bin (nats)")
    axes[1].set_title("loss-weighted distribution L·p(L)")
    if M <= 12:
        axes[0].legend(fontsize=7)
    else:  # too many models to name: the colour scale is their order
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig.colorbar(ScalarMappable(norm=Normalize(0, M - 1), cmap=cmap), ax=axes, label="model (smallest = 0)")
    if M <= 12:
        fig.tight_layout()
    run.save_figure(fig, "loss_distribution")

    # mean loss and share below against x
    xv = models[xname].to_numpy(dtype=np.float64)
    pos_ = xv > 0
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    ax.plot(xv[pos_], msum["mean_loss"].to_numpy()[pos_], "o", color="C0", label="mean loss")
    if fit is not None:
        grid = np.geomspace(xv[fit_cols].min(), xv[fit_cols].max(), 100)
        sym, var = ("α_S", "S") if mode == "dynamics" else ("α_N", "N")
        ax.plot(grid, fit.predict(grid), "-", color="C1",
                label=f"L∞ + A·{var}^-{sym} = {fit.alpha:.3g} [{fit.alpha_ci[0]:.3g}, {fit.alpha_ci[1]:.3g}]")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean loss (nats)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(xv[pos_], msum["share_below"].to_numpy()[pos_], "o-")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"share of tokens below {cfg.low_loss:g} nats")
    fig.tight_layout()
    run.save_figure(fig, "mean_loss_scaling")

    if labels is None:
        return
    rng = np.random.default_rng(cfg.seed)
    xp = 10.0 ** xs
    Lf = L[:, fit_cols]
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, lab in zip(axes, LABELS):
        rows = np.flatnonzero(labels == lab)
        show = rng.choice(rows, size=min(30, rows.size), replace=False) if rows.size else rows
        for r in show:
            ax.plot(xp, Lf[r], "-", color="0.4", alpha=0.35, lw=0.8)
        if rows.size:
            ax.plot(xp, np.median(Lf[rows], axis=0), "-", color="C3", lw=2, label="median")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_title(f"{lab}: {rows.size} tokens ({rows.size / max(labels.size, 1):.1%})")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("per-token loss (nats)")
    fig.tight_layout()
    run.save_figure(fig, "token_curves")

    size_col = "learning_step" if mode == "dynamics" else "learning_size"
    sizes = tokens_df[size_col].to_numpy()
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    u = np.unique(xs)
    edges = 10.0 ** np.unique(np.concatenate([u, (u[1:] + u[:-1]) / 2]))
    for grp, mask, col in (("all tokens with a drop", np.isfinite(sizes), "0.6"),
                           ("monogenic", np.isfinite(sizes) & (labels == "monogenic"), "C3")):
        if mask.any():
            ax.hist(sizes[mask], bins=edges, color=col, alpha=0.7, label=f"{grp} ({int(mask.sum())})")
    for v in xp:
        ax.axvline(v, color="0.85", lw=0.6, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel(f"learning {'step' if mode == 'dynamics' else 'size'} (sigmoid transition point)")
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    run.save_figure(fig, "learning_sizes")

    _examples_figure(run, xp, xlabel, cfg)


def _examples_figure(run, xp, xlabel, cfg):
    from matplotlib.figure import Figure

    ex = run.read_table("examples")
    if ex.empty:
        return
    n = len(ex)
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig = Figure(figsize=(5.2 * ncol, 3.6 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (_, e) in zip(axes.ravel(), ex.iterrows()):
        ax.plot(xp, e["losses"], "o-", ms=3, color="C3" if e["label"] == "monogenic" else "C0")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel, fontsize=7)
        ax.set_ylabel("loss (nats)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{e['label']} #{int(e['rank']) + 1} (doc {int(e['doc'])}, pos {int(e['pos'])})", fontsize=8)
        _highlight_text(ax, _clean(e["context_before"], 90, left=True), _clean(e["token_text"], 20),
                        _clean(e["context_after"], 20))
    fig.subplots_adjust(hspace=1.0, wspace=0.3)
    run.save_figure(fig, "examples")


def _clean(s: str, n: int, left: bool = False) -> str:
    s = (s or "").replace("\n", "⏎").replace("\t", "→").replace("$", r"\$")
    if len(s) > n:
        s = ("…" + s[-n:]) if left else (s[:n] + "…")
    return s


def _highlight_text(ax, before: str, token: str, after: str, width: int = 48) -> None:
    """Write ``before`` ``token`` ``after`` under the axes in lines of ``width`` characters, the token on a
    highlighted box and the text after it in grey."""
    lines = [before[i:i + width] for i in range(0, len(before), width)] or [""]
    last = lines.pop()
    y = -0.36
    for line in lines:
        ax.text(0.0, y, line, transform=ax.transAxes, fontsize=7, family="monospace", va="top")
        y -= 0.1
    t1 = ax.text(0.0, y, last, transform=ax.transAxes, fontsize=7, family="monospace", va="top")
    t2 = ax.annotate(token if token.strip() else token.replace(" ", "␣"), xycoords=t1, xy=(1, 0), va="bottom",
                     fontsize=7, family="monospace", color="black",
                     bbox=dict(boxstyle="square,pad=0.1", fc="#ffb3b3", ec="none"))
    room = max(0, width - len(last) - len(token))
    ax.annotate(after[:room] + ("…" if len(after) > room else ""), xycoords=t2, xy=(1, 0), va="bottom",
                fontsize=7, family="monospace", color="0.5")

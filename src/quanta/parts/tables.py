"""The parts contract's tables and figures (docs/parts.md), the same for every method.

:func:`write_parts_tables` writes ``samples.parquet`` (one row per sample or token: ``sample`` and where it comes
from), ``parts.parquet`` (:func:`quanta.parts.law.parts_table`), ``membership.parquet`` (``sample``, ``part``,
``weight``: one row per firing), ``contexts.parquet`` (the ``n_contexts`` samples on which each part fires most
strongly, with their text), figures ``rank_frequency`` and ``feature_density``, and returns the summary fields
with the law (:func:`quanta.parts.law.fit_parts_law`). :func:`write_partition_tables` writes ``parts`` and
``membership`` for a partition (QDG's clusters).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

__all__ = ["write_parts_tables", "write_partition_tables", "partition_contexts", "parity_sample_text",
           "plot_parts_rank_frequency", "plot_feature_density"]


def plot_parts_rank_frequency(parts: pd.DataFrame, law: dict | None, *, title: str = ""):
    """Use count of the live parts against their rank (log-log), with the fitted law's slope."""
    from matplotlib.figure import Figure

    live = np.sort(parts.loc[parts["live"], "count"].to_numpy())[::-1]
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    r = np.arange(1, live.size + 1)
    ax.loglog(r, live, "o-", ms=3, color="k", lw=1, label="live parts")
    if law and law.get("zipf_exponent") is not None and np.isfinite(law["zipf_exponent"]):
        s = law["zipf_exponent"]
        c = np.mean(np.log(live[live > 0]) + s * np.log(r[live > 0]))
        ax.loglog(r, np.exp(c) * r ** (-s), "r--", lw=1.5, label=f"slope -{s:.2f} (MLE)")
    ax.set_xlabel("rank")
    ax.set_ylabel("count (rows on which the part fires)")
    ax.set_title(title or "Rank-frequency of part use")
    ax.legend(fontsize=8)
    return fig


def plot_feature_density(parts: pd.DataFrame, *, dense_share: float, title: str = ""):
    """Histogram of log10 firing frequency of the parts that fire (the SAELens feature-density plot)."""
    from matplotlib.figure import Figure

    from quanta.parts.law import log10_density

    x = log10_density(parts)
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    if x.size:
        ax.hist(x, bins=min(50, max(5, x.size // 4)), color="tab:blue")
    ax.axvline(np.log10(dense_share), color="tab:red", ls="--", lw=1, label=f"dense above {dense_share:g}")
    n_dead = int(parts["dead"].sum())
    ax.set_xlabel("log10 firing frequency")
    ax.set_ylabel("parts")
    ax.set_title(title or f"Feature density ({n_dead} dead not shown)")
    ax.legend(fontsize=8)
    return fig


def write_parts_tables(run, codes, samples: pd.DataFrame, *, method: str, dense_share: float, n_contexts: int,
                       n_boot: int, seed: int, title: str = "") -> dict:
    """Write the contract's tables and figures from ``codes`` (n_samples, n_parts); returns the summary fields.

    ``samples`` has one row per row of ``codes`` with a ``sample`` column (0..n-1) and any text columns
    (``context_before``, ``token``, ``context_after`` for tokens) that ``contexts.parquet`` should carry.
    """
    import torch

    from quanta.parts.law import feature_counts, fit_parts_law, parts_table

    codes = codes if torch.is_tensor(codes) else torch.as_tensor(np.asarray(codes))
    n = codes.shape[0]
    parts = parts_table(feature_counts(codes), n, dense_share=dense_share)
    run.write_table("samples", samples)
    run.write_table("parts", parts)
    nz = torch.nonzero(codes > 0)  # (n_firings, 2)
    membership = pd.DataFrame({"sample": nz[:, 0].numpy().astype(np.int64), "part": nz[:, 1].numpy().astype(np.int32),
                               "weight": codes[nz[:, 0], nz[:, 1]].numpy().astype(np.float32)})
    run.write_table("membership", membership)
    # contexts: per part, the samples with the largest weight
    top = membership.sort_values(["part", "weight"], ascending=[True, False], kind="stable")
    top = top.groupby("part", sort=True).head(n_contexts).copy()
    top["member_rank"] = top.groupby("part").cumcount().astype(np.int32)
    top = top.merge(parts[["part", "count", "rank"]], on="part").merge(samples, on="sample", how="left")
    run.write_table("contexts", top.reset_index(drop=True))
    try:
        law = fit_parts_law(parts, n_boot=n_boot, seed=seed)
    except QuantaError as exc:  # too few live parts: the run is still written, the law says why it is missing
        law = {"zipf_exponent": None, "zipf_exponent_ci": None, "zipf_missing": exc.args[0]}
    run.save_figure(plot_parts_rank_frequency(parts, law, title=f"{title}part use, {method}"), "rank_frequency")
    run.save_figure(plot_feature_density(parts, dense_share=dense_share, title=f"{title}feature density, {method}"),
                    "feature_density")
    return {
        "method": method,
        "n_samples": int(n),
        "n_parts": int(len(parts)),
        "n_live": int(parts["live"].sum()),
        "n_dead": int(parts["dead"].sum()),
        "n_dense": int(parts["dense"].sum()),
        "dense_share": dense_share,
        "count_definition": "rows (samples or tokens) on which the part fires (code > 0); parts overlap, so counts "
                            "sum to the number of firings, not of rows",
        "law_rule": "dead (never fires) and dense (fires on more than dense_share of rows) parts are left out",
        "mean_parts_per_sample": float(len(membership) / max(1, n)),
        **law,
    }


def write_partition_tables(run, labels, *, title: str = "") -> None:
    """The contract's ``parts`` and ``membership`` tables and ``feature_density`` figure for a partition (QDG's
    clusters at one count).

    Every sample belongs to exactly one part with weight 1, so a part's count is its cluster size. No cluster is
    flagged dense (``dense_share`` 1): QDG's law reads every cluster, and the flags must say what the law used.
    """
    from quanta.parts.law import parts_table

    labels = np.asarray(labels).astype(np.int64)
    parts = parts_table(np.bincount(labels), int(labels.size), dense_share=1.0)
    run.write_table("parts", parts)
    run.write_table("membership", pd.DataFrame({"sample": np.arange(labels.size, dtype=np.int64),
                                                "part": labels.astype(np.int32),
                                                "weight": np.ones(labels.size, dtype=np.float32)}))
    run.save_figure(plot_feature_density(parts, dense_share=1.0, title=f"{title}cluster density (share of samples)"),
                    "feature_density")


def parity_sample_text(task, x, y, n_tasks: int) -> dict:
    """A parity sample as a context (the report's browser shows it as text): ``context_before`` names its task and
    data bits (``x[:, n_tasks:]``, the control bits being the task), ``token`` is its label, ``context_after`` empty."""
    task = np.asarray(task)
    bits = np.asarray(x)[:, n_tasks:].astype(np.int8)
    y = np.asarray(y)
    return {"context_before": [f"task {int(t)} | bits {''.join(map(str, b))} | label " for t, b in zip(task, bits)],
            "token": [str(int(v)) for v in y], "context_after": [""] * len(y)}


def partition_contexts(labels, rows, weight) -> pd.DataFrame:
    """The contract's columns of ``contexts`` for the samples ``rows`` of a partition: ``sample``, ``part``,
    ``weight`` (the member's weight in its part, e.g. QDG's centrality), ``count`` (its part's size) and ``rank``
    (its part's rank by size, as in ``parts``: 1 = the largest)."""
    from quanta.parts.law import parts_table

    labels = np.asarray(labels).astype(np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    parts = parts_table(np.bincount(labels), int(labels.size), dense_share=1.0)
    lab = labels[rows]
    return pd.DataFrame({"sample": rows, "part": lab.astype(np.int32),
                         "weight": np.asarray(weight, dtype=np.float32)[rows],
                         "count": parts["count"].to_numpy()[lab], "rank": parts["rank"].to_numpy()[lab]})

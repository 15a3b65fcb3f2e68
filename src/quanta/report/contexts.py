"""Tokens in context in the report: the cluster browser of a QDG run (clusters by size with their top contexts,
the token highlighted) and the context tables of LM runs (e.g. monogenic and polygenic tokens)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from quanta.report import html as H
from quanta.report.run_block import Options, RunBlock
from quanta.report.tables import ContextColumns, TableInfo, context_columns


def _text(df: pd.DataFrame, col: str) -> list:
    return df[col].tolist() if col else [""] * len(df)


def pick_counts(ks: list, default: Any, n_max: int) -> list:
    """At most ``n_max`` of the sorted cluster counts ``ks``: evenly spread over the list, always with ``default``."""
    if len(ks) <= n_max:
        return list(ks)
    idx = {int(round(i)) for i in np.linspace(0, len(ks) - 1, n_max)}
    picked = {ks[i] for i in idx}
    if default not in picked:
        picked.discard(ks[min(idx, key=lambda i: abs(i - ks.index(default)))])
        picked.add(default)
    return [k for k in ks if k in picked]


def cluster_browser(df: pd.DataFrame, cols: ContextColumns, *, browser_id: str, opts: Options,
                    default_k: Any = None) -> str:
    """Clusters by size with their top contexts; one group per ``n_clusters`` value when there are several.

    The group shown first is ``default_k`` (the run's own choice) when the table has it, else the largest
    count; at most ``opts.max_cluster_counts`` counts are rendered.
    """
    k_col = "n_clusters" if "n_clusters" in df.columns else None
    groups = [(None, df)] if k_col is None else [(k, g) for k, g in df.groupby(k_col, sort=True)]
    ks = [k for k, _ in groups]
    default = None if k_col is None else (default_k if default_k in ks else ks[-1])
    out = [f'<div class="browser" id="{H.esc(browser_id)}"><div class="browser-controls">']
    if k_col is not None:
        keep = pick_counts(ks, default, opts.max_cluster_counts)
        groups = [(k, g) for k, g in groups if k in keep]
        options = "".join(f'<option value="{H.esc(k)}"{" selected" if k == default else ""}>{H.esc(k)}</option>'
                          for k in keep)
        out.append(f'<label>number of clusters <select class="k-select">{options}</select></label>')
        if len(keep) < len(ks):
            out.append(f'<span class="mut">({len(keep)} of the {len(ks)} counts in the table)</span>')
    out.append('<label>filter by token <input class="filter" type="search" placeholder="e.g. def"></label>'
               f'<span class="mut"><span class="shown-count"></span> {H.esc(cols.cluster)}s shown</span></div>')
    for k, g in groups:
        out.append(_cluster_group(k, g, cols, opts))
    out.append("</div>")
    return "".join(out)


def _cluster_group(k: Any, g: pd.DataFrame, cols: ContextColumns, opts: Options) -> str:
    cl = cols.cluster
    if cols.rank:
        g = g.sort_values([cl, cols.rank], kind="stable")
    g = g.reset_index(drop=True)
    sizes = (g.groupby(cl)[cols.size].max() if cols.size else g.groupby(cl).size()).sort_values(
        ascending=False, kind="stable")
    size_label = "size" if cols.size else "contexts"  # without sizes, clusters are ranked by rows in the table
    n_total = len(sizes)
    sizes = sizes.head(opts.max_clusters)
    out = [f'<div class="k-group" data-k="{H.esc("" if k is None else k)}">']
    if n_total > len(sizes):
        out.append(H.note(f"Showing the {len(sizes)} largest of {n_total} clusters.", kind="info"))
    members = g.groupby(cl, sort=False).indices  # cluster -> row positions, in rank order
    ctx_cols = {c for c in (cols.before, cols.token, cols.after, cols.cluster, cols.size, cols.rank, "n_clusters")
                if c}
    meta_cols = [c for c in g.columns if c not in ctx_cols and not _is_list_column(g[c])]
    before, after = _text(g, cols.before), _text(g, cols.after)
    tokens = ["" if t is None else str(t) for t in g[cols.token].tolist()]
    meta = {m: g[m].tolist() for m in meta_cols}
    units = None if cols.unit is None else [H.fmt_value(u) for u in g[cols.unit].tolist()]
    for pos, (c, size) in enumerate(sizes.items(), start=1):
        rows = members[c]
        toks = [tokens[i] for i in rows]
        if units is not None:  # e.g. parity: the tasks of the listed samples (their "tokens" are labels 0/1)
            chips = " ".join(f'<span class="unit">{H.esc(cols.unit)} {H.esc(u)}</span><span class="mut">\u00d7{n}'
                             f'</span>' for u, n in Counter(units[i] for i in rows).most_common(5))
        else:
            chips = " ".join(f'<span class="ctx"><mark>{H.esc(t) if t.strip() else H.esc(repr(t))}</mark></span>'
                             f'<span class="mut">\u00d7{n}</span>' for t, n in Counter(toks).most_common(5))
        summary = (f"<strong>#{pos}</strong> {H.esc(cl)} {H.esc(c)} \u00b7 {size_label} {H.esc(H.fmt_value(size))}"
                   f" \u00b7 {chips}")
        items = []
        for i in rows[: opts.max_contexts]:
            tip = ", ".join(f"{m} {H.fmt_value(v[i])}" for m, v in meta.items())
            items.append(f'<li title="{H.esc(tip)}">{H.context(before[i], tokens[i], after[i])}</li>')
        more = (f'<p class="mut">top {len(items)} of the {len(rows)} contexts in the table</p>'
                if len(rows) > len(items) else "")
        text = " ".join(sorted(set(toks))).lower() + f" {cl} {c}"
        if units is not None:
            text += "".join(f" {cols.unit} {u}" for u in sorted({units[i] for i in rows}))
        out.append(H.details(summary, f'<ol class="contexts">{"".join(items)}</ol>{more}', cls="cluster",
                             open_=pos <= 3, attrs={"data-text": text, "data-cluster": str(c),
                                                    "data-size": str(size)}))
    out.append("</div>")
    return "".join(out)


def _is_list_column(series: pd.Series) -> bool:
    first = next((v for v in series.head(20) if v is not None), None)
    return isinstance(first, (list, tuple, np.ndarray))


def context_table(df: pd.DataFrame, cols: ContextColumns, *, table_id: str, opts: Options,
                  caption: str | None = None) -> str:
    """A sortable table of tokens in context: the kind column, the highlighted context, the loss curve
    (when the table has ``x`` and ``losses`` lists), then the other scalar columns."""
    if cols.rank:
        df = df.sort_values(cols.rank, kind="stable")
    rows = df.head(opts.max_rows)
    skip = {c for c in (cols.before, cols.token, cols.after, cols.kind) if c} | set(cols.curve or ())
    others = [c for c in rows.columns if c not in skip and not _is_list_column(rows[c])]
    lead = [cols.kind] if cols.kind else []
    curve_head = [f"{cols.curve[1]} vs {cols.curve[0]}"] if cols.curve else []
    head = "".join(f'<th scope="col">{H.header_text(c)}</th>' for c in [*lead, "context", *curve_head, *others])
    body = []
    for i, (b, t, a) in enumerate(zip(_text(rows, cols.before), rows[cols.token].tolist(), _text(rows, cols.after))):
        r = rows.iloc[i]
        cells = [H.cell(r[cols.kind])] if cols.kind else []
        cells.append(f'<td class="ctxcell">{H.context(b, t, a)}</td>')
        if cols.curve:
            xs, ys = r[cols.curve[0]], r[cols.curve[1]]
            ok = isinstance(xs, (list, tuple, np.ndarray)) and isinstance(ys, (list, tuple, np.ndarray))
            cells.append(f"<td>{H.sparkline(list(xs), list(ys)) if ok else ''}</td>")
        cells += [H.cell(r[c]) for c in others]
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = caption or ""
    if len(df) > len(rows):
        cap = (cap + " \u2014 " if cap else "") + f"first {len(rows)} of {len(df)} rows"
    cap_html = f"<caption>{H.esc(cap)}</caption>" if cap else ""
    wide = " wide" if len(lead) + 1 + len(curve_head) + len(others) > H.WIDE_COLUMNS else ""
    return (f'<div class="table-wrap"><table id="{H.esc(table_id)}" class="data sortable ctx-table{wide}">'
            f"{cap_html}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _sizes_from_labels(df: pd.DataFrame, cols: ContextColumns, tables: list[TableInfo], n_clusters=None):
    """Add the true cluster sizes to a context table that lacks them, counted from the run's label table
    (QDG's ``clusters.parquet``: one row per token and cluster count). Unchanged when there is none. A context
    table without ``n_clusters`` is read at ``n_clusters`` (the run's headline count), else the largest swept."""
    need = {"cluster"} | ({"n_clusters"} if "n_clusters" in df.columns else set())
    labels = next((t for t in tables if t.name == "clusters" and need <= set(t.columns)), None)
    if labels is None or cols.cluster != "cluster":
        return df, cols
    keys = sorted(need)
    frame = pd.concat([pd.read_parquet(p, columns=[*keys, *(["n_clusters"] if "n_clusters" in labels.columns
                                                             and "n_clusters" not in keys else [])])
                       for p in labels.paths])
    if "n_clusters" in frame.columns and "n_clusters" not in keys:  # one count of the sweep, not all added up
        k = n_clusters if n_clusters in set(frame["n_clusters"]) else frame["n_clusters"].max()
        frame = frame[frame["n_clusters"] == k]
    counts = frame.value_counts(keys)
    sizes = counts.rename("cluster_size").reset_index()
    df = df.merge(sizes, on=keys, how="left")
    return df, replace(cols, size="cluster_size")


def _highlighted(command: str | None, summary: dict) -> str | None:
    """What the highlighted token of an LM decomposition's contexts is: the two methods mark different tokens."""
    if command == "qdg":
        return ("Highlighted: the token each row's loss predicts; the model read only the text before it (the "
                "gradient is of that prediction's loss).")
    if command in ("parts sae", "parts acts") and not summary.get("run_dir"):  # an LM's parts, not parity's
        return ("Highlighted: the token at whose position the activation was read; the model had read it and the "
                "text before it (what the model predicts from there is the token after it).")
    return None


def render_contexts(block: RunBlock, tables: list[TableInfo], opts: Options) -> tuple[str, set[str]]:
    """Cluster browsers and token-context tables for every table that holds contexts."""
    out, used = [], set()
    summary = block.summary
    found = [(t, context_columns(t.columns)) for t in tables]
    # a run with a browser (its parts' or clusters' top contexts) shows its other context tables, e.g. a parts
    # run's every-sample ``samples``, as plain tables: the browser already shows them in context, by part
    has_browser = any(c is not None and c.cluster is not None for _, c in found)
    for t, cols in found:
        if cols is None or (has_browser and cols.cluster is None and cols.kind is None):
            continue
        df = t.read()
        used.add(t.name)
        bid = f"{block.anchor}-b-{H.slug(t.name)}"
        if cols.cluster is not None:
            if cols.size is None:
                df, cols = _sizes_from_labels(df, cols, tables, summary.get("n_clusters"))
            out.append(f"<h4>Cluster browser <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            marked = _highlighted(block.run.command, summary)
            if marked:
                out.append(H.note(marked, kind="info"))
            out.append(cluster_browser(df, cols, browser_id=bid, opts=opts, default_k=summary.get("n_clusters")))
        elif cols.kind is not None:
            out.append(f"<h4>Tokens in context <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            if isinstance(summary.get("examples_note"), str):  # e.g. no monogenic token is a clean step
                out.append(H.note(summary["examples_note"], kind="warn"))
            for kind, g in df.groupby(cols.kind, sort=False):
                out.append(context_table(g, cols, table_id=f"{bid}-{H.slug(kind)}", opts=opts,
                                         caption=f"{cols.kind} = {kind}: {len(g)} tokens"))
        else:
            out.append(f"<h4>Tokens in context <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            if isinstance(summary.get("examples_note"), str):  # e.g. no monogenic token is a clean step
                out.append(H.note(summary["examples_note"], kind="warn"))
            out.append(context_table(df, cols, table_id=bid, opts=opts))
    return "".join(out), used

"""The parts of the report: one block per run (generic) plus what each kind of run adds.

Every run gets a header (command, status, times), its headline figures (``summary.json``, with an
estimate and its ``*_ci`` interval on one row), its figures inline, its tables (sortable, or a
preview of the first rows when large) and its config. On top of that:

- ``theory``: the regime exponents the model predicts from α, next to the run's own figures;
- ``parity``: the task distribution and the models of the sweep;
- ``lm``: the suite's models, the corpus, and tokens in context (e.g. monogenic/polygenic tokens);
- ``qdg``: the cluster browser (clusters by size with their top contexts, the token highlighted);
- ``falsify``: the verdict table (predicted α+1 against the measured Zipf exponent, with intervals).
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.report import html as H
from quanta.report.tables import ContextColumns, TableInfo, context_columns, list_tables
from quanta.store import Run

# Section key -> title, in the order of the chain (config -> engine -> analysis -> test).
SECTIONS: dict[str, str] = {
    "theory": "Theory: the quantization model",
    "parity": "Multitask sparse parity",
    "lm": "Language models",
    "qdg": "Quanta discovery from gradients (QDG)",
    "falsify": "Falsification: Zipf exponent against the scaling law",
    "other": "Other runs",
}

INTROS: dict[str, str] = {
    "theory": ("Quanta with use frequencies p_k \u221d k^-(\u03b1+1); a model that knows the n most frequent has "
               "loss L_n \u2248 L\u221e + c\u00b7n^-\u03b1. Parameters give \u03b1_N = \u03b1, data and "
               "single-epoch steps give \u03b1/(\u03b1+1)."),
    "parity": ("Planted quanta: each task is one sparse parity, drawn with Zipf probability. Each task's loss "
               "should drop suddenly, roughly in order of frequency, and the mean loss follow a power law."),
    "lm": ("Per-token losses across a suite of model sizes (nats). Monogenic tokens drop suddenly at one size; "
           "polygenic tokens fall gradually."),
    "qdg": ("Clusters of per-token gradients. If quanta are real, cluster sizes follow a Zipf law whose "
            "exponent matches \u03b1+1 from the scaling law. Browse the clusters below: each shows its size "
            "and its top contexts with the token highlighted."),
    "falsify": ("The closing test: the Zipf exponent implied by the scaling exponent (\u03b1_N + 1) against the "
                "exponent measured on the discovered parts, each with its interval."),
    "other": "Runs of other commands.",
}


@dataclass(frozen=True)
class Options:
    """Limits that keep the report small.

    Parameters
    ----------
    max_rows : int, default 200
        Tables with at most this many rows are shown whole (sortable); larger ones as a preview. Also the
        most rows of a token-context table.
    preview_rows : int, default 20
        Rows in the preview of a large table (read from the first record batch, never the whole table).
    max_contexts : int, default 10
        Contexts shown per cluster in the cluster browser.
    max_clusters : int, default 500
        The largest clusters shown per cluster count.
    max_cluster_counts : int, default 8
        Cluster counts rendered in the browser (spread over the sweep, always with the run's own count).
    """

    max_rows: int = 200
    preview_rows: int = 20
    max_contexts: int = 10
    max_clusters: int = 500
    max_cluster_counts: int = 8

    def __post_init__(self):
        for name in ("max_rows", "preview_rows", "max_contexts", "max_clusters", "max_cluster_counts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise QuantaError(f"{name} must be a positive integer, got {value!r}",
                                  f"pass e.g. {name}={getattr(Options, name)}")


@dataclass
class RunBlock:
    """One run as the report sees it."""

    index: int
    run: Run
    section: str
    summary: dict = field(default_factory=dict)  # summary.json, read once

    @property
    def anchor(self) -> str:
        return f"run-{self.index}-{H.slug(self.run.command or 'run')}"

    @property
    def title(self) -> str:
        return f"{self.run.command or '(no command)'} \u2014 {self.run.path.name}"


def section_of(command: str) -> str:
    """The section a run's manifest ``command`` belongs to (``"qdg parity"`` -> ``"qdg"``)."""
    word = str(command or "").split(" ")[0]
    return word if word in SECTIONS and word != "other" else "other"


# ---------------------------------------------------------------------------------------------- values
def as_interval(value: Any) -> tuple[float, float] | None:
    """``[lo, hi]``, ``(lo, hi)`` or ``{"lo"|"low": .., "hi"|"high": ..}`` as a pair of floats, else None."""
    if isinstance(value, Mapping):
        lo = next((value[k] for k in ("lo", "low", "lower") if k in value), None)
        hi = next((value[k] for k in ("hi", "high", "upper") if k in value), None)
        value = [lo, hi]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def fmt_interval(ci: tuple[float, float] | None) -> str | None:
    return None if ci is None else f"[{H.fmt_value(ci[0])}, {H.fmt_value(ci[1])}]"


def _duration(manifest: Mapping) -> str | None:
    total = (manifest.get("timings_s") or {}).get("total")
    if _is_number(total):
        return f"{total:.1f} s"
    try:
        a = dt.datetime.fromisoformat(str(manifest["started_at"]))
        b = dt.datetime.fromisoformat(str(manifest["ended_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    return f"{(b - a).total_seconds():.0f} s"


# ---------------------------------------------------------------------------------------------- summary
def summary_rows(summary: Mapping, prefix: str = "", depth: int = 0):
    """Flatten a summary into ``(name, value, interval text)`` rows and ``(name, DataFrame)`` record tables.

    A key ``X_ci`` (or ``X_interval``) next to ``X`` is shown on X's row. Nested dicts become dotted names
    (three levels deep, deeper ones are shown as text); lists of dicts and dicts of dicts (e.g. one fit per
    regime) become tables, and so do lists of long strings (notes), one per row.
    """
    rows, records = [], []
    keys = list(summary)
    for key in keys:
        value = summary[key]
        name = f"{prefix}{key}"
        base = next((key[: -len(s)] for s in ("_ci", "_interval") if key.endswith(s)), None)
        if base is not None and base in summary and as_interval(value) is not None:
            continue  # shown on its estimate's row
        if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            records.append((name, pd.DataFrame([{str(key): str(k), **dict(v)} for k, v in value.items()])))
            continue
        if isinstance(value, Mapping) and value and depth < 3 and as_interval(value) is None:
            r, t = summary_rows(value, prefix=f"{name}.", depth=depth + 1)
            rows += r
            records += t
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            records.append((name, pd.DataFrame.from_records([dict(v) for v in value])))
            continue
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value) \
                and sum(map(len, value)) > 80:  # notes, warnings: one per line
            records.append((name, pd.DataFrame({name: value})))
            continue
        ci = next((as_interval(summary[f"{key}{s}"]) for s in ("_ci", "_interval") if f"{key}{s}" in summary), None)
        if ci is None and as_interval(value) is not None and key.endswith(("_ci", "_interval")):
            rows.append((name, None, fmt_interval(as_interval(value))))
        else:
            rows.append((name, value, fmt_interval(ci)))
    return rows, records


def render_summary(block: RunBlock) -> str:
    summary = block.summary
    if not summary:
        return H.note("No summary.json: the run did not finish.", kind="warn")
    rows, records = summary_rows(summary)
    out = ["<h4>Headline figures</h4>"]
    if rows:
        out.append(H.kv_table(rows, header=("figure", "value", "interval"), table_id=f"{block.anchor}-summary"))
    for name, df in records:
        out.append(H.table(df, table_id=f"{block.anchor}-summary-{H.slug(name)}", caption=name))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- generic
def render_header(block: RunBlock) -> str:
    m = block.run.manifest
    status = str(m.get("status", "unknown"))
    bits = [f'<span class="badge {H.esc(status)}">{H.esc(status)}</span>',
            f"<code>{H.esc(block.run.path)}</code>"]
    if m.get("started_at"):
        bits.append(f"started {H.esc(m['started_at'])}")
    dur = _duration(m)
    if dur:
        bits.append(f"took {H.esc(dur)}")
    if m.get("device"):
        bits.append(f"device {H.esc(m['device'])}")
    if m.get("seed") is not None:
        bits.append(f"seed {H.esc(m['seed'])}")
    sep = " \u00b7 "
    out = [f'<h3 id="{H.esc(block.anchor)}">{H.esc(block.title)}</h3>', f'<p class="meta">{sep.join(bits)}</p>']
    if m.get("argv"):
        out.append(f'<p class="meta">command line: <code>{H.esc(m["argv"])}</code></p>')
    if status != "complete":
        err = m.get("error")
        out.append(H.note(f"This run is {status}, not complete: its tables may be partial."
                          + (f" Error: {err}" if err else ""), kind="bad" if status == "failed" else "warn"))
    return "".join(out)


def render_figures(block: RunBlock) -> str:
    figs = block.run.figures()
    if not figs:
        return ""
    return "<h4>Figures</h4>" + "".join(H.figure(p) for p in figs)


def render_tables(block: RunBlock, tables: list[TableInfo], opts: Options, shown_elsewhere: set[str]) -> str:
    if not tables:
        return ""
    out = ["<h4>Tables</h4>"]
    for t in tables:
        tid = f"{block.anchor}-t-{H.slug(t.name)}"
        parts = f", {t.n_parts} parts" if t.n_parts > 1 else ""
        schema = ", ".join(f"{c} ({d})" for c, d in zip(t.columns, t.dtypes))
        head = (f"<code>{H.esc(t.name)}</code> <span class=\"mut\">{t.n_rows} rows{parts}</span>")
        body = [f'<p class="meta">columns: {H.esc(schema)}</p>']
        if t.error is not None:
            head = f"<code>{H.esc(t.name)}</code> <span class=\"mut\">unreadable</span>"
            body = [H.note(f"This table could not be read: {t.error}", kind="bad")]
        elif t.name in shown_elsewhere:
            body.append(H.paragraph("Shown as contexts above."))
        elif t.n_rows <= opts.max_rows:
            body.append(H.table(t.read(), table_id=tid))
        else:
            body.append(H.table(t.read(opts.preview_rows), table_id=tid,
                                caption=f"first {opts.preview_rows} of {t.n_rows} rows"))
        out.append(H.details(head, "".join(body), open_=t.n_rows <= 10 and t.name not in shown_elsewhere,
                             cls="tbl"))
    return "".join(out)


def render_config(block: RunBlock) -> str:
    m = block.run.manifest
    rows, _ = summary_rows(block.run.config or {})
    cfg = (H.kv_table([(n, v) for n, v, _ in rows], header=("field", "value"), table_id=f"{block.anchor}-config")
           if rows else H.paragraph("(empty)"))
    versions = m.get("versions") or {}
    ver = ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, Mapping) else str(versions)
    timings = m.get("timings_s") or {}
    tim = ", ".join(f"{k} {H.fmt_value(v)} s" for k, v in timings.items()) if isinstance(timings, Mapping) else ""
    extra = "".join(f'<p class="meta">{H.esc(label)}: {H.esc(text)}</p>'
                    for label, text in (("versions", ver), ("timings", tim), ("host", m.get("host") or ""))
                    if text)
    return H.details("Config and provenance", cfg + extra, cls="cfg")


# ---------------------------------------------------------------------------------------------- contexts
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
               '<span class="mut"><span class="shown-count"></span> clusters shown</span></div>')
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
    for pos, (c, size) in enumerate(sizes.items(), start=1):
        rows = members[c]
        toks = [tokens[i] for i in rows]
        chips = " ".join(f'<span class="ctx"><mark>{H.esc(t) if t.strip() else H.esc(repr(t))}</mark></span>'
                         f'<span class="mut">\u00d7{n}</span>' for t, n in Counter(toks).most_common(5))
        summary = (f"<strong>#{pos}</strong> cluster {H.esc(c)} \u00b7 {size_label} {H.esc(H.fmt_value(size))}"
                   f" \u00b7 {chips}")
        items = []
        for i in rows[: opts.max_contexts]:
            tip = ", ".join(f"{m} {H.fmt_value(v[i])}" for m, v in meta.items())
            items.append(f'<li title="{H.esc(tip)}">{H.context(before[i], tokens[i], after[i])}</li>')
        more = (f'<p class="mut">top {len(items)} of the {len(rows)} contexts in the table</p>'
                if len(rows) > len(items) else "")
        text = " ".join(sorted(set(toks))).lower() + f" cluster {c}"
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
    head = "".join(f'<th scope="col">{H.esc(c)}</th>' for c in [*lead, "context", *curve_head, *others])
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
    return (f'<div class="table-wrap"><table id="{H.esc(table_id)}" class="data sortable ctx-table">{cap_html}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _sizes_from_labels(df: pd.DataFrame, cols: ContextColumns, tables: list[TableInfo]):
    """Add the true cluster sizes to a context table that lacks them, counted from the run's label table
    (QDG's ``clusters.parquet``: one row per token and cluster count). Unchanged when there is none."""
    need = {"cluster"} | ({"n_clusters"} if "n_clusters" in df.columns else set())
    labels = next((t for t in tables if t.name == "clusters" and need <= set(t.columns)), None)
    if labels is None or cols.cluster != "cluster":
        return df, cols
    keys = sorted(need)
    counts = pd.concat([pd.read_parquet(p, columns=keys) for p in labels.paths]).value_counts(keys)
    sizes = counts.rename("cluster_size").reset_index()
    df = df.merge(sizes, on=keys, how="left")
    return df, replace(cols, size="cluster_size")


def render_contexts(block: RunBlock, tables: list[TableInfo], opts: Options) -> tuple[str, set[str]]:
    """Cluster browsers and token-context tables for every table that holds contexts."""
    out, used = [], set()
    summary = block.summary
    for t in tables:
        cols = context_columns(t.columns)
        if cols is None:
            continue
        df = t.read()
        used.add(t.name)
        bid = f"{block.anchor}-b-{H.slug(t.name)}"
        if cols.cluster is not None:
            if cols.size is None:
                df, cols = _sizes_from_labels(df, cols, tables)
            out.append(f"<h4>Cluster browser <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            out.append(cluster_browser(df, cols, browser_id=bid, opts=opts, default_k=summary.get("n_clusters")))
        elif cols.kind is not None:
            out.append(f"<h4>Tokens in context <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            for kind, g in df.groupby(cols.kind, sort=False):
                out.append(context_table(g, cols, table_id=f"{bid}-{H.slug(kind)}", opts=opts,
                                         caption=f"{cols.kind} = {kind}: {len(g)} tokens"))
        else:
            out.append(f"<h4>Tokens in context <span class=\"mut\">({H.esc(t.name)})</span></h4>")
            out.append(context_table(df, cols, table_id=bid, opts=opts))
    return "".join(out), used


# ---------------------------------------------------------------------------------------------- falsify
_PRED = ("_pred", "_predicted")
_MEAS = ("_measured", "_meas", "_sim", "_simulated", "_fit")


def _is_verdict(d: Mapping) -> bool:
    return "verdict" in d or "overlap" in d or any(str(k).endswith(_PRED) for k in d)


def verdict_records(summary: Mapping) -> list[tuple[str, Mapping]]:
    """The verdict-like dicts of a falsify summary: the summary itself and/or nested ones (per method)."""
    out = []
    if _is_verdict(summary):
        out.append(("", summary))
    for key, value in summary.items():
        if isinstance(value, Mapping) and _is_verdict(value):
            out.append((str(key), value))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, Mapping) and _is_verdict(v):
                    label = v.get("method") or v.get("name") or v.get("source") or f"{key}[{i}]"
                    out.append((str(label), v))
    return out


def _get_ci(d: Mapping, key: str) -> tuple[float, float] | None:
    return next((as_interval(d[f"{key}{s}"]) for s in ("_ci", "_interval") if f"{key}{s}" in d), None)


def overlaps(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool | None:
    """Whether two intervals share a point (None when either is missing)."""
    if a is None or b is None:
        return None
    return max(min(a), min(b)) <= min(max(a), max(b))


@dataclass(frozen=True)
class Comparison:
    """A predicted quantity beside its measured (or simulated) value, each with its interval if any."""

    name: str
    keys: tuple[str, ...]
    predicted: Any
    predicted_ci: tuple[float, float] | None
    measured: Any
    measured_ci: tuple[float, float] | None
    primary: bool = True

    @property
    def difference(self) -> float | None:
        """``measured - predicted`` (None unless both are numbers): how far apart, beside whether the intervals meet.

        A simulated value with a very tight interval can miss an exact prediction by 0.001; this column shows that
        size, where the overlap column alone would only say "no".
        """
        if not (_is_number(self.predicted) and _is_number(self.measured)):
            return None
        return float(self.measured) - float(self.predicted)

    @property
    def overlap(self) -> bool | None:
        """Whether the intervals share a point; a value without an interval counts as a point.

        None when a value is missing or neither side has an interval.
        """
        if not (_is_number(self.predicted) and _is_number(self.measured)):
            return None
        if self.predicted_ci is None and self.measured_ci is None:
            return None
        return overlaps(self.predicted_ci or (self.predicted, self.predicted),
                        self.measured_ci or (self.measured, self.measured))


def comparisons(rec: Mapping, *, others: bool = False) -> list[Comparison]:
    """Every ``X_pred`` (or ``X_predicted``) of ``rec`` with its ``X_measured``/``X_meas``/``X_sim``, if any.

    With ``others``, every other number ``X_*`` of the record (e.g. ``zipf_envelope`` or ``zipf_true`` beside
    ``zipf_pred``) is compared with the same prediction too, in a row that is not ``primary``.
    """
    out = []
    for key in rec:
        sp = next((sp for sp in _PRED if str(key).endswith(sp)), None)
        if sp is None:
            continue
        base = str(key)[: -len(sp)]
        mk = next((f"{base}{sm}" for sm in _MEAS if f"{base}{sm}" in rec), None)
        keys = tuple(k for k in (key, mk) if k)
        keys += tuple(f"{k}{s}" for k in keys for s in ("_ci", "_interval") if f"{k}{s}" in rec)
        main = Comparison(name=base or "exponent", keys=keys, predicted=rec.get(key),
                          predicted_ci=_get_ci(rec, key), measured=rec.get(mk) if mk else None,
                          measured_ci=_get_ci(rec, mk) if mk else None)
        out.append(main)
        if not (others and base):
            continue
        for k, v in rec.items():
            k = str(k)
            if (k.startswith(f"{base}_") and k not in keys and _is_number(v) and not k.endswith(_PRED + _MEAS)
                    and not k.endswith(("_ci", "_interval"))):
                ci_keys = tuple(f"{k}{s}" for s in ("_ci", "_interval") if f"{k}{s}" in rec)
                out.append(Comparison(name=k, keys=(k, *ci_keys), predicted=main.predicted,
                                      predicted_ci=main.predicted_ci, measured=v, measured_ci=_get_ci(rec, k),
                                      primary=False))
    return out


def comparison_table(comps: list[Comparison], *, table_id: str, measured: str = "measured",
                     svg: bool = True) -> str:
    """The predicted-against-measured table (and, with ``svg``, the intervals drawn on one axis)."""
    rows = [(c.name, c.predicted, fmt_interval(c.predicted_ci), c.measured, fmt_interval(c.measured_ci),
             c.difference, c.overlap) for c in comps]
    out = H.kv_table(rows, header=("quantity", "predicted", "predicted interval", measured, f"{measured} interval",
                                   f"{measured} − predicted", "intervals overlap"), table_id=table_id)
    if svg:
        svg_rows = []
        for c in comps:
            if c.primary:
                svg_rows.append((f"{c.name} predicted", c.predicted if _is_number(c.predicted) else None,
                                 c.predicted_ci, "pred"))
            svg_rows.append((c.name if not c.primary else f"{c.name} {measured}",
                             c.measured if _is_number(c.measured) else None, c.measured_ci, "meas"))
        out += H.interval_svg(svg_rows)
    return out


def render_verdict(label: str, rec: Mapping, table_id: str) -> str:
    """The verdict of one record: the verdict line, predicted against measured with intervals and overlap,
    then the other numeric inputs (e.g. ``alpha_N`` and its interval)."""
    comps = comparisons(rec, others=True)
    computed = [c.overlap for c in comps if c.primary]
    stated = rec.get("overlap")
    stated = bool(stated) if isinstance(stated, (bool, np.bool_)) else None
    flag = stated if stated is not None else (all(computed) if computed and None not in computed else None)
    cls = {True: "ok", False: "bad", None: ""}[flag]
    verdict = rec.get("verdict")
    if verdict is None and flag is not None:
        verdict = "intervals overlap" if flag else "intervals do not overlap"
    out = []
    if label:
        out.append(f"<h4>{H.esc(label)}</h4>")
    tested = _is_number(rec.get("p_value")) and isinstance(verdict, str)
    if tested:  # quanta falsify decides by a test of the difference: show its outcome, not an overlap
        cls = {"consistent": "ok", "inconsistent": "bad"}.get(verdict, "")
        gap = rec.get("gap_se")
        tag = f"p = {float(rec['p_value']):.3g}" + (f", gap {float(gap):+.1f} se" if _is_number(gap) else "")
        how = f" ({rec['verdict_reason']})" if isinstance(rec.get("verdict_reason"), str) else ""
        out.append(f'<div class="verdict {cls}" data-overlap="{H.esc(flag)}" data-p="{H.esc(rec["p_value"])}">'
                   f'<strong>Verdict:</strong> {H.esc(verdict)} <span class="badge {cls}">{H.esc(tag)}</span>'
                   f'<span class="mut">{H.esc(how)}</span></div>')
    elif verdict is not None:
        tag = {True: "intervals overlap", False: "intervals do not overlap", None: "overlap not stated"}[flag]
        how = f" (method: {rec['method']})" if isinstance(rec.get("method"), str) else ""
        out.append(f'<div class="verdict {cls}" data-overlap="{H.esc(flag)}"><strong>Verdict:</strong> '
                   f'{H.esc(H.fmt_value(verdict))}{H.esc(how)} <span class="badge {cls}">{H.esc(tag)}</span></div>')
    if comps:
        out.append(comparison_table(comps, table_id=table_id))
    used = {k for c in comps for k in c.keys} | {"verdict", "overlap", "method"}
    inputs = [(k, v, fmt_interval(_get_ci(rec, k))) for k, v in rec.items()
              if k not in used and _is_number(v) and not str(k).endswith(("_ci", "_interval"))]
    if inputs:
        out.append(H.kv_table(inputs, header=("input", "value", "interval"), table_id=f"{table_id}-inputs"))
    if not tested and stated is not None and computed and None not in computed and stated != all(computed):
        out.append(H.note("The stated overlap differs from the intervals shown here.", kind="warn"))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- specific
def theory_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    out = []
    comps = comparisons(block.summary)
    alpha = block.run.config.get("alpha", block.summary.get("alpha"))
    if comps:
        out.append("<h4>Predicted exponents against the simulator's</h4>")
        out.append(comparison_table(comps, table_id=f"{block.anchor}-exponents", measured="simulated", svg=False))
    elif _is_number(alpha) and np.isfinite(alpha) and alpha > 0:
        from quanta.theory import frequency_exponent, scaling_exponent

        rows = [("N (parameters)", "\u03b1", scaling_exponent(alpha, "params")),
                ("D (data, multi-epoch)", "\u03b1/(\u03b1+1)", scaling_exponent(alpha, "data")),
                ("S (steps, single epoch)", "\u03b1/(\u03b1+1)", scaling_exponent(alpha, "steps")),
                ("Zipf exponent of quanta", "\u03b1+1", frequency_exponent(alpha))]
        out.append(f"<h4>Exponents predicted from \u03b1 = {H.esc(H.fmt_value(alpha))}</h4>")
        out.append(H.kv_table(rows, header=("regime", "exponent", "value"), table_id=f"{block.anchor}-exponents"))
    curves = next((t for t in tables if t.name == "curves"), None)
    if curves is not None and {"regime", "x", "loss"} <= set(curves.columns) and curves.n_rows <= 1_000_000:
        df = curves.read()
        rows = []
        for regime, g in df.groupby("regime", sort=False):
            g = g.sort_values("x")
            rows.append((regime, len(g), float(g["x"].iloc[0]), float(g["x"].iloc[-1]),
                         float(g["loss"].iloc[0]), float(g["loss"].iloc[-1])))
        out.append("<h4>Simulated curves by regime</h4>")
        out.append(H.kv_table(rows, header=("regime", "points", "smallest budget", "largest budget",
                                            "loss at smallest", "loss at largest"),
                              table_id=f"{block.anchor}-regimes"))
    return "".join(out)


def parity_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    out = []
    by_name = {t.name: t for t in tables}
    tasks = by_name.get("tasks")
    if tasks is not None and {"alpha", "task", "p"} <= set(tasks.columns):
        df = tasks.read()
        rows = []
        for alpha, g in df.groupby("alpha", sort=True):
            p = g["p"].sort_values(ascending=False)
            rows.append((H.fmt_value(alpha), len(g), float(p.iloc[0]), float(p.iloc[-1]),
                         float(p.head(10).sum())))
        out.append("<h4>Task distributions</h4>")
        out.append(H.kv_table(rows, header=("\u03b1", "tasks", "largest p", "smallest p", "share of top 10"),
                              table_id=f"{block.anchor}-tasks"))
    models = by_name.get("models")
    if models is not None and "n_params" in models.columns and models.n_rows <= 100_000:
        df = models.read()
        keys = [c for c in ("width", "D", "alpha", "seed") if c in df.columns]
        desc = ", ".join(f"{df[c].nunique()} {c} value{'s' if df[c].nunique() != 1 else ''}" for c in keys)
        out.append(H.paragraph(f"{len(df)} models ({desc}); parameters from {H.fmt_value(df['n_params'].min())} "
                               f"to {H.fmt_value(df['n_params'].max())}."))
    return "".join(out)


def lm_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    out = []
    by_name = {t.name: t for t in tables}
    models = by_name.get("models")
    if models is not None and models.n_rows <= 10_000:
        df = models.read()
        if "order" in df.columns:
            df = df.sort_values("order", kind="stable")
        out.append("<h4>Suite</h4>" + H.table(df, table_id=f"{block.anchor}-suite"))
    docs = by_name.get("docs")
    if docs is not None and "n_tokens" in docs.columns:
        n_tokens = int(docs.read()["n_tokens"].sum())
        out.append(H.paragraph(f"Corpus: {docs.n_rows} documents, {n_tokens} tokens."))
    losses = by_name.get("losses/")
    if losses is not None:
        out.append(H.paragraph(f"Per-token losses: {losses.n_rows} rows in {losses.n_parts} part(s)."))
    return "".join(out)


def falsify_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    recs = verdict_records(block.summary)
    if not recs:
        return H.note("This run's summary holds no verdict (no verdict, overlap or *_pred keys).", kind="warn")
    return "".join(render_verdict(label, rec, f"{block.anchor}-verdict-{i}") for i, (label, rec) in enumerate(recs))


EXTRAS = {"theory": theory_extra, "parity": parity_extra, "lm": lm_extra, "falsify": falsify_extra}


def render_run(block: RunBlock, opts: Options) -> str:
    """The whole block of one run: header, the section's own parts, contexts, summary, figures, tables, config."""
    tables = list_tables(block.run.path)
    readable = [t for t in tables if t.error is None]
    parts = [render_header(block)]
    extra = EXTRAS.get(block.section)
    if extra is not None:
        parts.append(extra(block, readable, opts))
    ctx_html, used = render_contexts(block, readable, opts)
    parts.append(ctx_html)
    parts.append(render_summary(block))
    parts.append(render_figures(block))
    parts.append(render_tables(block, tables, opts, used))
    parts.append(render_config(block))
    return f'<article class="run" data-section="{H.esc(block.section)}">{"".join(parts)}</article>'


def headline(summary: Mapping, n: int = 3) -> str:
    """A one-line digest of a summary: its ``verdict`` if any, then figures with an interval, then other numbers
    (at most ``n`` items)."""
    rows, _ = summary_rows(summary)
    verdict = [f"verdict: {H.fmt_value(v)}" for k, v, _ in rows if k == "verdict" and v is not None]
    with_ci = [f"{k} = {H.fmt_value(v)} {ci}" for k, v, ci in rows if ci is not None and _is_number(v)]
    numbers_ = [f"{k} = {H.fmt_value(v)}" for k, v, ci in rows if ci is None and _is_number(v)]
    return "; ".join((verdict + with_ci + numbers_)[:n])


__all__ = ["SECTIONS", "Options", "RunBlock", "section_of", "render_run", "headline", "verdict_records",
           "summary_rows", "as_interval", "overlaps"]

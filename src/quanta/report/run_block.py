"""The generic block of one run in the report: its limits (:class:`Options`), the run as the report sees it
(:class:`RunBlock`) and the parts every run gets: header, headline figures with their intervals, figures, tables
and config."""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quanta.errors import QuantaError
from quanta.report import html as H
from quanta.report.tables import TableInfo
from quanta.store import Run


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


def as_interval(value: Any) -> tuple[float, float] | None:
    """``[lo, hi]``, ``(lo, hi)`` or ``{"lo"|"low": .., "hi"|"high": ..}`` as a pair of floats, else None."""
    if isinstance(value, Mapping):
        lo = next((value[k] for k in ("lo", "low", "lower") if k in value), None)
        hi = next((value[k] for k in ("hi", "high", "upper") if k in value), None)
        value = [lo, hi]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def fmt_interval(ci: tuple[float, float] | None) -> str | None:
    return None if ci is None else f"[{H.fmt_value(ci[0])}, {H.fmt_value(ci[1])}]"


def _duration(manifest: Mapping) -> str | None:
    total = (manifest.get("timings_s") or {}).get("total")
    if is_number(total):
        return f"{total:.1f} s"
    try:
        a = dt.datetime.fromisoformat(str(manifest["started_at"]))
        b = dt.datetime.fromisoformat(str(manifest["ended_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    return f"{(b - a).total_seconds():.0f} s"


#: ``X_ranks`` beside an exponent ``X``: the ranks it was fitted over, shown on X's row wherever X is shown.
RANKS = "_ranks"


def ranks_of(summary: Mapping, key: str) -> str | None:
    """The ranks the exponent ``key`` of ``summary`` was fitted over (its ``key_ranks``), if stated."""
    v = summary.get(f"{key}{RANKS}")
    return v if isinstance(v, str) and v else None


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
        if key.endswith(RANKS) and key[: -len(RANKS)] in summary and (value is None or isinstance(value, str)):
            continue  # the ranks an exponent was fitted over: shown on its row (render_summary)
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
    ranks = [ranks_of(_parent(summary, name), name.rsplit(".", 1)[-1]) for name, _, _ in rows]
    if any(ranks):  # exponents fitted over some ranks say which, on their own row
        rows = [(*r, k) for r, k in zip(rows, ranks)]
    if rows:
        header = ("figure", "value", "interval") + (("ranks",) if any(ranks) else ())
        out.append(H.kv_table(rows, header=header, table_id=f"{block.anchor}-summary"))
    for name, df in records:
        tid = f"{block.anchor}-summary-{H.slug(name)}"
        if len(df.columns) > H.WIDE_COLUMNS and len(df) <= 3:  # a few wide records: one column per record
            rows = [(c, *df[c].tolist()) for c in df.columns]
            out.append(f'<p class="meta">{H.esc(name)}</p>')
            out.append(H.kv_table(rows, header=("field", *(f"{name}[{i}]" for i in range(len(df)))),
                                  table_id=tid))
        else:
            out.append(H.table(df, table_id=tid, caption=name))
    return "".join(out)


def _parent(summary: Mapping, dotted: str) -> Mapping:
    """The dict of ``summary`` that holds the flattened name ``dotted`` (``a.b.c`` -> ``summary["a"]["b"]``)."""
    d = summary
    for part in dotted.split(".")[:-1]:
        nxt = d.get(part) if isinstance(d, Mapping) else None
        if not isinstance(nxt, Mapping):
            return {}
        d = nxt
    return d if isinstance(d, Mapping) else {}


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

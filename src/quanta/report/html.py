"""HTML building blocks for the report: escaping, values, tables, figures, token contexts, the page.

Everything returned here is a string of HTML in which every piece of user or run data has gone
through :func:`esc`. The page carries its own CSS and JavaScript inline (no network, no CDN): the
script makes tables sortable (click a header; ``#sort=TABLE:COL:asc|desc`` in the address sorts on
load), drives the cluster browser's filter and cluster-count selector, and writes any script error
into the page (``#js-errors``, ``data-js-errors`` on ``<html>``) so that it is never silent.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MISSING = "\u2014"  # em dash for a missing value


def esc(value: Any) -> str:
    """Escape ``value`` (converted with ``str``) for use in HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def slug(text: str) -> str:
    """A string usable as an HTML id: letters, digits and dashes."""
    out = re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()
    return out or "x"


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return value is pd.NA or value is pd.NaT


def fmt_value(value: Any, *, max_items: int = 8) -> str:
    """A short, human-readable text for one value (plain text, not yet escaped).

    Floats get 4 significant digits, lists up to ``max_items`` items, missing values an em dash.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, Mapping):
        items = list(value.items())
        text = ", ".join(f"{k}: {fmt_value(v, max_items=max_items)}" for k, v in items[:max_items])
        return "{" + text + (", \u2026" if len(items) > max_items else "") + "}"
    if isinstance(value, (list, tuple)):
        items = [fmt_value(v, max_items=max_items) for v in value[:max_items]]
        more = f", \u2026 ({len(value)} in all)" if len(value) > max_items else ""
        return "[" + ", ".join(items) + more + "]"
    return str(value)


def sort_key(value: Any) -> str | None:
    """The raw value a table cell sorts by (``data-v``), or None to sort by the cell's text.

    Numbers sort numerically; missing values get an empty key and sort last either way.
    """
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(float(value)) else ""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    return None


def cell(value: Any) -> str:
    """One ``<td>`` holding ``value``, with its sort key; numbers are right-aligned."""
    key = sort_key(value)
    attrs = "" if key is None else f' data-v="{esc(key)}"'
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        attrs += ' class="num"'
    return f"<td{attrs}>{esc(fmt_value(value))}</td>"


#: Tables with more columns than this are set compact (smaller type, headers that break at ``_``) to fit the page.
WIDE_COLUMNS = 8


def header_text(name: Any) -> str:
    """A column name, escaped, that may break after ``_`` and ``.`` (``predicted_finite`` fits a narrow column)."""
    return re.sub(r"([_.])", r"\1<wbr>", esc(name))


def table(df: pd.DataFrame, *, table_id: str, caption: str | None = None) -> str:
    """An HTML table of ``df`` (all its rows: slice it first). Sortable by clicking the headers.

    A table with more than :data:`WIDE_COLUMNS` columns is set compact so that it fits the page's width.
    """
    head = "".join(f'<th scope="col" title="{esc(c)}">{header_text(c)}</th>' for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False, name=None):
        rows.append("<tr>" + "".join(cell(v) for v in rec) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    wide = " wide" if len(df.columns) > WIDE_COLUMNS else ""
    return (f'<div class="table-wrap"><table id="{esc(table_id)}" class="data sortable{wide}">{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def kv_table(rows: Sequence[Sequence[Any]], *, header: Sequence[str], table_id: str) -> str:
    """A small table from rows of values (the first column is a name shown as ``<th>``)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        name, *rest = row
        body.append(f'<tr><th scope="row">{esc(name)}</th>' + "".join(cell(v) for v in rest) + "</tr>")
    return (f'<div class="table-wrap"><table id="{esc(table_id)}" class="data kv"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def figure(path: Path, *, caption: str | None = None) -> str:
    """A PNG file inlined as a base64 ``data:`` URI inside a ``<figure>``."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    cap = esc(caption if caption is not None else Path(path).stem)
    return (f'<figure class="fig"><img alt="{cap}" src="data:image/png;base64,{data}">'
            f"<figcaption>{cap}</figcaption></figure>")


_VISIBLE = {"\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d"}


def _visible(text: str) -> str:
    """Escape ``text`` and show newlines, tabs and carriage returns as glyphs."""
    out = esc(text)
    for ch, glyph in _VISIBLE.items():
        if ch in out:
            out = out.replace(ch, f'<span class="ws">{glyph}</span>')
    return out


def context(before: Any, token: Any, after: Any, *, max_before: int = 160, max_after: int = 60) -> str:
    """One token in its context, the token highlighted; long sides are cut with an ellipsis.

    Whitespace in the token is made visible (a space as a middle dot inside the highlight) so that a
    newline or space token still shows.
    """
    before = "" if _is_missing(before) else str(before)
    after = "" if _is_missing(after) else str(after)
    token = "" if _is_missing(token) else str(token)
    cut_b = len(before) > max_before
    cut_a = len(after) > max_after
    before = before[-max_before:] if cut_b else before
    after = after[:max_after] if cut_a else after
    tok = _visible(token.replace(" ", "\u00b7")) if token.strip() == "" else _visible(token)
    return ('<span class="ctx">' + ('<span class="cut">\u2026</span>' if cut_b else "")
            + f'<span class="bef">{_visible(before)}</span><mark title="{esc(repr(token))}">{tok}</mark>'
            + f'<span class="aft">{_visible(after)}</span>' + ('<span class="cut">\u2026</span>' if cut_a else "")
            + "</span>")


def details(summary_html: str, body_html: str, *, open_: bool = False, cls: str | None = None,
            attrs: Mapping[str, str] | None = None) -> str:
    """A collapsible block; ``summary_html`` and ``body_html`` are HTML already."""
    extra = "".join(f' {k}="{esc(v)}"' for k, v in (attrs or {}).items())
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<details{c}{extra}{' open' if open_ else ''}><summary>{summary_html}</summary>{body_html}</details>"


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def note(text: str, *, kind: str = "info") -> str:
    return f'<p class="note {esc(kind)}">{esc(text)}</p>'


def interval_svg(rows: Sequence[tuple[str, float | None, tuple[float, float] | None, str]], *,
                 width: int = 420) -> str:
    """A small inline SVG: one horizontal interval (and point) per row on a common axis.

    ``rows`` holds ``(label, value, (lo, hi) or None, css class)``. Rows with neither a value nor an
    interval are left out; an empty string comes back when nothing can be drawn.
    """
    pts, values = [], []
    for label, value, ci, cls in rows:
        vals = ([value] if value is not None else []) + (list(ci) if ci else [])
        if vals:
            pts.append((label, value, ci, cls))
            values += vals
    if not pts:
        return ""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    left, right, row_h = 110, width - 10, 22
    height = row_h * len(pts) + 24

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    parts = [f'<svg class="ivl" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, value, ci, cls) in enumerate(pts):
        y = 14 + i * row_h
        parts.append(f'<text x="4" y="{y + 4}" class="lbl">{esc(label)}</text>')
        if ci:
            parts.append(f'<line class="{esc(cls)}" x1="{x(ci[0]):.1f}" x2="{x(ci[1]):.1f}" y1="{y}" y2="{y}"/>')
        if value is not None:
            parts.append(f'<circle class="{esc(cls)}" cx="{x(value):.1f}" cy="{y}" r="4"/>')
    axis_y = height - 8
    parts.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{axis_y - 6}" y2="{axis_y - 6}"/>')
    parts.append(f'<text x="{left}" y="{axis_y + 4}" class="tick">{esc(fmt_value(lo))}</text>')
    parts.append(f'<text x="{right}" y="{axis_y + 4}" class="tick" text-anchor="end">{esc(fmt_value(hi))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sparkline(xs: Sequence[float], ys: Sequence[float], *, log_x: bool = True, width: int = 130,
              height: int = 30) -> str:
    """A tiny inline SVG of ``ys`` against ``xs`` (log-scaled x when all are > 0); the values in its tooltip.

    Pairs with a missing or non-finite value are left out; an empty string comes back when fewer than
    two points remain.
    """
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if not (_is_missing(x) or _is_missing(y))]
    if len(pts) < 2:
        return ""
    if log_x and all(x > 0 for x, _ in pts):
        tx = [math.log10(x) for x, _ in pts]
    else:
        tx = [x for x, _ in pts]
    ty = [y for _, y in pts]
    x0, x1 = min(tx), max(tx)
    y0, y1 = min(ty), max(ty)
    sx = (width - 6) / ((x1 - x0) or 1.0)
    sy = (height - 6) / ((y1 - y0) or 1.0)
    coords = [(3 + (a - x0) * sx, height - 3 - (b - y0) * sy) for a, b in zip(tx, ty)]
    poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
    dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.8"/>' for a, b in coords)
    tip = "; ".join(f"{fmt_value(x)}: {fmt_value(y)}" for x, y in pts)
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f"<title>{esc(tip)}</title><polyline points=\"{poly}\"/>{dots}</svg>")


CSS = """
:root{--fg:#1d232b;--mut:#5b6573;--bg:#fff;--alt:#f5f7fa;--line:#d9dee5;--acc:#2b6cb0;--ok:#2f855a;--bad:#c53030;
--mark:#ffe28a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0 auto;max-width:1200px;padding:16px 24px 64px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:20px;margin:32px 0 8px;padding-top:8px;border-top:2px solid var(--line)}
h3{font-size:16px;margin:20px 0 6px}h4{font-size:14px;margin:14px 0 4px}
.meta,.mut{color:var(--mut)}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
nav.toc ul{columns:2;margin:4px 0}
.table-wrap{overflow-x:auto;max-width:100%;margin:6px 0 12px}
table.data{border-collapse:collapse;font-size:13px}
table.data th,table.data td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top;
max-width:44em;overflow-wrap:break-word}
table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data.wide{font-size:12px}table.data.wide th,table.data.wide td{padding:2px 5px;max-width:18em}
table.data.wide td:not(.num),table.data.wide th{overflow-wrap:anywhere}
table.data.wide td.ctxcell{min-width:18em}
table.data thead th{background:var(--alt);position:sticky;top:0}
table.data tbody tr:nth-child(even){background:#fafbfc}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th::after{content:" \\2195";color:#aab2bd;font-size:11px}
table.sortable thead th[aria-sort=ascending]::after{content:" \\25B2";color:var(--acc)}
table.sortable thead th[aria-sort=descending]::after{content:" \\25BC";color:var(--acc)}
table caption{caption-side:top;text-align:left;color:var(--mut);padding:2px 0}
figure.fig{display:inline-block;margin:6px 12px 12px 0;vertical-align:top;max-width:100%}
figure.fig img{max-width:100%;height:auto;border:1px solid var(--line)}
figure.fig figcaption{color:var(--mut);font-size:12px}
.note{padding:6px 10px;border-left:4px solid var(--acc);background:var(--alt)}
.note.warn{border-color:#d69e2e;background:#fffbea}.note.bad{border-color:var(--bad);background:#fff5f5}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:var(--alt);
border:1px solid var(--line)}
.badge.complete,.badge.ok{background:#e6ffed;border-color:#9ae6b4}.badge.failed,.badge.bad{background:#fff5f5;
border-color:#feb2b2}.badge.running{background:#fffbea;border-color:#f6e05e}
.verdict{font-size:16px;padding:8px 12px;margin:8px 0;border-radius:4px;border:1px solid var(--line)}
.verdict.ok{background:#e6ffed;border-color:#9ae6b4}.verdict.bad{background:#fff5f5;border-color:#feb2b2}
.verdict.part{font-size:14px}
.ctx{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;white-space:pre-wrap;
overflow-wrap:anywhere}
.ctx mark{background:var(--mark);outline:1px solid #d69e2e;border-radius:2px;padding:0 1px}
span.unit{font-size:12.5px;padding:0 4px;border:1px solid var(--line);border-radius:3px;background:var(--alt)}
.ctx .ws{color:#a0aec0}.ctx .cut{color:#a0aec0}
td.ctxcell{min-width:24em}
ol.contexts{margin:4px 0 8px;padding-left:28px}ol.contexts li{margin:2px 0;border-bottom:1px dotted var(--line)}
details.cluster{border:1px solid var(--line);border-radius:4px;margin:4px 0;padding:2px 8px}
details.cluster>summary{cursor:pointer}details.cluster[hidden]{display:none}
.browser-controls{display:flex;gap:12px;align-items:center;margin:6px 0;flex-wrap:wrap}
.browser-controls input{padding:3px 6px;min-width:240px}
.k-group[hidden]{display:none}
svg.ivl .lbl,svg.ivl .tick{font-size:11px;fill:var(--mut)}svg.ivl line{stroke-width:3}
svg.ivl .pred{stroke:var(--acc);fill:var(--acc)}svg.ivl .meas{stroke:#dd6b20;fill:#dd6b20}
svg.ivl .axis{stroke:var(--line);stroke-width:1}
svg.spark polyline{fill:none;stroke:var(--acc);stroke-width:1.5}svg.spark circle{fill:var(--acc)}
#js-errors{border:2px solid var(--bad);background:#fff5f5;padding:8px}
"""

# Installed first, in <head>, so that errors in any later script are caught.
ERROR_JS = """
(function(){var n=0;function show(msg){n+=1;document.documentElement.setAttribute('data-js-errors',String(n));
var box=document.getElementById('js-errors');if(!box){return;}box.hidden=false;var li=document.createElement('li');
li.textContent=String(msg);box.querySelector('ul').appendChild(li);}
window.addEventListener('error',function(e){show((e.message||'error')+' (line '+(e.lineno||'?')+')');});
window.addEventListener('unhandledrejection',function(e){show('unhandled rejection: '+e.reason);});
window.__reportError=show;})();
"""

MAIN_JS = """
(function(){
'use strict';
function key(td){var v=td.getAttribute('data-v');return v===null?td.textContent.trim():v;}
function isNum(k){return k===''||(k!=='NaN'&&!isNaN(Number(k)));}
function sortTable(table,col,dir){
  var body=table.tBodies[0];if(!body||!table.tHead||col<0||col>=table.tHead.rows[0].cells.length){return;}
  var rows=Array.prototype.slice.call(body.rows);
  var keys=rows.map(function(r){return r.cells[col]?key(r.cells[col]):'';});
  var numeric=keys.every(isNum);var sign=dir==='desc'?-1:1;
  var idx=rows.map(function(_,i){return i;});
  idx.sort(function(a,b){
    var x=keys[a],y=keys[b];
    if(x===''&&y===''){return a-b;} if(x===''){return 1;} if(y===''){return -1;}
    var c=numeric?(Number(x)-Number(y)):x.localeCompare(y,undefined,{numeric:true});
    return c!==0?sign*c:a-b;});
  idx.forEach(function(i){body.appendChild(rows[i]);});
  var ths=table.tHead.rows[0].cells;
  for(var j=0;j<ths.length;j++){ths[j].removeAttribute('aria-sort');}
  ths[col].setAttribute('aria-sort',dir==='desc'?'descending':'ascending');
  table.setAttribute('data-sort-col',String(col));table.setAttribute('data-sort-dir',dir);
}
function initTables(){
  var tables=document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables,function(table){
    if(!table.tHead){return;}
    var ths=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths,function(th,col){
      th.tabIndex=0;
      var go=function(){var cur=th.getAttribute('aria-sort');
        sortTable(table,col,cur==='ascending'?'desc':'asc');};
      th.addEventListener('click',go);
      th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();go();}});
    });
    table.setAttribute('data-sortable','ready');
  });
}
function applyHash(){
  var m=/(?:^#|&)sort=([^&]*)/.exec(location.hash);if(!m){return;}
  m[1].split(',').forEach(function(raw){
    var spec;try{spec=decodeURIComponent(raw);}catch(err){return;}
    var p=spec.split(':');var t=document.getElementById(p[0]);
    if(t&&t.classList.contains('sortable')){sortTable(t,parseInt(p[1],10)||0,p[2]==='desc'?'desc':'asc');}
  });
}
function initBrowsers(){
  Array.prototype.forEach.call(document.querySelectorAll('.browser'),function(br){
    var sel=br.querySelector('select.k-select');var box=br.querySelector('input.filter');
    var count=br.querySelector('.shown-count');
    var update=function(){
      var k=sel?sel.value:null;var q=box?box.value.trim().toLowerCase():'';var shown=0;
      Array.prototype.forEach.call(br.querySelectorAll('.k-group'),function(g){
        var on=(k===null||g.getAttribute('data-k')===k);g.hidden=!on;
        Array.prototype.forEach.call(g.querySelectorAll('details.cluster'),function(d){
          var hit=q===''||(d.getAttribute('data-text')||'').indexOf(q)>=0;d.hidden=!hit;if(on&&hit){shown+=1;}
        });
      });
      if(count){count.textContent=String(shown);}
      br.setAttribute('data-shown',String(shown));
    };
    if(sel){sel.addEventListener('change',update);} if(box){box.addEventListener('input',update);}
    update();br.setAttribute('data-browser','ready');
  });
}
initTables();applyHash();initBrowsers();
window.addEventListener('hashchange',applyHash);
document.documentElement.setAttribute('data-report-ready','1');
})();
"""


def page(title: str, body: str, *, generated: str) -> str:
    """The whole HTML document: ``body`` (HTML) inside the page with inline CSS and JavaScript."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"quanta report\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style><script>{ERROR_JS}</script></head><body>"
            '<div id="js-errors" hidden><strong>Script errors on this page:</strong><ul></ul></div>'
            f"<header><h1>{esc(title)}</h1><p class=\"meta\">generated {esc(generated)} by quanta report</p></header>"
            f"{body}<script>{MAIN_JS}</script></body></html>\n")

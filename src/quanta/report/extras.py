"""What each kind of run adds to its block: the predicted exponents (theory), the task distribution and models
(parity), the suite (lm), the method and the scoreboard (parts), the verdict (falsify) and the rates (calibrate)."""

from __future__ import annotations

import numpy as np

from quanta.report import html as H
from quanta.report.run_block import Options, RunBlock, is_number
from quanta.report.tables import TableInfo
from quanta.report.verdict_table import comparison_table, comparisons, render_verdict, verdict_records


def theory_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    out = []
    comps = comparisons(block.summary)
    alpha = block.run.config.get("alpha", block.summary.get("alpha"))
    if comps:
        out.append("<h4>Predicted exponents against the simulator's</h4>")
        out.append(comparison_table(comps, table_id=f"{block.anchor}-exponents", measured="simulated", svg=False))
    elif is_number(alpha) and np.isfinite(alpha) and alpha > 0:
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
    top = recs[0][0] == "" and isinstance(recs[0][1].get("verdict"), str)
    part = f"one input of the verdict {recs[0][1]['verdict']!r} above" if top else None
    return "".join(render_verdict(label, rec, f"{block.anchor}-verdict-{i}", part_of=part if label else None)
                   for i, (label, rec) in enumerate(recs))


def _rate(r) -> str:
    if not r or not r.get("n"):
        return "n/a"
    return f"{r['rate']:.0%} [{r['lo']:.0%}, {r['hi']:.0%}] of {r['n']}"


def calibrate_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    s = block.summary
    t = s.get("true_worlds")
    if not t:
        return H.note("This calibration's summary holds no rates.", kind="warn")
    rows = [("true worlds: wrongly inconsistent", _rate(t.get("wrong_inconsistent"))),
            ("true worlds: consistent", _rate(t.get("consistent"))),
            ("true worlds: not a power law", _rate(t.get("wrong_not_power_law"))),
            ("coverage of the interval of α_N + 1", _rate(t.get("coverage_predicted"))),
            ("coverage of the parts' interval", _rate(t.get("coverage_measured")))]
    o = s.get("oracle_worlds")
    if o:
        rows += [("oracle parts (reference): wrongly inconsistent", _rate(o.get("wrong_inconsistent"))),
                 ("oracle parts (reference): consistent", _rate(o.get("consistent")))]
    rows += [(f"gap {r['gap']:g}: called inconsistent", _rate(r["power"])) for r in s.get("power_by_gap", [])
             if r["gap"] > 0]
    rows += [(f"{k}: detected", _rate(v["detected"])) for k, v in (s.get("false_worlds") or {}).items()]
    rows.append(("min_detectable_gap (80% power)", H.fmt_value(s.get("min_detectable_gap"))))
    return H.kv_table(rows, header=("rate", "share of verdicts (95% Wilson)"), table_id=f"{block.anchor}-rates")


def _mean_sd(mean, sd) -> str:
    if mean is None:
        return "\u2013"
    return f"{mean:.3f}" + (f" \u00b1 {sd:.3f}" if sd is not None else "")


def parts_extra(block: RunBlock, tables: list[TableInfo], opts: Options) -> str:
    """A parts run: its method and law in one line; the bench: the scoreboard by method and the two rankings."""
    s = block.summary
    if block.run.command != "parts bench":
        if s.get("method") is None:
            return ""
        law = s.get("zipf_exponent")
        return H.paragraph(f"Method {s['method']}: {s.get('n_live')} live parts of {s.get('n_parts')} "
                           f"({s.get('n_dead')} dead, {s.get('n_dense')} dense) on {s.get('n_samples')} samples; "
                           f"Zipf exponent of their use {H.fmt_value(law) if law is not None else 'not fitted'}"
                           + (f" (planted \u03b1+1 = {H.fmt_value(s['zipf_true'])})" if s.get("zipf_true") else "")
                           + ".")
    methods = s.get("methods") or []
    if not methods:
        return H.note("This bench's summary holds no methods.", kind="warn")
    rows = []
    for r in methods:
        n = r["n_units"]
        rows.append((r["method"], f"{n} ({r['n_failed']} failed)" if r.get("n_failed") else n, _mean_sd(r.get("f1"), r.get("f1_sd")), H.fmt_value(r.get("f1_null")),
                     f"{r.get('f1_above_null_q95')}/{n}", H.fmt_value(r.get("ari")),
                     _mean_sd(r.get("abs_exponent_error"), r.get("abs_exponent_error_sd")),
                     f"{r.get('n_consistent')}/{n}", f"{r.get('n_inconsistent')}/{n}",
                     f"{r.get('n_not_power_law')}/{n}",
                     "–" if r.get("n_oracle_consistent") is None else
                     f"{r['n_oracle_consistent']} / {r['n_oracle_inconsistent']} / {r['n_oracle_not_power_law']}",
                     H.fmt_value(r.get("seconds_median"))))
    out = ["<h4>Scoreboard: parts against the planted quanta</h4>",
           H.kv_table(rows, header=("method", "units", "match F1", "null F1", "F1 above null 95%", "ARI",
                                    "|exponent \u2212 (\u03b1+1)|", "consistent", "inconsistent",
                                    "not a power law", "truth as parts: consistent / inconsistent / not a power law",
                                    "seconds (median)"), table_id=f"{block.anchor}-bench")]
    for key, what in (("ranking_f1", "match F1"), ("ranking_exponent", "exponent error")):
        r = s.get(key)
        if not r:
            continue
        text = f"By {what}: {' > '.join(r['order'])}"
        if r.get("runner_up"):
            lo, hi = r["lead_ci"]
            text += (f"; {r['best']} leads {r['runner_up']} by {r['lead']:.3f} [{lo:.3f}, {hi:.3f}] "
                     f"({s.get('ci_level', 0.9):.0%} bootstrap over {r['n_paired']} paired units).")
        out.append(H.paragraph(text))
    out.append(H.paragraph("Every world is true, so consistent is the right verdict and inconsistent a false alarm. "
                           "The null F1 is the same parts scored against the truth shuffled across their samples. "
                           "Truth as parts: the planted quanta of the same samples, decided by the same test "
                           "against the same α_N (a reference read from the labels, not a method): where it "
                           "is not consistent either, no decomposition could have been."))
    return "".join(out)


EXTRAS = {"theory": theory_extra, "parity": parity_extra, "lm": lm_extra, "falsify": falsify_extra,
          "calibrate": calibrate_extra, "parts": parts_extra}

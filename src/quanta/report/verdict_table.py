"""The verdict in the report: predicted against measured exponents, each with its interval, as a table and a
small interval plot, and a tested verdict with its outcome and p-value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from quanta.report import html as H
from quanta.report.run_block import as_interval, fmt_interval, is_number, ranks_of


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
    ranks: str | None = None  # the ranks the measured exponent was fitted over (its ``X_ranks``)

    @property
    def difference(self) -> float | None:
        """``measured - predicted`` (None unless both are numbers): how far apart, beside whether the intervals meet.

        A simulated value with a very tight interval can miss an exact prediction by 0.001; this column shows that
        size, where the overlap column alone would only say "no".
        """
        if not (is_number(self.predicted) and is_number(self.measured)):
            return None
        return float(self.measured) - float(self.predicted)

    @property
    def overlap(self) -> bool | None:
        """Whether the predicted interval meets the measured one (a measured value without an interval counts as a
        point, e.g. the planted truth).

        None when a value is missing or the prediction has no interval: an exact prediction (theory's α_N = α) has
        nothing to overlap, and a tight simulated interval that misses it by 0.001 is not a disagreement; the
        :attr:`difference` is the comparison then.
        """
        if not (is_number(self.predicted) and is_number(self.measured)) or self.predicted_ci is None:
            return None
        return overlaps(self.predicted_ci, self.measured_ci or (self.measured, self.measured))


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
                          measured_ci=_get_ci(rec, mk) if mk else None, ranks=ranks_of(rec, mk) if mk else None)
        out.append(main)
        if not (others and base):
            continue
        for k, v in rec.items():
            k = str(k)
            if (k.startswith(f"{base}_") and k not in keys and is_number(v) and not k.endswith(_PRED + _MEAS)
                    and not k.endswith(("_ci", "_interval", "_se"))):  # standard errors are no estimates of it
                ci_keys = tuple(f"{k}{s}" for s in ("_ci", "_interval") if f"{k}{s}" in rec)
                out.append(Comparison(name=k, keys=(k, *ci_keys), predicted=main.predicted,
                                      predicted_ci=main.predicted_ci, measured=v, measured_ci=_get_ci(rec, k),
                                      primary=False, ranks=ranks_of(rec, k)))
    return out


def comparison_table(comps: list[Comparison], *, table_id: str, measured: str = "measured",
                     svg: bool = True) -> str:
    """The predicted-against-measured table (and, with ``svg``, the intervals drawn on one axis).

    Predictions without an interval are exact: their rows have no overlap (the difference is the comparison), and
    a table where no prediction has an interval drops those two columns and says so.
    """
    exact = all(c.predicted_ci is None for c in comps)
    rows = [(c.name, c.predicted, fmt_interval(c.predicted_ci), c.measured, fmt_interval(c.measured_ci),
             c.difference, c.overlap) for c in comps]
    header = ("quantity", "predicted", "predicted interval", measured, f"{measured} interval",
              f"{measured} \u2212 predicted", "intervals overlap")
    if exact:
        rows = [r[:2] + r[3:6] for r in rows]
        header = header[:2] + header[3:6]
    if any(c.ranks for c in comps):  # the ranks each measured exponent was fitted over
        rows = [(*r, c.ranks) for r, c in zip(rows, comps)]
        header = (*header, "ranks")
    out = H.kv_table(rows, header=header, table_id=table_id)
    if exact and any(is_number(c.predicted) and is_number(c.measured) for c in comps):
        out += H.paragraph(f"The predictions are exact (no interval): the {measured} value is compared by its "
                           f"difference, not by an overlap of intervals.")
    if svg:
        svg_rows = []
        for c in comps:
            if c.primary:
                svg_rows.append((f"{c.name} predicted", c.predicted if is_number(c.predicted) else None,
                                 c.predicted_ci, "pred"))
            svg_rows.append((c.name if not c.primary else f"{c.name} {measured}",
                             c.measured if is_number(c.measured) else None, c.measured_ci, "meas"))
        out += H.interval_svg(svg_rows)
    return out


def verdict_caveats(rec: Mapping) -> list[tuple[str, str]]:
    """What a verdict must be read with, as ``(kind, text)`` notes: on a planted toy world (a record with
    ``alpha_planted`` or ``zipf_true``) the finite-task bias of docs/falsify.md, with the run's own figures; and the
    test's error rates measured on planted worlds (the record's ``calibration``, as ``quanta falsify`` prints it)."""
    out = []
    planted = next((rec[k] for k in ("alpha_planted",) if is_number(rec.get(k))), None)
    if planted is None and is_number(rec.get("zipf_true")):
        planted = float(rec["zipf_true"]) - 1.0
    if planted is not None:
        finite = rec.get("alpha_N_predicted_finite")
        by = (f" (this run's per-task losses predict \u03b1_N = {H.fmt_value(finite)} from its finite task set, "
              f"against the planted \u03b1 = {H.fmt_value(planted)})" if is_number(finite) else "")
        out.append(("warn", f"A planted toy world: read this verdict with its finite-size biases. The task set is "
                            f"finite, so the loss curve bends as most tasks are learned and the fitted \u03b1_N moves "
                            f"away from \u03b1{by}; at CPU scale the widest model learns few tasks, so both exponents "
                            f"rest on few quanta. At CPU scale both sides' biases are of the order of 0.1 "
                            f"(docs/calibration.md), so a verdict on the toy says as much about its size as about the "
                            f"theory (docs/falsify.md, 'Caveats it makes visible'; the planted truth \u03b1 + 1 = {H.fmt_value(planted + 1.0)} is in the table "
                            f"below)."))
    cal = rec.get("calibration")
    if isinstance(cal, str) and cal:
        out.append(("info", f"How often this test is right: {cal}."))
    return out


def render_verdict(label: str, rec: Mapping, table_id: str, *, part_of: str | None = None) -> str:
    """The verdict of one record: the verdict line, predicted against measured with intervals and overlap,
    then the other numeric inputs (e.g. ``alpha_N`` and its interval).

    ``part_of`` names the verdict a nested record feeds (falsify's ``test``: the exponent test alone, before the
    power-law check): its line then reads as that part's outcome, not as a second verdict.
    """
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
    tested = is_number(rec.get("p_value")) and isinstance(verdict, str)
    if tested:  # quanta falsify decides by a test of the difference: show its outcome, not an overlap
        cls = {"consistent": "ok", "inconsistent": "bad"}.get(verdict, "")
        gap = rec.get("gap_se")
        tag = f"p = {float(rec['p_value']):.3g}" + (f", gap {float(gap):+.1f} se" if is_number(gap) else "")
        how = f" ({rec['verdict_reason']})" if isinstance(rec.get("verdict_reason"), str) else ""
        head = "Verdict:" if part_of is None else f"Outcome of {label} alone ({part_of}):"
        kind = "verdict" if part_of is None else "verdict part"
        out.append(f'<div class="{kind} {cls}" data-overlap="{H.esc(flag)}" data-p="{H.esc(rec["p_value"])}">'
                   f'<strong>{H.esc(head)}</strong> {H.esc(verdict)} <span class="badge {cls}">{H.esc(tag)}</span>'
                   f'<span class="mut">{H.esc(how)}</span></div>')
    elif verdict is not None:
        tag = {True: "intervals overlap", False: "intervals do not overlap", None: "overlap not stated"}[flag]
        how = f" (method: {rec['method']})" if isinstance(rec.get("method"), str) else ""
        out.append(f'<div class="verdict {cls}" data-overlap="{H.esc(flag)}"><strong>Verdict:</strong> '
                   f'{H.esc(H.fmt_value(verdict))}{H.esc(how)} <span class="badge {cls}">{H.esc(tag)}</span></div>')
    if verdict is not None and part_of is None:
        out += [H.note(text, kind=kind) for kind, text in verdict_caveats(rec)]
    if comps:
        out.append(comparison_table(comps, table_id=table_id))
    used = {k for c in comps for k in c.keys} | {"verdict", "overlap", "method"}
    inputs = [(k, v, fmt_interval(_get_ci(rec, k))) for k, v in rec.items()
              if k not in used and is_number(v) and not str(k).endswith(("_ci", "_interval"))]
    if inputs:
        out.append(H.kv_table(inputs, header=("input", "value", "interval"), table_id=f"{table_id}-inputs"))
    if not tested and stated is not None and computed and None not in computed and stated != all(computed):
        out.append(H.note("The stated overlap differs from the intervals shown here.", kind="warn"))
    return "".join(out)

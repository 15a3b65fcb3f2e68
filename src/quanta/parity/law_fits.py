"""The laws of one α of ``quanta parity analyze``, each fitted over its range and recorded: L against the budget
of a sweep (:func:`sweep_fit`, :func:`fit_over`), L(S) of the widest online model with its tail-corrected twin
(:func:`steps_fit`) and the count of learned tasks against the budget (:func:`count_fit`).

The ranges and the fit itself are :mod:`quanta.parity.fit_ranges`; this module applies them and writes each fit
into the analysis' records (``record``), summary and notes."""

from __future__ import annotations

from quanta.parity.fit_ranges import (STEPS_LAG_PARAMS, _fit, _range_mask, auto_fit_range, finite_tasks_exponent,
                                      finite_tasks_offset, steps_fit_range)
from quanta.theory import growth_exponent


def sweep_fit(axis, sweep, n_tasks, cfg, rng, fit_name, x_name, y_name, key, record, summary, notes, tag,
              p_ranked=None, n_exponent=None):
    """Fit L against the budget of one sweep (seed means) over the rule's or the user's range.

    With ``p_ranked`` and ``n_exponent`` it also records ``<key>_predicted_finite``: the exponent the
    same fit gives for the quantization model's loss on this run's finite task set over the same
    budgets (:func:`finite_tasks_exponent`).
    """
    x, loss, n = sweep["x"].to_numpy(float), sweep["loss"].to_numpy(float), sweep["n"].to_numpy(float)
    if rng is not None:
        mask, rule = _range_mask(x, rng), "override"
    else:
        mask, rule = auto_fit_range(x, loss), "auto"
    fit_over(axis, x, loss, n, mask, rule, cfg, fit_name, x_name, y_name, key, record, summary, notes, tag,
             p_ranked, n_exponent)


def fit_over(axis, x, loss, n, mask, rule, cfg, fit_name, x_name, y_name, key, record, summary, notes, tag,
             p_ranked=None, n_exponent=None):
    """Fit L over the points of ``mask``, record it (with the finite-K prediction when ``p_ranked`` is given)
    and its range; returns the fit, or None (with a note) when there is none."""
    summary[f"{key}_n_points"] = int(mask.sum())
    if mask.sum() == 0:
        notes.append(f"{tag} L({axis}): no point inside the fit range ({rule}); no fit")
        return None
    fit = _fit(x[mask], loss[mask], offset=True, cfg=cfg, notes=notes, label=f"{tag} L({axis})")
    if fit is not None:
        finite = None
        if p_ranked is not None:
            finite = finite_tasks_exponent(x[mask], n[mask], p_ranked, n_exponent)
        record(key, fit, fit_name, x_name, y_name, rule, finite)
        summary[f"{key}_fit_range"] = [float(x[mask].min()), float(x[mask].max())]
    return fit


def steps_fit(alpha, s_sweep, online, order_models, evm, n_tasks, cfg, record, summary, notes, tag, p_ranked):
    """L(S) of the widest online model over the rule of :func:`steps_fit_range` (or the user's range).

    Records ``alpha_S`` (the fit of L(S) itself, with its finite-K prediction) and
    ``alpha_S_tail_corrected`` (the same fit of L(S) + :func:`finite_tasks_offset`, which the
    asymptotic theory's α/(α+1) describes).
    """
    x, loss, n = s_sweep["x"].to_numpy(float), s_sweep["loss"].to_numpy(float), s_sweep["n"].to_numpy(float)
    key = "alpha_S"
    if cfg.range_S is not None:
        mask, rule = _range_mask(x, cfg.range_S), "override"
    else:
        rule = "auto"
        n_w = float(order_models["n_params"].mean())
        narrower = online[online["n_params"] <= n_w / STEPS_LAG_PARAMS]
        loss_narrow = None
        if len(narrower):
            w_c = narrower["width"].max()
            ids = set(narrower.loc[narrower["width"] == w_c, "model"])
            lc = evm[evm["model"].isin(ids)].groupby("step")["loss"].mean()
            loss_narrow = lc.reindex(x).to_numpy(float)
            summary[f"{key}_comparison_width"] = float(w_c)
        else:
            notes.append(f"{tag} L(S): no online model with <= 1/{STEPS_LAG_PARAMS:g} of the widest model's "
                         "parameters; the range cannot check that the widest model is limited by steps")
        mask = steps_fit_range(x, loss, n, n_tasks, loss_narrower=loss_narrow)
        if loss_narrow is not None:
            free = steps_fit_range(x, loss, n, n_tasks)
            cut = free & ~mask
            if cut.any():
                summary[f"{key}_steps_limited_until"] = float(x[mask].max()) if mask.any() else None
            if mask.sum() < 4 <= free.sum():
                notes.append(f"{tag} L(S): the widest model is limited by steps over only {int(mask.sum())} "
                             f"evaluated step(s) (a model of width {summary[f'{key}_comparison_width']:g} keeps up "
                             "with it only that long); the fit goes on past that point, where the width limits "
                             "the widest model too, so alpha_S is biased upward")
                mask, rule = free, "auto (not steps-limited)"
    fit = fit_over("S", x, loss, n, mask, rule, cfg, "L_S", "step", "test_loss", key, record, summary, notes, tag,
                   p_ranked, growth_exponent(alpha, "steps"))
    if fit is None:
        return
    delta = finite_tasks_offset(alpha, n_tasks)
    fit_c = _fit(x[mask], loss[mask] + delta, offset=True, cfg=cfg, notes=notes, label=f"{tag} L(S) tail-corrected")
    if fit_c is not None:
        record("alpha_S_tail_corrected", fit_c, "L_S_tail_corrected", "step", "test_loss + tail_offset", rule)
        summary["alpha_S_tail_offset"] = delta


def count_fit(key, fit_name, x_name, sweep, n_tasks, cfg, record, notes, tag):
    """n ∝ x^e over the points with 1 <= n <= n_tasks - 1 (seed means), fitted as 1/n = A·x^-e."""
    x, n = sweep["x"].to_numpy(float), sweep["n"].to_numpy(float)
    ok = (x > 0) & (n >= 1) & (n <= n_tasks - 1)
    if ok.sum() == 0:
        notes.append(f"{tag} {key}: no point with 1 <= n_learned <= n_tasks-1; no fit")
        return
    fit = _fit(x[ok], 1.0 / n[ok], offset=False, cfg=cfg, notes=notes, label=f"{tag} {key}")
    if fit is not None:
        record(key, fit, fit_name, x_name, "1/n_learned", "1 <= n_learned <= n_tasks-1")

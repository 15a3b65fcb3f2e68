"""The measured figures of docs/parity-run.md and docs/parity-analyze.md against their record.

docs/data/parity_cpu_small.json is written by ``benchmarks/parity_cpu_small.py`` (the cpu-small preset run and
analysed for seeds 0, 1 and 2, and for seed 0 with 100 and 220 tasks). Every figure the two pages quote for
cpu-small is rebuilt here from that record, at the page's rounding, and looked up in the page's text; the sizes
quoted for the paper's preset are computed from the preset itself. Figures of earlier versions that no record
holds were removed from the pages, which point to ``git show 7770060`` for them instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "data" / "parity_cpu_small.json"


def _page(name: str) -> str:
    return " ".join((ROOT / "docs" / name).read_text().split())


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads(RECORD.read_text())


def _runs(record: dict) -> dict:
    return {r["name"]: r for r in record["runs"]}


def _seeds(record: dict) -> list[dict]:
    runs = _runs(record)
    return [runs[f"seed{s}"] for s in (0, 1, 2)]


def _s_axis(run: dict) -> list[dict]:
    return sorted((r for r in run["learned_counts"] if r["axis"] == "S"), key=lambda r: r["x"])


def _fit(run: dict, name: str) -> dict:
    (row,) = [f for f in run["fits"] if f["fit"] == name]
    return row


def _rng(values, fmt: str) -> str:
    return f"{min(values):{fmt}} to {max(values):{fmt}}"


def test_record_describes_the_runs_the_pages_name(record):
    from quanta.parity.presets import preset_config

    assert record["preset"] == "cpu-small" and record["threads"] == 1 and record["date"] and record["commit"]
    runs = _runs(record)
    assert set(runs) == {"seed0", "seed1", "seed2", "tasks100", "tasks220"}
    for s in (0, 1, 2):
        assert runs[f"seed{s}"]["overrides"] == [f"seeds=[{s}]"]
        assert runs[f"seed{s}"]["summary"]["n_tasks"] == 286
    for k in (100, 220):
        assert runs[f"tasks{k}"]["overrides"] == ["seeds=[0]", f"n_tasks={k}"]
        assert runs[f"tasks{k}"]["summary"]["n_tasks"] == k
    # seed 0 is the preset's own run
    assert list(preset_config("cpu-small", {}).seeds) == [0]


# --- docs/parity-analyze.md ------------------------------------------------------------------------------------

def test_analyze_intro_time(record):
    """'On the shared 2-core development machine it took 3.0 to 4.5 s for each of the 5 cpu-small runs'."""
    page = _page("parity-analyze.md")
    t = [r["analyze_s"] for r in record["runs"]]
    assert (f"On the shared 2-core development machine it took {_rng(t, '.1f')} s for each of the {len(t)} "
            "cpu-small runs of docs/data/parity_cpu_small.json, figures included") in page


def test_analyze_on_cpu_reading(record):
    """docs/parity-analyze.md, "On CPU": every figure of the reading of seed 0's run, and of seeds 1 and 2."""
    from quanta.parity.presets import preset_config

    page = _page("parity-analyze.md")
    cfg = preset_config("cpu-small", {})
    s0, s1, s2 = _seeds(record)
    sm = s0["summary"]
    ex = s0["extras"]
    seeds = _seeds(record)
    assert (f"With the current preset ({cfg.n_tasks} tasks, widths {min(cfg.widths)}–{max(cfg.widths)}, "
            f"{cfg.steps:,} steps; the run command took {_rng([r['run_s'] for r in seeds], '.0f')} s for seeds 0, 1 "
            f"and 2 on the shared 2-core machine, load average "
            f"{min(r['load_before'] for r in seeds):.1f} to {max(r['load_after'] for r in seeds):.1f}), "
            f"the widest model of seed 0 learns {s0['train_summary']['n_learned_widest']} tasks, and a fit over "
            f"the rule of earlier versions (n ≥ 1, up to the lowest loss) gives `alpha_S` = {ex['alpha_S_old_rule']['alpha']:.2f}."
            ) in page
    # the cut: the comparison width keeps up until the last step kept
    pts = _s_axis(s0)
    x = np.array([p["x"] for p in pts])
    n = np.array([p["n_learned"] for p in pts])
    until = sm["alpha_S_steps_limited_until"]
    w_c, w_max = sm["alpha_S_comparison_width"], max(cfg.widths)
    assert (f"Width {w_c:g} keeps up with width {w_max} only until step {until:,.0f} "
            f"(n = {n[x == until][0]}).") in page
    after = x[x > until]
    s_a, s_b = after[0], x.max()
    curve = dict((int(s), v) for s, v in s0["mean_loss_by_width"][f"{w_c:g}"])
    n_a, n_b = int(n[x == s_a][0]), int(n[x == s_b][0])
    theory = n_a * (s_b / s_a) ** (1 / (sm["alpha"] + 1))
    assert (f"After that the loss of width {w_c:g} falls only from {curve[int(s_a)]:.2f} to {curve[int(s_b)]:.2f} "
            f"nats, and the widest also slows down: n goes from {n_a} to {n_b} while steps grow from {s_a:,.0f} to "
            f"{s_b:,.0f}, against {n_a} to {theory:.0f} at S^{{1/(α+1)}}.") in page
    assert f"Over the sweep, n ∝ N^{sm['n_vs_N_exponent']:.2f} at the end" in page
    k = ex["steps_limited_points"]
    assert f"over only {k} evaluated step(s)" in " ".join(sm["notes"])
    assert k == int(((x <= until) & (n >= 3)).sum())
    assert f"Only {k} evaluated steps are both steps-limited and past 3 learned tasks." in page
    # the fallback fit, over n >= 3 to the end
    fs = _fit(s0, "L_S")
    assert fs["range_rule"] == "auto (not steps-limited)" and fs["x_max"] == x.max()
    assert fs["x_min"] == x[n >= 3].min()
    lo, hi = sm["alpha_S_ci"]
    assert (f"with a note: `alpha_S` = {sm['alpha_S']:.2f} [{lo:.2f}, {hi:.2f}], tail-corrected "
            f"{sm['alpha_S_tail_corrected']:.2f}, against {sm['alpha_S_predicted']:.2f} "
            f"(finite-K {sm['alpha_S_predicted_finite']:.2f}).") in page
    assert f"The fitted offset, {fs['L_inf']:.2f} nats, stands in for the capacity limit." in page
    assert (f"The learned tasks themselves end at a median loss of {ex['widest_learned_end_loss_median']:.1g} "
            "nats.") in page
    assert (f"On those {k} steps, a fit with L∞ = 0 gives {ex['alpha_S_steps_limited_no_offset']:.2f}, or "
            f"{ex['alpha_S_steps_limited_no_offset_tail_corrected']:.2f} tail-corrected") in page
    # the other seeds
    assert "alpha_S" not in s1["summary"] and any("L(S): no fit" in m for m in s1["summary"]["notes"])
    assert s2["summary"].get("alpha_S_steps_limited_until") is None and "steps_limited_points" not in s2["extras"]
    assert any("over only 0 evaluated step(s)" in m for m in s2["summary"]["notes"])
    assert (f"for seed 1 only {s1['extras']['steps_limited_points']} evaluated steps are steps-limited past n = 3, "
            "too few for a fit with an offset (no `alpha_S`, with a note); for seed 2 none are, and the fallback "
            f"gives {s2['summary']['alpha_S']:.2f}.") in page


def test_analyze_points_to_the_old_text():
    assert "`git show 7770060:docs/parity-analyze.md`" in _page("parity-analyze.md")


# --- docs/parity-run.md ----------------------------------------------------------------------------------------

def test_run_cpu_small_paragraph(record):
    """docs/parity-run.md, "Measured here", the cpu-small paragraph."""
    page = _page("parity-run.md")
    runs = _runs(record)
    seeds = _seeds(record)
    s0, s1, s2 = seeds
    sm = s0["summary"]
    assert (f"with one torch thread the run command took {_rng([r['run_s'] for r in seeds], '.0f')} s for the three "
            f"seeds (training {_rng([r['train_s'] for r in seeds], '.0f')} s; load average "
            f"{min(r['load_before'] for r in seeds):.1f} to {max(r['load_after'] for r in seeds):.1f}), and the "
            f"analysis {_rng([r['analyze_s'] for r in seeds], '.1f')} s.") in page
    widths = sorted(int(w) for w in s0["mean_loss_by_width"])
    end = {w: s0["mean_loss_by_width"][str(w)][-1][1] for w in widths}
    learned = [r["train_summary"]["n_learned_widest"] for r in seeds]
    assert (f"The widest model (width {widths[-1]}) learned {learned[0]} of the {sm['n_tasks']} tasks (test loss "
            f"below 0.1 bits; {learned[1]} and {learned[2]} for seeds 1 and 2); final mean test loss falls from "
            f"{end[widths[0]]:.2f} nats (width {widths[0]}) to {end[widths[-1]]:.2f} nats (width {widths[-1]}).") in page
    # the fit range in widths
    by_x = {r["x"]: r["width"] for r in s0["learned_counts"] if r["axis"] == "N"}
    w_lo, w_hi = (by_x[v] for v in sm["alpha_N_fit_range"])
    lo, hi = sm["alpha_N_ci"]
    assert (f"The analysis fitted α_N = {sm['alpha_N']:.2f} (90% profile interval {lo:.2f} to {hi:.2f}) over widths "
            f"{w_lo}..{w_hi} (the plateau rule of docs/parity-analyze.md), against α = {sm['alpha']:g} in theory and "
            f"{sm['alpha_N_predicted_finite']:.2f} for the quantization model's own loss on this finite set of "
            f"{sm['n_tasks']} tasks over the same range") in page
    others = " and ".join(f"{r['summary']['alpha_N']:.2f} ({r['summary']['alpha_N_ci'][0]:.2f} to "
                          f"{r['summary']['alpha_N_ci'][1]:.2f})" for r in (s1, s2))
    assert f"seeds 1 and 2 gave {others}." in page
    assert (f"Tasks learned grow as N^{sm['n_vs_N_exponent']:.2f} (theory N^1; "
            f"{s1['summary']['n_vs_N_exponent']:.2f} and {s2['summary']['n_vs_N_exponent']:.2f} for seeds 1 and 2), "
            f"and the learning step of a task scales as p^-{sm['convergence_exponent']:.2f} (theory p^-1; "
            f"{s1['summary']['convergence_exponent']:.2f} and {s2['summary']['convergence_exponent']:.2f}).") in page
    t100, t220 = runs["tasks100"]["summary"], runs["tasks220"]["summary"]
    # "fewer tasks bend the curve more": the exponent grows as the task set shrinks
    assert t100["alpha_N"] > t220["alpha_N"] > sm["alpha_N"]
    assert (f"With fewer tasks the finite task set bends the curve more: 100 tasks gave α_N = {t100['alpha_N']:.2f} "
            f"(finite-set prediction {t100['alpha_N_predicted_finite']:.2f}), 220 tasks {t220['alpha_N']:.2f} "
            f"({t220['alpha_N_predicted_finite']:.2f}), one run each.") in page


def test_run_paper_preset_sizes():
    """docs/parity-run.md, "On an H100": Σw, the batch and the activation sizes, from the preset."""
    from quanta.parity.presets import preset_config

    page = _page("parity-run.md")
    cfg = preset_config("paper-fig2-params", {})
    sw = sum(cfg.widths)
    act = cfg.batch_size * sw * 4 / 1e9
    ev = cfg.eval_batch * sw * 4 / 1e9
    assert (f"All {len(cfg.widths)} widths (Σw = {sw:,} hidden units) train as one model on one {cfg.batch_size:,}-sample "
            f"batch per step; one fp32 activation of {cfg.batch_size:,} × {sw:,} is {act:.2f} GB, and one "
            f"{cfg.eval_batch:,}-row evaluation chunk {ev:.2f} GB.") in page


def test_run_points_to_the_old_text():
    assert "`git show 7770060:docs/parity-run.md`" in _page("parity-run.md")


def test_a_run_recorded_alone_replaces_only_its_own_entry(tmp_path, monkeypatch):
    """`parity_cpu_small.py --runs seed0` re-measures one run: the record keeps the others, each stamped with when
    and on what it ran, and the file is replaced whole (never half-written)."""
    from conftest import load_benchmark

    pcs = load_benchmark("parity_cpu_small")
    monkeypatch.setattr(pcs, "record_run", lambda work, name, overrides, env: {"name": name, "run_s": 1.0})
    monkeypatch.setattr(pcs, "_commit", lambda: "new")
    out = tmp_path / "rec.json"
    args = ["--work", str(tmp_path / "w"), "--out", str(out)]
    assert pcs.main(args) == 0
    first = json.loads(out.read_text())
    assert [r["name"] for r in first["runs"]] == list(pcs.RUNS) and first["commit"] == "new"
    out.write_text(json.dumps({**first, "date": "2026-12-01"}))  # as if measured on an earlier day
    monkeypatch.setattr(pcs, "_commit", lambda: "newer")
    monkeypatch.setattr(pcs, "record_run", lambda work, name, overrides, env: {"name": name, "run_s": 2.0})
    assert pcs.main([*args, "--runs", "seed1"]) == 0
    second = json.loads(out.read_text())
    assert [r["name"] for r in second["runs"]] == list(pcs.RUNS)
    by = {r["name"]: r for r in second["runs"]}
    assert by["seed1"]["run_s"] == 2.0 and by["seed1"]["commit"] == "newer"
    assert all(by[n]["run_s"] == 1.0 and by[n]["commit"] == "new" for n in pcs.RUNS if n != "seed1")
    # the record's own date and commit span its runs', not only the newest one's
    assert by["seed0"]["date"] == "2026-12-01" and by["seed1"]["date"] == second["date"].split(" to ")[-1]
    assert second["date"].startswith("2026-12-01 to ") and second["commit"] == "new, newer"

"""benchmarks/reproduction.py, which writes docs/reproduction.md from the paper-scale parity runs, on planted runs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark
from test_parity_analyze import make_parity_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repro():
    return load_benchmark("reproduction")


def test_paper_values_are_the_science_pages_table(repro):
    """PAPER_FIG10 is docs/science.md's Fig. 10 table, number for number."""
    text = (ROOT / "docs" / "science.md").read_text()
    alphas = [float(a) for a in re.search(r"\| α \|(.*)\|\n", text).group(1).split("|")]
    rows = re.findall(r"\| (α_N|α_S|α_D|n ∝ D\^x)[^|]*\|(.*)\|\n", text)
    table = {name: [float(v) for v in vals.split("|")] for name, vals in rows}
    assert sorted(repro.PAPER_FIG10) == alphas
    for col, name in enumerate(["α_N", "α_S", "α_D", "n ∝ D^x"]):
        assert [repro.PAPER_FIG10[a][col] for a in alphas] == table[name], name


def test_record_and_page_from_planted_runs(repro, tmp_path):
    """Planted α sweep (two seeds), Fig. 2 parameter run and an unfinished data run: the record holds the analysis's
    exponents, near the planted laws, with the seeds' spread and the paper's values; the page renders from the record
    alone; the target lines read the α = 0.4 rows."""
    runs = tmp_path / "runs"
    make_parity_run(runs / "alpha-sweep", alphas=(0.2, 0.4, 0.6), Ds=[], seeds=(0, 1), n_tasks=120)
    make_parity_run(runs / "fig2-params", alphas=(0.4,), Ds=[], n_tasks=120)
    make_parity_run(runs / "fig2-data", alphas=(0.4,), n_tasks=120, complete=False)
    record, analyses = repro.build_record(runs, device="test device", date="2026-12-03", n_boot=20)
    assert record["runs"]["fig2-data"]["status"] != "complete" and set(analyses) == {"alpha-sweep", "fig2-params"}
    rows = {(r["run"], r["alpha"], r["quantity"]): r for r in record["rows"]}
    for a in (0.2, 0.4, 0.6):
        r = rows[("alpha-sweep", a, "alpha_N")]
        assert abs(r["measured"] - a) < 0.05 and r["theory"] == pytest.approx(a)  # planted α_N = α
        assert r["paper"] == repro.PAPER_FIG10[a][0] and r["n_seeds"] == 2 and len(r["seed_values"]) == 2
        assert r["seed_sd"] == pytest.approx(np.std(r["seed_values"], ddof=1))
        s = rows[("alpha-sweep", a, "alpha_S")]
        assert abs(s["measured"] - a / (a + 1)) < 0.05
    assert rows[("fig2-params", 0.4, "alpha_N")]["seed_sd"] is None
    t = record["target"]
    at = t["alpha_N_at_0.4"]
    assert at["run"] == "alpha-sweep" and at["paper"] == 0.378
    assert at["within"] == (abs(rows[("alpha-sweep", 0.4, "alpha_N")]["measured"] - 0.378) <= 0.05)
    assert t["alpha_N_trend"]["same_as_paper"] and t["alpha_N_trend"]["n_alphas"] == 3
    # the paper's own estimator on the same runs: its rows, and the target read from them too
    ref = {(r["run"], r["alpha"], r["quantity"]): r for r in record["reference_rows"]}
    assert {k[1] for k in ref if k[0] == "alpha-sweep"} == {0.2, 0.4, 0.6} and ref[("alpha-sweep", 0.4, "alpha_N")][
        "n_seeds"] == 2
    assert record["reference_target"]["alpha_N_at_0.4"]["measured"] == ref[("alpha-sweep", 0.4, "alpha_N")]["measured"]

    doc, rec, img = tmp_path / "reproduction.md", tmp_path / "reproduction.json", tmp_path / "img"
    repro.write(record, analyses, doc, rec, img)
    page = doc.read_text()
    assert page == repro.render(json.loads(rec.read_text()))  # the page comes from the record alone
    assert "| fig2-data | running |" in page or "| fig2-data | failed |" in page
    assert f"{rows[('alpha-sweep', 0.4, 'alpha_N')]['measured']:.3f}" in page and "test device" in page
    assert "## The same runs by the paper's own estimator" in page and "By the paper's estimator:" in page
    assert {p.name for p in img.iterdir()} == {  # each finished run's loss curves and its tasks' curves
        "reproduction_exponents.png", "reproduction_fig2_params.png", "reproduction_alpha_sweep.png",
        "reproduction_fig2_params_tasks.png"} | {f"reproduction_alpha_sweep_alpha{a}_tasks.png" for a in ("0_2",
                                                                                                  "0_4", "0_6")}
    assert "](img/reproduction_alpha_sweep_alpha0_4_tasks.png)" in page
    assert "](img/reproduction_alpha_sweep.png)" in page and "](img/reproduction_fig2_params.png)" in page
    # the analysis's own caveats travel to the page: these planted runs have no data sweep, so L(D) is skipped
    notes = record["runs"]["fig2-params"]["notes"]
    assert notes == list(analyses["fig2-params"].notes) and any("L(D) skipped" in n for n in notes)
    assert f"- fig2-params: {notes[0]}" in page
    assert repro.main(["--check", "--doc", str(doc), "--record", str(rec)]) == 0
    doc.write_text(page.replace("test device", "another device"))
    assert repro.main(["--check", "--doc", str(doc), "--record", str(rec)]) == 1


def test_the_alpha_sweep_as_runs_of_one_alpha_each(repro, tmp_path):
    """gpu_run.sh runs the α sweep one α per run (alpha-sweep-aA, so that a checkpoint fits the device tool's
    limits): the record reads them as one sweep, in α order, finished or not, for the trend and the α = 0.4 target."""
    runs = tmp_path / "runs"
    for a in (0.6, 0.2, 0.4):
        make_parity_run(runs / f"alpha-sweep-a{a}", alphas=(a,), Ds=[], seeds=(0, 1), n_tasks=120)
    make_parity_run(runs / "alpha-sweep-a0.8", alphas=(0.8,), Ds=[], n_tasks=120, complete=False)
    assert repro.run_dirs(runs) == [("fig2-params", "fig2-params"), ("fig2-data", "fig2-data")] + [
        ("alpha-sweep", f"alpha-sweep-a{a}") for a in (0.2, 0.4, 0.6, 0.8)]
    record, analyses = repro.build_record(runs, device="test device", date="2026-12-03", n_boot=20)
    assert list(record["runs"]) == ["fig2-params", "fig2-data"] + [f"alpha-sweep-a{a}" for a in (0.2, 0.4, 0.6, 0.8)]
    assert record["runs"]["fig2-params"] == {"status": "absent"} and set(analyses) == {
        f"alpha-sweep-a{a}" for a in (0.2, 0.4, 0.6)}
    rows = {(r["run"], r["alpha"], r["quantity"]): r for r in record["rows"]}
    for a in (0.2, 0.4, 0.6):
        r = rows[("alpha-sweep", a, "alpha_N")]
        assert r["dir"] == f"alpha-sweep-a{a}" and abs(r["measured"] - a) < 0.05 and r["n_seeds"] == 2
    t = record["target"]
    assert t["alpha_N_at_0.4"]["run"] == "alpha-sweep" and t["alpha_N_trend"]["n_alphas"] == 3
    page = repro.render(record)
    assert page.index("| alpha-sweep-a0.2 | complete |") < page.index("| alpha-sweep-a0.8 |")
    assert repro.figure_name("alpha-sweep-a0.2") == "reproduction_alpha_sweep_a0_2"
    assert page.index("img/reproduction_alpha_sweep_a0_2.png") < page.index("img/reproduction_alpha_sweep_a0_6.png")
    assert "| fig2-params | not run |" in page
    assert record["sweep_alphas_not_started"] == [0.1, 0.3, 0.5, 0.7]  # the preset's α without a run here
    assert "Not started yet: the α sweep's runs at α = 0.1, 0.3, 0.5, 0.7." in page


def test_a_later_session_keeps_the_runs_an_earlier_one_finished(repro, tmp_path):
    """runs/ is not committed: a later session unpacks only its own calls' runs. The record it writes keeps the
    finished runs of the committed record that its folder lacks (rows, figures, marked with their day), drops a
    paused one (its checkpoint is gone, it starts over), and reads the target and trend over both; --replace builds
    from the folder alone; a folder with nothing of its own is refused."""
    first, second = tmp_path / "first", tmp_path / "second"
    make_parity_run(first / "alpha-sweep-a0.4", alphas=(0.4,), Ds=[], seeds=(0, 1), n_tasks=120)
    make_parity_run(first / "alpha-sweep-a0.1", alphas=(0.1,), Ds=[], n_tasks=120, complete=False)
    doc, rec, img = tmp_path / "reproduction.md", tmp_path / "reproduction.json", tmp_path / "img"
    paths = ["--doc", str(doc), "--record", str(rec), "--img", str(img), "--n-boot", "20"]
    assert repro.main([str(first), *paths]) == 0
    one = json.loads(rec.read_text())
    assert one["runs"]["alpha-sweep-a0.1"]["status"] != "complete" and "alpha-sweep" not in one["runs"]
    make_parity_run(second / "alpha-sweep-a0.2", alphas=(0.2,), Ds=[], seeds=(0, 1), n_tasks=120)
    make_parity_run(second / "alpha-sweep-a0.8", alphas=(0.8,), Ds=[], seeds=(0, 1), n_tasks=120)
    assert repro.main([str(second), *paths]) == 0
    two = json.loads(rec.read_text())
    assert list(two["runs"]) == ["fig2-params", "fig2-data", "alpha-sweep-a0.2", "alpha-sweep-a0.4",
                                 "alpha-sweep-a0.8"]
    kept = two["runs"]["alpha-sweep-a0.4"]
    assert kept["kept_from"] == one["runs"]["alpha-sweep-a0.4"]["ended_at"][:10]
    assert {k: v for k, v in kept.items() if k != "kept_from"} == one["runs"]["alpha-sweep-a0.4"]
    assert [r for r in two["rows"] if r["dir"] == "alpha-sweep-a0.4"] == [
        r for r in one["rows"] if r["dir"] == "alpha-sweep-a0.4"]
    assert [r for r in two["reference_rows"] if r["dir"] == "alpha-sweep-a0.4"] == [
        r for r in one["reference_rows"] if r["dir"] == "alpha-sweep-a0.4"]
    assert two["target"]["alpha_N_at_0.4"] == one["target"]["alpha_N_at_0.4"]
    assert two["target"]["alpha_N_trend"]["n_alphas"] == 3 and 0.1 in two["sweep_alphas_not_started"]
    page = doc.read_text()
    assert f"| alpha-sweep-a0.4 | complete (run of {kept['kept_from']}, kept from its record) |" in page
    for fig in ["reproduction_alpha_sweep_a0_4", *kept["task_figures"]]:  # the kept run's figures stay on the page
        assert f"](img/{fig}.png)" in page and (img / f"{fig}.png").exists()
    assert repro.main([str(second), *paths, "--replace"]) == 0
    assert "alpha-sweep-a0.4" not in json.loads(rec.read_text())["runs"]
    (tmp_path / "empty").mkdir()
    assert repro.main([str(tmp_path / "empty"), *paths]) == 2


def test_a_page_before_any_run_has_finished(repro, tmp_path):
    runs = tmp_path / "runs"
    make_parity_run(runs / "fig2-params", alphas=(0.4,), Ds=[], n_tasks=60, complete=False)
    record, analyses = repro.build_record(runs, device=None, date=None, n_boot=0)
    assert record["rows"] == [] and analyses == {} and record["runs"]["alpha-sweep"] == {"status": "absent"}
    page = repro.render(record)
    assert "No run has finished yet" in page and "not measured yet" in page
    record["runs"]["fig2-params"]["status"] = "complete"  # finished, but too small for any fit
    assert "No exponent could be fitted from the finished runs (fig2-params)" in repro.render(record)
    assert repro.main([str(tmp_path / "nothing")]) == 2


def test_the_recorded_page_matches_its_record(repro):
    """docs/reproduction.md, once a GPU session has written it, is what its record renders (no figure typed)."""
    if not repro.DOC.exists():
        pytest.skip("docs/reproduction.md is written by the first GPU session's runs (issue 18)")
    assert repro.main(["--check"]) == 0


def test_the_papers_estimator_on_pure_power_laws(repro):
    """reference_fits, the paper's own fits: on losses that are exact power laws (one exponent per seed) a line in
    log-log through the pooled points recovers each seed's exponent per seed and their common one pooled; the loss
    at the paper's steps is read off log-spaced evaluations exactly (log-log interpolation of a power law); fixed-D
    models are left out, and a run whose evaluations stop before 14,500 steps gets no α_S."""
    import pandas as pd

    widths = [10, 20, 40, 80]
    steps = np.unique(np.round(np.geomspace(1, 1e5, 30)).astype(int))
    models, evm, mid = [], [], 0
    for seed, (a_N, a_S) in enumerate([(0.4, 0.3), (0.4, 0.3), (0.5, 0.35)]):
        for w in widths + [80]:
            D = 0 if mid % 5 != 4 else 1000  # the fifth model of each seed: a fixed-D one, ignored
            N = 600 * w
            models.append({"model": mid, "width": w, "n_params": N, "seed": seed, "D": D, "alpha": 0.4,
                           "final_loss": (3.0 if D else 2.0) * N ** -a_N})
            if w == 80 and D == 0:
                evm += [{"model": mid, "width": w, "seed": seed, "D": 0, "alpha": 0.4, "step": int(s),
                         "loss": 5.0 * s ** -a_S} for s in steps]
            mid += 1
    rows = {r["quantity"]: r for r in repro.reference_fits(pd.DataFrame(models), pd.DataFrame(evm))}
    n, s = rows["alpha_N"], rows["alpha_S"]
    assert n["seed_values"] == pytest.approx([0.4, 0.4, 0.5]) and n["n_points"] == 12 and n["paper"] == 0.378
    assert s["seed_values"] == pytest.approx([0.3, 0.3, 0.35]) and s["n_points"] == 3 * 29 and s["paper"] == 0.346
    assert s["own_steps"] == pytest.approx(np.polyfit(
        np.log(np.tile(steps[(steps >= 500) & (steps <= 14500)], 3)),
        -np.log(np.concatenate([5.0 * steps[(steps >= 500) & (steps <= 14500)] ** -a for a in (0.3, 0.3, 0.35)])),
        1)[0])
    assert 0.3 < s["measured"] < 0.35 and 0.4 < n["measured"] < 0.5 and s["seed_sd"] == pytest.approx(
        np.std([0.3, 0.3, 0.35], ddof=1))
    short = pd.DataFrame(evm)
    assert {r["quantity"] for r in repro.reference_fits(pd.DataFrame(models), short[short["step"] < 10000])} == {
        "alpha_N"}


def test_the_papers_data_estimators(repro):
    """α_D: each fixed-D model's lowest mean loss against D, from the first D below 0.95 bits; x of n ∝ D^x: tasks
    whose loss ever fell below 0.1 nats, from the first D with one learned. Planted exactly: loss = 0.3·D^-0.35 nats
    past a first D at chance level, n doubling per half decade of D (x = log 2 / log √10) past a first D with
    none."""
    import math

    import pandas as pd

    Ds = [3000] + [int(1e4 * 10 ** (i / 2)) for i in range(5)]
    models, evm, ev = [], [], []
    for i, D in enumerate(Ds):
        models.append({"model": i, "width": 500, "n_params": 1, "seed": 0, "D": D, "alpha": 0.4,
                       "final_loss": 1.0})
        low = math.log(2) if i == 0 else 0.3 * D ** -0.35  # the first D: at chance (1 bit), left out
        evm += [{"model": i, "step": s, "loss": low * f} for s, f in ((0, 2.0), (500, 1.0), (1000, 1.3))]
        n = 0 if i == 0 else 2 ** i
        for task in range(40):  # a task is learned when its loss, at some step, falls below 0.1 nats
            ev += [{"model": i, "task": task, "step": 500, "loss": 0.05 if task < n else 0.4},
                   {"model": i, "task": task, "step": 1000, "loss": 0.3}]
    models.append({"model": 99, "width": 100, "n_params": 1, "seed": 0, "D": 1e4, "alpha": 0.4, "final_loss": 1.0})
    rows = {r["quantity"]: r for r in repro.reference_fits(pd.DataFrame(models), pd.DataFrame(evm),
                                                            pd.DataFrame(ev))}
    assert set(rows) == {"alpha_D", "n_vs_D_exponent"}  # no online models: no α_N, α_S; width 100 is not the widest
    assert rows["alpha_D"]["measured"] == pytest.approx(0.35, rel=1e-5) and rows["alpha_D"]["n_points"] == 5
    assert rows["n_vs_D_exponent"]["measured"] == pytest.approx(math.log(2) / math.log(10 ** 0.5), rel=1e-5)
    assert rows["n_vs_D_exponent"]["n_points"] == 5 and rows["alpha_D"]["paper"] == 0.308
    assert rows["alpha_D"]["seed_sd"] is None and rows["alpha_D"]["n_seeds"] == 1


def test_the_papers_estimators_on_a_planted_data_run(repro, tmp_path):
    """A finished planted data run (losses and learned counts planted at the theory's laws): the record holds the
    paper's estimator for α_D and x beside quanta's fits, near the planted α/(α+1) and 1/(α+1)."""
    make_parity_run(tmp_path / "fig2-data", alphas=(0.4,), n_tasks=120)
    record, _ = repro.build_record(tmp_path, device="test device", date="2026-12-04", n_boot=0)
    ref = {r["quantity"]: r for r in record["reference_rows"] if r["run"] == "fig2-data"}
    assert abs(ref["alpha_D"]["measured"] - 0.4 / 1.4) < 0.05 and ref["alpha_D"]["paper"] == 0.308
    assert abs(ref["n_vs_D_exponent"]["measured"] - 1 / 1.4) < 0.05 and ref["n_vs_D_exponent"]["n_points"] >= 5
    assert "x in n ∝ D^x" in repro.render(record)


def test_the_papers_estimator_leaves_out_zero_counts_and_renders_what_it_cannot_fit(repro):
    """A count that falls back to none past the first learned D (log 0 would break the paper's line) is left out and
    counted; a run that never learns a task gets no x; a row without a fit renders as a dash, not a crash."""
    import pandas as pd

    Ds = [10_000, 20_000, 40_000, 80_000]
    counts = [1, 0, 4, 8]  # the second D learns none
    models = [{"model": i, "width": 500, "n_params": 1, "seed": 0, "D": D, "alpha": 0.4, "final_loss": 1.0}
              for i, D in enumerate(Ds)]
    evm = [{"model": i, "step": 500, "loss": 0.5} for i in range(len(Ds))]
    ev = [{"model": i, "task": t, "step": 500, "loss": 0.05 if t < n else 0.5} for i, n in enumerate(counts)
          for t in range(10)]
    rows = {r["quantity"]: r for r in repro.reference_fits(pd.DataFrame(models), pd.DataFrame(evm), pd.DataFrame(ev))}
    x = rows["n_vs_D_exponent"]
    assert x["n_points"] == 3 and x["n_dropped"] == 1
    assert x["measured"] == pytest.approx(np.polyfit(np.log([1e4, 4e4, 8e4]), np.log([1, 4, 8]), 1)[0])
    assert rows["alpha_D"]["measured"] == pytest.approx(0.0, abs=1e-12)  # a flat loss (0.72 bits): exponent 0
    never = [{**e, "loss": 0.5} for e in ev]
    assert "n_vs_D_exponent" not in {r["quantity"] for r in repro.reference_fits(
        pd.DataFrame(models), pd.DataFrame(evm), pd.DataFrame(never))}
    blank = {**x, "run": "fig2-data", "dir": "fig2-data", "measured": None, "seed_values": [], "seed_sd": None}
    record = {"date": None, "device": None, "runs": {}, "rows": [], "reference_rows": [blank],
              "target": {}, "reference_target": {}}
    page = repro.render(record)
    assert "| fig2-data | 0.4 | x in n ∝ D^x | – | – | – | 3 (1 left out: y = 0) | 0.678 | – |" in page
    assert "| 0.678 | – |\n\n## Against the target" in page  # the table ends before the next text

"""benchmarks/cpu_record.py: the CPU benchmarks of docs/benchmarks.md run, recorded and rendered (none typed by
hand)."""

import json
from pathlib import Path

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_the_pages_cpu_blocks_are_their_record():
    assert load_benchmark("cpu_record").main(["--check"]) == 0


def _entry(name, result, rc=0, **kw):
    return {"name": name, "date": "2026-12-04", "commit": "abc1234", "cpu": "AMD EPYC", "cores": 2, "torch": "2.13.0",
            "load_before": 0.4, "load_after": 1.2, "rc": rc, "seconds": 40.0, "result": result, **kw}


def test_a_real_measurement_is_recorded_with_its_figures(tmp_path, monkeypatch):
    """The subprocess path end to end on a tiny shape: the script's --json figures land in the entry and the row."""
    c = load_benchmark("cpu_record")
    monkeypatch.setitem(c.MEASURES, "parity-throughput", ("cpu-parity", [
        "parity_throughput.py", "--preset", "cpu-tiny", "--threads", "1", "--steps", "2", "--repeats", "2"]))
    doc = tmp_path / "b.md"
    doc.write_text("".join(f"{s}\n{e}\n" for s, e in map(c.markers, c.BLOCKS)))
    rec = tmp_path / "r.json"
    assert c.main(["run", "parity-throughput", "--doc", str(doc), "--record", str(rec)]) == 0
    (e,) = json.loads(rec.read_text())
    r = e["result"]
    assert e["rc"] == 0 and e["name"] == "parity-throughput" and len(r["batched_repeats"]) == 2
    assert r["ratio_batched_over_per_model"] == r["batched_model_steps_per_s"] / r["per_model_model_steps_per_s"]
    assert f"**{r['ratio_batched_over_per_model']:.1f}×** |" in doc.read_text()
    assert c.main(["--check", "--doc", str(doc), "--record", str(rec)]) == 0
    assert c.main(["run", "nonsense", "--doc", str(doc), "--record", str(rec)]) == 2
    assert c.main(["--doc", str(doc), "--record", str(rec)]) == 2


def test_blocks_render_every_run_their_spread_and_the_targets():
    c = load_benchmark("cpu_record")
    speed = {"shape": "small", "context": 128, "tokens": 40, "seconds": 2.0, "block": 10, "reference_seconds": 11.0,
             "reference_gradients": 160, "ratio_reference_over_quanta": 5.5, "max_abs_diff": 4e-5, "threads": 1}
    record = [_entry("qdg-speed", speed), _entry("qdg-speed", {**speed, "ratio_reference_over_quanta": 4.5}),
              _entry("qdg-speed", {**speed, "ratio_reference_over_quanta": 6.0}), _entry("qdg-speed", None, rc=1)]
    text = c.render(record, "cpu-qdg-speed")
    assert text.count("| 2026-12-04 (abc1234; load 0.4 → 1.2) |") == 4 and "| exit 1 after 40 s |" in text
    assert "Ratio: median 5.5 over 3 runs, range 4.5 to 6.0." in text
    rows = [{"k": 1024, "mean_abs": 0.024, "rms": 0.030, "p99": 0.075, "max": 0.1},
            {"k": 4096, "mean_abs": 0.012, "rms": 0.016, "p99": 0.040, "max": 0.05},
            {"k": 8192, "mean_abs": 0.009, "rms": 0.011, "p99": 0.028, "max": 0.04},
            {"k": 16384, "mean_abs": 0.006, "rms": 0.008, "p99": 0.019, "max": 0.03}]
    err = {"shape": "pythia-70m", "context": 128, "tokens": 48, "pairs": 1128, "seeds": 2,
           "exact_mean_abs_cos": 0.009, "rows": rows}
    text = c.render([_entry("qdg-error", err)], "cpu-qdg-error")
    assert "| 8192 (default) | 0.009 | 0.011 | 0.028 | 0.040 | 0.011 |" in text
    assert "met from K = 4,096; on the 99th percentile from K = 16,384." in text
    text = c.render([_entry("qdg-error", {**err, "rows": rows[:1]})], "cpu-qdg-error")
    assert "No K meets the ≤ 0.02 target on mean and RMS error; no K tried meets it on the 99th percentile." in text
    peer = {"shape": "small", "context": 128, "tokens": 96, "k": 2048, "bergson_dim": 16, "bergson_modules": 8,
            "ratio_bergson_over_quanta": 2.8, "quanta_err_rms": 0.022, "bergson_err_rms": 0.035, "agree_mean_abs": 0.02}
    exact = {**peer, "k": None, "bergson_dim": 0, "agree_mean_abs": 3e-9, "quanta_err_rms": None}
    text = c.render([_entry("peer-exact", exact), _entry("peer-p16", peer), _entry("peer-p32", None, rc=3)],
                    "cpu-qdg-peer")
    assert "exact gradients | **2.80×** | both exact; their cosines agree to 3e-09 |" in text
    assert "p = 16 (8 modules × 256 = 2,048 dimensions) | **2.80×** | 0.022, 0.035 (1/√k = 0.022) |" in text
    assert "exit 3 after 40 s (bergson not importable)" in text
    assert "bergson's projection was 1.6–1.6× noisier" in text
    assert "no run recorded yet" in c.render([], "cpu-parity") and c.render([], "cpu-qdg-error").count("No run") == 1


def test_the_pages_claims_on_the_cpu_loss_engine_are_the_records():
    """benchmarks.md and lm.md say the engine does not beat a batch-1 loop on the CPU: every recorded lm-losses run
    must bear that out (a run that crosses 1 fails this, and the sentences must change with it)."""
    runs = [r for r in json.loads((ROOT / "docs" / "data" / "cpu_benchmarks.json").read_text())
            if r["name"] == "lm-losses" and r["rc"] == 0]
    assert runs and all(r["result"]["speedup"] < 1 for r in runs)
    bench = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())
    lm = " ".join((ROOT / "docs" / "lm.md").read_text().split())
    assert "so the engine does not beat it there (the recorded ratio is below 1" in bench
    assert "On a CPU the engine is not faster than a batch-1 loop when the cores are free" in lm


def test_the_spectral_block_lists_each_solvers_runs_and_their_spread():
    c = load_benchmark("cpu_record")
    assert {n for n in c.MEASURES if c.MEASURES[n][0] == "cpu-qdg-spectral"} == {"spectral-100k-lanczos",
                                                                              "spectral-100k-chebyshev"}
    r = {"n_points": 100000, "dim": 256, "planted": 100, "counts": [50, 100, 200, 300], "device": "cpu",
         "solver": "lanczos", "knn_s": 81.2, "spectral_s": 340.4, "total_s": 421.6, "ari_at_planted": 0.972}
    record = [_entry("spectral-100k-lanczos", r), _entry("spectral-100k-chebyshev", {**r, "solver": "chebyshev",
                                                                                     "spectral_s": 763.0}),
              _entry("spectral-100k-lanczos", {**r, "spectral_s": 300.0}), _entry("spectral-100k-chebyshev", None, rc=1)]
    text = c.render(record, "cpu-qdg-spectral")
    assert ("| 2026-12-04 (abc1234; load 0.4 → 1.2) | lanczos | 81 s | 340 s (300 eigenvectors, counts 50, 100, 200, "
            "300) | 0.972 |") in text and "| chebyshev | 81 s | 763 s" in text and "| exit 1 after 40 s |" in text
    assert "Spectral sweep with lanczos, seconds: median 320 over 2 runs, range 300 to 340." in text
    assert "Spectral sweep with chebyshev" not in text  # one run is no spread
    assert "| no run recorded yet |" in c.render([], "cpu-qdg-spectral")

import json

import numpy as np
import pandas as pd
import pytest

from quanta.errors import QuantaError
from quanta.falsify import FalsifyConfig, compare_exponents, falsify
from quanta.fit import ZipfFit
from quanta.store import Run


def _zipf(s, ci):
    return ZipfFit(exponent=s, exponent_ci=ci, x_min=1, x_max=50, n=1000, method="sizes", ci_level=0.9)


def test_compare_overlap_and_truth():
    table, v = compare_exponents(0.4, (0.3, 0.5), {"mle": _zipf(1.45, (1.38, 1.52))}, zipf_true=1.4)
    assert v["verdict"] == "consistent" and v["zipf_pred"] == pytest.approx(1.4)
    assert v["zipf_pred_ci"] == pytest.approx([1.3, 1.5])
    mle = table[table.method == "mle"].iloc[0]
    assert mle.overlaps_pred and mle.contains_truth
    _, v = compare_exponents(0.08, (0.06, 0.10), {"mle": _zipf(1.5, (1.4, 1.6))})
    assert v["verdict"] == "inconsistent" and v["overlap"] is False


def _scaling_run(path, alpha_N, ci, command="parity analyze"):
    run = Run.create(path, command=command, config={})
    run.finish({"alpha": 0.4, "alpha_N": alpha_N, "alpha_N_ci": list(ci)})


def _parts_run(path, s, n_parts=40, n=20000, seed=0, zipf_true=None):
    rng = np.random.default_rng(seed)
    p = np.arange(1, n_parts + 1, dtype=float) ** -s
    rows = []
    for k in (10, 20, n_parts):
        pk = p[:k] / p[:k].sum()
        sizes = np.sort(rng.multinomial(n, pk))[::-1]
        rows.append(pd.DataFrame({"n_clusters": k, "rank": np.arange(1, k + 1), "size": sizes}))
    run = Run.create(path, command="qdg parity", config={})
    run.write_table("sizes", pd.concat(rows, ignore_index=True))
    summary = {"n_clusters": n_parts}
    if zipf_true is not None:
        summary["zipf_true"] = zipf_true
    run.finish(summary)


def test_falsify_recovers_planted_agreement(tmp_path):
    _scaling_run(tmp_path / "s", 0.4, (0.33, 0.47))
    _parts_run(tmp_path / "p", 1.4, zipf_true=1.4)
    summary, table = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=300))
    assert summary["zipf_measured"] == pytest.approx(1.4, abs=0.05)
    assert summary["verdict"] == "consistent" and summary["zipf_true"] == 1.4
    assert (tmp_path / "f" / "figures" / "verdict.png").stat().st_size > 1000
    assert json.loads((tmp_path / "f" / "summary.json").read_text())["verdict"] == "consistent"
    assert set(table.method) == {"scaling fit", "mle", "envelope", "config"}


def test_falsify_detects_a_mismatch(tmp_path):
    _scaling_run(tmp_path / "s", 0.08, (0.06, 0.10), command="lm analyze")
    _parts_run(tmp_path / "p", 1.8)
    summary, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "f", FalsifyConfig(n_boot=300))
    assert summary["verdict"] == "inconsistent" and summary["zipf_measured"] == pytest.approx(1.8, abs=0.08)


def test_falsify_cli_bad_input_is_one_line(tmp_path, cli_run):
    _scaling_run(tmp_path / "s", 0.4, (0.3, 0.5))
    code, _, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "s", "--out", tmp_path / "f")
    assert code == 2 and err.count("\n") == 1 and "qdg" in err
    assert not (tmp_path / "f").exists()
    code, _, err = cli_run("falsify", "--out", tmp_path / "g")
    assert code == 2 and "nothing to falsify" in err
    with pytest.raises(QuantaError):
        FalsifyConfig(ci=1.5)


def test_falsify_cli_matches_library(tmp_path, cli_run):
    _scaling_run(tmp_path / "s", 0.4, (0.33, 0.47))
    _parts_run(tmp_path / "p", 1.4)
    code, out, err = cli_run("falsify", "--scaling", tmp_path / "s", "--parts", tmp_path / "p", "--out",
                             tmp_path / "f", "--n-boot", "200")
    assert code == 0, err
    lib, _ = falsify(tmp_path / "s", tmp_path / "p", tmp_path / "g", FalsifyConfig(n_boot=200))
    cli = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert cli["zipf_measured"] == pytest.approx(lib["zipf_measured"]) and cli["verdict"] in out


@pytest.mark.slow
def test_end_to_end_parity_mode(tmp_path, cli_run):
    """falsify RUN_DIR: analysis and QDG run inside OUT, the verdict beside them; an unusable run writes nothing."""
    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", tmp_path / "tiny", "--set", "steps=5")
    assert code == 0, err
    code, _, err = cli_run("falsify", tmp_path / "tiny", "--out", tmp_path / "none")
    assert code == 2 and "at least 2" in err and not (tmp_path / "none").exists()

    code, _, err = cli_run("parity", "run", "--preset", "cpu-tiny", "--out", tmp_path / "run", "--set", "n_tasks=6",
                           "--set", "n=8", "--set", "k=2", "--set", "widths=[8,16,32,64]", "--set", "steps=300",
                           "--set", "batch_size=256", "--set", "n_evals=10")
    assert code == 0, err
    assert Run.open(tmp_path / "run").read_table("models")["n_learned"].max() >= 2
    code, out, err = cli_run("falsify", tmp_path / "run", "--out", tmp_path / "f", "--qdg-samples", "300",
                             "--n-boot", "100")
    assert code == 0, err
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert s["verdict"] in out and s["zipf_true"] == pytest.approx(1.4)
    for step in ("scaling", "parts"):
        assert Run.open(tmp_path / "f" / step).manifest["status"] == "complete"
    code, _, err = cli_run("falsify", tmp_path / "run", "--out", tmp_path / "f", "--resume")
    assert code == 2 and "finished" in err

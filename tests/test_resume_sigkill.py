"""SIGKILL during an engine, then --resume, gives the tables of an uninterrupted run, bit for bit.

`parity run` has its own test (tests/test_parity_resume.py). Here: `lm train-suite` (tiny preset) and `lm losses`
(on the tiny suite). The kill comes at a seeded random moment after the run has written part of its work (a
seeded choice among the files the engine writes on its way, plus a seeded delay), so it lands inside a unit of
work, not on a checkpoint boundary; the resumed run must then redo that unit and give the same tables.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from conftest import kill_mid_run as _kill_mid_run, run_cli

pytestmark = pytest.mark.slow

SUITE = ["lm", "train-suite", "--preset", "tiny", "--corpus", "stdlib", "--device", "cpu"]


def _assert_same_tables(got: Path, want: Path, names, drop=()):
    for name in names:
        a, b = pd.read_parquet(got / f"{name}.parquet"), pd.read_parquet(want / f"{name}.parquet")
        a, b = a.drop(columns=[c for c in drop if c in a]), b.drop(columns=[c for c in drop if c in b])
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    """The tiny preset trained once, uninterrupted (the reference, and the suite `lm losses` reads)."""
    out = tmp_path_factory.mktemp("sigkill") / "suite"
    code, _, err = run_cli(*SUITE, "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("seed", [0])
def test_train_suite_resumes_after_sigkill(tiny_suite, tmp_path, seed):
    from safetensors.torch import load_file

    names = [m["name"] for m in json.loads((tiny_suite / "suite.json").read_text())["models"]]
    first, last = names[0], names[-1]
    # files written on the way, none of them the end of a unit (a model is a unit: quanta_model.json)
    events = ["tokenizer/tokenizer.json", f"models/{first}/checkpoints/step-*/model.safetensors",
              f"models/{first}/quanta_model.json", f"models/{last}/checkpoints/step-*/config.json"]
    killed = tmp_path / "killed"
    _kill_mid_run(SUITE, killed, events, random.Random(seed))
    code, _, err = run_cli(*SUITE, "--out", killed, "--resume")
    assert code == 0, err
    # train_seconds is a wall time, the one column that differs between any two runs
    _assert_same_tables(killed, tiny_suite, ("models", "train", "eval"), drop=("train_seconds",))
    for name in names:
        for rel in ("model.safetensors", *(f"checkpoints/{p.name}/model.safetensors" for p in
                                           sorted((tiny_suite / "models" / name / "checkpoints").iterdir()))):
            a, b = load_file(killed / "models" / name / rel), load_file(tiny_suite / "models" / name / rel)
            assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), (name, rel)


@pytest.mark.parametrize("seed", [0])
def test_losses_resumes_after_sigkill(tiny_suite, tmp_path, seed):
    models = sorted(p for p in (tiny_suite / "models").iterdir())
    args = ["lm", "losses", "--suite", ",".join(map(str, models)), "--corpus", "stdlib:test", "--max-docs", "24",
            "--context-length", "32", "--docs-per-shard", "2"]
    ref = tmp_path / "ref"
    code, _, err = run_cli(*args, "--out", ref)
    assert code == 0, err
    n_parts = len(list((ref / "losses").glob("part-*.parquet")))
    assert n_parts >= 12
    rng = random.Random(seed)
    events = ["losses/_models/m000.json", *(f"losses/part-{i:05d}*.parquet" for i in (1, 3, 6))]
    killed = tmp_path / "killed"
    _kill_mid_run(args, killed, events, rng)
    assert len(list((killed / "losses").glob("part-*.parquet"))) < n_parts
    code, _, err = run_cli(*args, "--out", killed, "--resume")
    assert code == 0, err
    _assert_same_tables(killed, ref, ("models", "docs"))
    for part in sorted((ref / "losses").glob("part-*.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(killed / "losses" / part.name), pd.read_parquet(part),
                                      check_exact=True, obj=part.name)
    want, got = json.loads((ref / "summary.json").read_text()), json.loads((killed / "summary.json").read_text())
    assert got["mean_loss"] == want["mean_loss"]


@pytest.fixture(scope="module")
def mini_calibration(tmp_path_factory):
    ref = tmp_path_factory.mktemp("calibrate") / "ref"
    code, _, err = run_cli("calibrate", "--preset", "mini", "--out", ref)
    assert code == 0, err
    return ref


@pytest.mark.parametrize("seed", [0, 1])  # 0: killed while parts are decomposed, 1: while its world trains
def test_calibrate_resumes_after_sigkill(mini_calibration, tmp_path, seed):
    """SIGKILL inside `quanta calibrate --preset mini` (while its planted world trains, or while its parts are
    decomposed), then --resume: every table equals an uninterrupted run's, bit for bit (times aside)."""
    args = ["calibrate", "--preset", "mini"]
    ref, killed = mini_calibration, tmp_path / "killed"
    _kill_mid_run(args, killed, ["worlds/t20/manifest.json", "scaling_t20.parquet"], random.Random(seed),
                  timeout=300.0)
    code, _, err = run_cli(*args, "--out", killed, "--resume")
    assert code == 0, err
    names = [p.stem for p in sorted(ref.glob("*.parquet"))]
    assert {"verdicts", "parts_t20", "scaling_t20"} <= set(names)
    _assert_same_tables(killed, ref, names, drop=("seconds",))
    _assert_same_tables(killed / "worlds" / "t20", ref / "worlds" / "t20",
                        [p.stem for p in sorted((ref / "worlds" / "t20").glob("*.parquet"))], drop=("train_s",))

"""SIGKILL during `quanta demo`, then `quanta demo --resume`, gives the tables and headline of an uninterrupted demo.

The demo is shrunk through its public settings only (`--set`), to about 30 s on 2 cores: one parity seed of the
cpu-small sweep (its 10 widths are what falsify's scaling fit needs: at least 6 per seed) at 400 steps, the tiny
LM suite, few documents and tokens, and a QDG threshold the tiny suite's models can reach (their losses sit near
ln(384) nats). Two kills at seeded moments: one early (the theory or parity step), then, in the resumed run, one
late (a falsify step); a last --resume finishes it. Finished steps are kept, the killed step is redone.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from conftest import kill_mid_run, run_cli

pytestmark = pytest.mark.slow

DEMO = ["demo", "--set", "parity_steps=400", "--set", "parity_seeds=1", "--set", "suite_preset=tiny",
        "--set", "lm_max_docs=20", "--set", "qdg_tokens=20", "--set", "qdg_parity_samples=200",
        "--set", "qdg_threshold=7"]
# wall times, the only columns that differ between two runs of the same seed
TIMES = ("train_seconds", "train_s", "seconds")


def _tables(out: Path) -> dict:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*.parquet"))}


def _read(path: Path, out: Path) -> pd.DataFrame:
    """A table without its wall times, with the output directory in paths (models' folders) written as OUT."""
    df = pd.read_parquet(path)
    df = df.drop(columns=[c for c in TIMES if c in df])
    for c in df.columns:
        if pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].map(lambda v: v.replace(str(out), "OUT") if isinstance(v, str) else v)
    return df


def test_demo_resumes_after_sigkill(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    code, ref_stdout, err = run_cli(*DEMO, "--out", ref)
    assert code == 0, err
    rng = random.Random(0)
    early = kill_mid_run(DEMO, killed, ["theory/manifest.json", "parity/manifest.json"], rng)
    assert not (killed / "report").exists(), early
    late = kill_mid_run([*DEMO, "--resume"], killed, ["falsify-parity/manifest.json", "falsify-lm/manifest.json"],
                        rng)
    code, stdout, err = run_cli(*DEMO, "--out", killed, "--resume")
    assert code == 0, (early, late, err)
    # the steps finished before the second kill are kept, not redone
    assert "theory: already done, kept" in err and "qdg-lm: already done, kept" in err, err

    want, got = _tables(ref), _tables(killed)
    assert len(want) >= 20 and got.keys() == want.keys(), (early, late, sorted(set(want) ^ set(got)))
    for name in want:
        a, b = _read(got[name], killed), _read(want[name], ref)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f"{name} (killed after {early}, {late})")
    # the headline: equal but for the report's path, which names the output directory (as paths in the tables do)
    s_ref = json.loads((ref / "summary.json").read_text())
    s_got = json.loads((killed / "summary.json").read_text())
    assert s_got.pop("report") == str(killed / "report" / "report.html")
    s_ref.pop("report")
    assert s_got == s_ref
    assert stdout.splitlines()[1:] == ref_stdout.splitlines()[1:]

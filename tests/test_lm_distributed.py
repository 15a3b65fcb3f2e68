"""torchrun with 2 CPU processes (gloo) gives the same losses as one process."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from quanta.lm.corpus import stdlib_files
from quanta.lm.losses import read_losses
from quanta.lm.train import build_neox, neox_config, train_tokenizer


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    texts = [p.read_text(errors="replace") for p in stdlib_files("train")[:6]]
    tok = train_tokenizer(texts, vocab_size=300)
    root = tmp_path_factory.mktemp("dist")
    dirs = []
    for seed, (h, l) in enumerate([(16, 1), (32, 2)]):
        d = root / f"m{h}"
        cfg = neox_config(vocab_size=len(tok), hidden_size=h, n_layers=l, n_heads=2, max_positions=128)
        build_neox(cfg, seed=seed).save_pretrained(str(d))
        tok.save_pretrained(str(d))
        dirs.append(str(d))
    return ",".join(dirs)


@pytest.mark.slow
def test_torchrun_two_processes_equal_single_process(two_models, tmp_path, cli_run):
    common = ["lm", "losses", "--suite", two_models, "--corpus", "stdlib:test", "--max-docs", "9",
              "--context-length", "48", "--docs-per-shard", "2", "--device", "cpu"]
    code, _, err = cli_run(*common, "--out", tmp_path / "single")
    assert code == 0, err
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", QUANTA_PROGRESS="0")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "quanta", *common, "--out", str(tmp_path / "multi")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world_size: 2" in proc.stdout
    single, multi = read_losses(tmp_path / "single"), read_losses(tmp_path / "multi")
    assert len(single) > 0
    pd.testing.assert_frame_equal(single, multi)
    for table in ("models", "docs"):
        a = pd.read_parquet(tmp_path / "single" / f"{table}.parquet")
        b = pd.read_parquet(tmp_path / "multi" / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, b)
    names = sorted(p.name for p in (tmp_path / "multi" / "losses").glob("part-*.parquet"))
    assert names == sorted(p.name for p in (tmp_path / "single" / "losses").glob("part-*.parquet"))

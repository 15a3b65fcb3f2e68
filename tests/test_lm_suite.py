import json

import numpy as np
import pandas as pd
import pytest
import torch

from quanta.errors import QuantaError
from quanta.lm.models import PYTHIA_SIZES, count_params, load_model, resolve_suite
from quanta.lm.train import SuiteConfig, build_neox, checkpoint_steps, neox_config


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    """The tiny preset trained through the CLI."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("suite") / "tiny"
    code, stdout, err = run_cli("lm", "train-suite", "--preset", "tiny", "--corpus", "stdlib", "--out", out,
                                "--device", "cpu")
    assert code == 0, err
    return out, stdout


def test_tiny_suite_layout_manifest_and_loading(tiny_suite):
    out, stdout = tiny_suite
    assert "loss_falls_with_size" in stdout
    suite = json.loads((out / "suite.json").read_text())
    cfg = SuiteConfig(preset="tiny")
    names = [m["name"] for m in suite["models"]]
    assert names == [s.name for s in cfg.sizes]
    nonembed = [m["n_params_nonembed"] for m in suite["models"]]
    assert nonembed == sorted(nonembed) and len(set(nonembed)) == len(nonembed)
    steps = checkpoint_steps(cfg.steps, cfg.n_checkpoints)
    for m in suite["models"]:
        model, tok = load_model(str(out / m["path"]), device="cpu")
        n, ne = count_params(model)
        assert (n, ne) == (m["n_params"], m["n_params_nonembed"])
        assert model.dtype == torch.float32 and not model.training
        assert m["checkpoints"] == steps[:-1]
        for s in m["checkpoints"]:
            assert (out / m["path"] / "checkpoints" / f"step-{s:06d}" / "config.json").is_file()
    # from_pretrained of the saved directory gives the same logits as loading through quanta
    from transformers import AutoModelForCausalLM

    path = out / suite["models"][0]["path"]
    plain = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    ours, tok = load_model(str(path), device="cpu")
    ids = torch.tensor([tok("def f(x):\n    return x + 1\n")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, ours(ids).logits)
    # the tables
    models = pd.read_parquet(out / "models.parquet")
    assert list(models["name"]) == names and list(models["order"]) == list(range(len(names)))
    ev = pd.read_parquet(out / "eval.parquet")
    assert set(ev["step"]) == set(steps)
    train = pd.read_parquet(out / "train.parquet")
    assert len(train) == cfg.steps * len(names) and np.isfinite(train["loss"]).all()


def test_suite_dir_expands_in_size_order_with_checkpoints(tiny_suite):
    out, _ = tiny_suite
    refs = resolve_suite(str(out))
    suite = json.loads((out / "suite.json").read_text())
    assert [r.name for r in refs] == [m["name"] for m in suite["models"]]
    cfg = SuiteConfig(preset="tiny")
    steps = checkpoint_steps(cfg.steps, cfg.n_checkpoints)
    allrefs = resolve_suite(str(out), revisions=["all"])
    assert len(allrefs) == len(refs) * len(steps)
    assert [r.step for r in allrefs[:len(steps)]] == steps
    one = resolve_suite(str(out), revisions=[f"step{steps[0]}"])
    assert all(r.name.endswith(f"@step{steps[0]}") for r in one)
    model, _ = load_model(one[0], device="cpu")
    final, _ = load_model(refs[0], device="cpu")
    assert not torch.equal(next(model.parameters()), next(final.parameters()))
    with pytest.raises(QuantaError, match="no checkpoint"):
        resolve_suite(str(out), revisions=["step99999"])


def test_pythia_alias_and_revisions():
    refs = resolve_suite("pythia")
    assert [r.path for r in refs] == [f"EleutherAI/pythia-{s}" for s in PYTHIA_SIZES]
    assert all(r.hub and r.step == 143000 for r in refs)
    dd = resolve_suite("pythia-deduped", revisions=["step1000", "step143000"])
    assert dd[0].name == "pythia-70m-deduped@step1000" and dd[0].revision == "step1000" and dd[0].step == 1000
    assert len(dd) == 2 * len(PYTHIA_SIZES)
    assert [r.name for r in resolve_suite("pythia-410m,EleutherAI/pythia-1b")] == ["pythia-410m", "pythia-1b"]
    with pytest.raises(QuantaError, match="Pythia size"):
        resolve_suite("pythia-3m")
    with pytest.raises(QuantaError):
        resolve_suite("not-a-thing")


def test_hub_model_offline_gives_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(QuantaError) as info:
        load_model("pythia-70m", device="cpu")
    msg = str(info.value)
    assert "\n" not in msg and "EleutherAI/pythia-70m" in msg and "local" in msg.lower()


def test_neox_config_is_pythia_shaped_and_counts():
    cfg = neox_config(vocab_size=50304, hidden_size=512, n_layers=6, n_heads=8, max_positions=2048)
    rope = getattr(cfg, "rope_parameters", None)
    pct = rope["partial_rotary_factor"] if rope else cfg.rotary_pct
    assert pct == 0.25 and cfg.intermediate_size == 2048 and cfg.use_parallel_residual
    cfg = neox_config(vocab_size=100, hidden_size=32, n_layers=2, n_heads=4, max_positions=64)
    model = build_neox(cfg, seed=0)
    n, ne = count_params(model)
    assert n - ne == 2 * 100 * 32  # untied input and output embeddings
    # per layer: qkv + dense + two MLP matrices with biases, two LayerNorms; plus the final LayerNorm
    d = 32
    per_layer = (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d) + 4 * d
    assert ne == 2 * per_layer + 2 * d


def test_suite_config_validation(cli_run, tmp_path):
    with pytest.raises(QuantaError, match="preset"):
        SuiteConfig(preset="huge")
    with pytest.raises(QuantaError, match="divisible"):
        SuiteConfig(preset="tiny", sizes=((30, 1, 4, 1e-3),))
    with pytest.raises(QuantaError, match="warmup"):
        SuiteConfig(preset="tiny", warmup_steps=100)
    code, _, err = cli_run("lm", "train-suite", "--preset", "tiny", "--out", tmp_path / "x", "--set", "bogus=1")
    assert code == 2 and "bogus" in err and err.count("\n") == 1


def test_cpu_preset_spans_required_decades():
    from quanta.lm.train import PRESETS

    for preset, decades in (("cpu", 1.5), ("gpu", 2.0)):
        counts = []
        for s in PRESETS[preset]["sizes"]:
            cfg = neox_config(vocab_size=PRESETS[preset]["vocab_size"], hidden_size=s.hidden_size,
                              n_layers=s.n_layers, n_heads=s.n_heads, max_positions=64)
            with torch.device("meta"):
                model = build_neox(cfg, seed=0)
            counts.append(count_params(model)[1])
        assert counts == sorted(counts)
        assert np.log10(counts[-1] / counts[0]) >= decades


def test_unreachable_hub_is_detected_at_once(monkeypatch):
    """Without HF_HUB_OFFLINE, a hub that does not answer is detected, so loading goes to the cache only."""
    from quanta.lm import models as suite

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    suite.hub_reachable.cache_clear()
    try:
        assert suite.hub_reachable(timeout=1.0) is False
    finally:
        suite.hub_reachable.cache_clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert suite.hub_reachable() is False
    suite.hub_reachable.cache_clear()

"""Published SAEs (quanta.parts.pretrained): sparsify and SAELens files written here from known weights, read back,
checked against hand computations, and used by `quanta parts sae --pretrained` on the tiny LM of the qdg tests.

Nothing here touches the network: hub ids are tried with HF_HUB_OFFLINE=1 and must fail in one line.
"""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from test_qdg_cli import tiny_lm  # noqa: F401 (a fixture)

from quanta.errors import QuantaError
from quanta.parts.pretrained import hookpoint_site, load_pretrained_sae
from quanta.store import Run

D, N = 32, 24  # the tiny LM's width; latents


def _weights(seed, d=D, n=N):
    g = torch.Generator().manual_seed(seed)
    return {"W": torch.randn(n, d, generator=g) / d ** 0.5, "b_enc": torch.randn(n, generator=g) * 0.1,
            "W_dec": torch.randn(n, d, generator=g) / d ** 0.5, "b_dec": torch.randn(d, generator=g) * 0.1,
            "threshold": torch.rand(n, generator=g) * 0.3}


def write_sparsify(path, w, *, k=3, **cfg):
    """The layout of sparsify's SparseCoder.save_to_disk: cfg.json (its config plus d_in) and sae.safetensors."""
    path.mkdir(parents=True)
    save_file({"encoder.weight": w["W"].contiguous(), "encoder.bias": w["b_enc"], "W_dec": w["W_dec"],
               "b_dec": w["b_dec"]}, str(path / "sae.safetensors"))
    n, d = w["W"].shape
    (path / "cfg.json").write_text(json.dumps({"activation": "topk", "expansion_factor": 32, "normalize_decoder": True,
                                               "num_latents": n, "k": k, "multi_topk": False,
                                               "skip_connection": False, "transcode": False, "d_in": d, **cfg}))
    return path


def write_saelens(path, w, *, architecture="standard", **cfg):
    """The layout of SAELens's SAE.save_model: cfg.json and sae_weights.safetensors (W_enc is d × latents)."""
    path.mkdir(parents=True)
    t = {"W_enc": w["W"].t().contiguous(), "b_enc": w["b_enc"], "W_dec": w["W_dec"], "b_dec": w["b_dec"]}
    if architecture == "jumprelu":
        t["threshold"] = w["threshold"]
    save_file(t, str(path / "sae_weights.safetensors"))
    n, d = w["W"].shape
    (path / "cfg.json").write_text(json.dumps({"architecture": architecture, "d_in": d, "d_sae": n,
                                               "dtype": "float32", "apply_b_dec_to_input": True,
                                               "normalize_activations": "none", **cfg}))
    return path


def _rows(seed=7, n=50, d=D):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_saelens_topk_rescaled_by_decoder_norm_is_the_libraries_rule(tmp_path):
    """SAELens's rescale_acts_by_decoder_norm (TopK): pre-activations times each decoder row's norm, the top k of
    their ReLU, and codes divided by the norms before decoding; quanta folds the norms in and gives the same."""
    w = _weights(5)
    w["W_dec"] = w["W_dec"] * torch.linspace(0.3, 3.0, w["W_dec"].shape[0])[:, None]  # norms far from 1
    sae, info = load_pretrained_sae(str(write_saelens(tmp_path / "sae", w, architecture="topk", k=3,
                                                      rescale_acts_by_decoder_norm=True)))
    x = _rows().double()
    norms = w["W_dec"].double().norm(dim=1)
    pre = ((x - w["b_dec"].double()) @ w["W"].double().t() + w["b_enc"].double()) * norms
    top = pre.topk(3, dim=1)
    lib = torch.zeros_like(pre).scatter_(1, top.indices, torch.relu(top.values))  # the library's codes
    recon = (lib / norms) @ w["W_dec"].double() + w["b_dec"].double()
    codes = sae.encode(x.float()).double()
    assert info.k == 3 and torch.allclose(codes, lib, atol=1e-4, rtol=1e-5)
    assert torch.allclose(sae.decode(codes.float()).double(), recon, atol=1e-4, rtol=1e-5)
    plain, _ = load_pretrained_sae(str(write_saelens(tmp_path / "plain", w, architecture="topk", k=3)))
    assert not torch.equal((plain.encode(x.float()) > 0), (codes > 0))  # the rescaling changes which latents win


def test_sparsify_encoding_is_the_hand_computation(tmp_path):
    w = _weights(0)
    sae, info = load_pretrained_sae(str(write_sparsify(tmp_path / "layers.0", w, k=3)))
    assert (info.format, info.n_latents, info.d_in, info.k, info.activation) == ("sparsify", N, D, 3, "topk")
    x = _rows().double()
    pre = torch.relu((x - w["b_dec"].double()) @ w["W"].double().t() + w["b_enc"].double())  # (50, N)
    kth = pre.sort(dim=1, descending=True).values[:, 2:3]
    hand = torch.where(pre >= kth, pre, torch.zeros_like(pre))
    codes = sae.encode(x.float())
    assert codes.shape == (50, N) and (codes >= 0).all()
    assert ((codes > 0).sum(dim=1) <= 3).all() and ((codes > 0).sum(dim=1) == 3).float().mean() > 0.9
    assert torch.allclose(codes.double(), hand, atol=1e-6)
    assert torch.allclose(sae.decode(codes).double(), codes.double() @ w["W_dec"].double() + w["b_dec"].double(),
                          atol=1e-5)


@pytest.mark.parametrize("architecture", ["standard", "jumprelu", "topk"])
def test_saelens_encoding_is_the_hand_computation(tmp_path, architecture):
    w = _weights(1)
    extra = {"k": 4} if architecture == "topk" else {}
    sae, info = load_pretrained_sae(str(write_saelens(tmp_path / "sae", w, architecture=architecture, **extra)))
    assert info.format == "saelens" and info.n_latents == N and info.d_in == D
    x = _rows(8).double()
    pre = (x - w["b_dec"].double()) @ w["W"].double().t() + w["b_enc"].double()
    if architecture == "standard":
        hand = torch.relu(pre)
        assert info.activation == "relu" and info.k is None
    elif architecture == "jumprelu":
        hand = torch.relu(pre) * (pre > w["threshold"].double())
        assert info.activation == "jumprelu"
        assert (hand > 0).sum() < (torch.relu(pre) > 0).sum()  # the threshold does cut something
    else:
        kth = pre.sort(dim=1, descending=True).values[:, 3:4]
        hand = torch.where(pre >= kth, torch.relu(pre), torch.zeros_like(pre))
        assert info.k == 4
    assert torch.allclose(sae.encode(x.float()).double(), hand, atol=1e-6)


def test_saelens_without_b_dec_on_the_input_and_old_topk_config(tmp_path):
    w = _weights(2)
    sae, _ = load_pretrained_sae(str(write_saelens(tmp_path / "a", w, apply_b_dec_to_input=False)))
    x = _rows(9)
    assert torch.allclose(sae.encode(x), torch.relu(x @ w["W"].t() + w["b_enc"]), atol=1e-6)
    # SAELens before 6.0: architecture standard, activation_fn_str topk with its k in activation_fn_kwargs
    sae, info = load_pretrained_sae(str(write_saelens(tmp_path / "b", w, activation_fn_str="topk",
                                                      activation_fn_kwargs={"k": 2})))
    assert info.activation == "topk" and info.k == 2 and ((sae.encode(x) > 0).sum(dim=1) <= 2).all()


@pytest.mark.parametrize("writer, setting, message", [
    (write_sparsify, {"activation": "groupmax"}, "activation='groupmax'"),
    (write_sparsify, {"transcode": True}, "transcode=True"),
    (write_sparsify, {"skip_connection": True}, "skip_connection=True"),
    (write_saelens, {"architecture": "gated"}, "architecture='gated'"),
    (write_saelens, {"normalize_activations": "expected_average_only_in"}, "normalize_activations"),
    (write_saelens, {"reshape_activations": "hook_z"}, "reshape_activations"),
    (write_saelens, {"activation_fn": "tanh-relu"}, "activation_fn='tanh-relu'"),
])
def test_unsupported_settings_are_refused_by_name(tmp_path, writer, setting, message):
    path = writer(tmp_path / "sae", _weights(3), **setting)
    with pytest.raises(QuantaError, match=message.replace("(", r"\(")) as e:
        load_pretrained_sae(str(path))
    assert "\n" not in str(e.value)


def test_hookpoints_and_folders(tmp_path):
    assert hookpoint_site("layers.3") == (4, "resid") and hookpoint_site("layers.0.mlp") == (0, "mlp")
    assert hookpoint_site("gpt_neox.layers.2") == (3, "resid") and hookpoint_site("embed_in") is None
    # GPT-2's block list is h (sparsify names its hookpoints h.N): read, not skipped as no site
    assert hookpoint_site("h.1") == (2, "resid") and hookpoint_site("transformer.h.0.mlp") == (0, "mlp")
    assert hookpoint_site("blocks.2") == (3, "resid") and hookpoint_site("blocks.2.hook_resid_pre") == (2, "resid")
    root = tmp_path / "repo"
    write_sparsify(root / "layers.0", _weights(4))
    write_sparsify(root / "layers.1", _weights(5))
    a, info = load_pretrained_sae(str(root), hookpoint="layers.1")
    assert info.source == str(root / "layers.1")
    assert torch.equal(a.W_dec, _weights(5)["W_dec"])
    with pytest.raises(QuantaError, match="pass --hookpoint one of layers.0, layers.1"):
        load_pretrained_sae(str(root))
    with pytest.raises(QuantaError, match="no such folder"):
        load_pretrained_sae(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuantaError, match="holds no SAE"):
        load_pretrained_sae(str(tmp_path / "empty"))
    bad = write_sparsify(tmp_path / "bad", _weights(6), num_latents=N + 1)
    with pytest.raises(QuantaError, match="shape"):
        load_pretrained_sae(str(bad))


def test_hub_id_offline_is_one_line(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(QuantaError, match="could not be fetched from the hub") as e:
        load_pretrained_sae("quanta-test-nobody/no-such-sae-repo", hookpoint="layers.0")
    assert "then pass the directory" in str(e.value) and "\n" not in str(e.value)


def _contexts_of(samples):
    """The token-id contexts of a run, in order, from its samples table (one window per document)."""
    ctx, last = [], None
    for doc, tid in zip(samples["doc"], samples["token_id"]):
        if doc != last:
            ctx.append([])
            last = doc
        ctx[-1].append(int(tid))
    return ctx


def test_cli_pretrained_writes_the_contract_of_its_own_codes(cli_run, tiny_lm, tmp_path):  # noqa: F811
    from transformers import AutoModelForCausalLM

    from quanta.parts.activations import lm_activations

    mdir, cdir = tiny_lm
    w = _weights(10)
    sae_dir = write_sparsify(tmp_path / "repo" / "layers.0", w, k=3)
    out = tmp_path / "run"
    code, stdout, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--pretrained",
                                tmp_path / "repo", "--hookpoint", "layers.0", "--seed", "1", "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts sae")
    s = run.summary
    assert (s["layer"], s["site"]) == (1, "resid")  # layers.0 = the residual stream after block 0
    assert s["sae_format"] == "sparsify" and s["sae_k"] == 3 and s["n_latents"] == N == s["n_parts"]
    assert s["sae_source"] == str(tmp_path / "repo") and s["sae_dir"] == str(sae_dir)
    parts, mem, samples = (run.read_table(t) for t in ("parts", "membership", "samples"))
    # the same codes as encoding the model's activations directly
    model = AutoModelForCausalLM.from_pretrained(mdir)
    X, _ = lm_activations(model, _contexts_of(samples), layer=1, site="resid")
    sae, _ = load_pretrained_sae(str(sae_dir))
    codes = sae.encode(X)
    assert len(samples) == len(X)
    counts = (codes > 0).sum(dim=0).numpy()
    assert np.array_equal(parts.sort_values("part")["count"].to_numpy(), counts)
    nz = torch.nonzero(codes > 0)
    assert len(mem) == len(nz)
    m = mem.sort_values(["sample", "part"])
    assert np.allclose(m["weight"].to_numpy(), codes[nz[:, 0], nz[:, 1]].numpy(), atol=1e-5)
    fvu = float((X - sae.decode(codes)).pow(2).sum() / (X - X.mean(0)).pow(2).sum())
    assert s["fvu"] == pytest.approx(fvu, rel=1e-4)


@pytest.mark.parametrize("args, message", [
    (("--pretrained", "{repo}", "--k", "2"), "--k train an SAE"),
    (("--pretrained", "{repo}", "--steps", "10", "--lr", "0.1"), "--steps, --lr train an SAE"),
    (("--pretrained", "{repo}", "--hookpoint", "layers.0", "--layer", "2"), "hookpoint layers.0 is --site resid"),
    (("--hookpoint", "layers.0"), "no pretrained SAE was given"),
    (("--pretrained", "{repo}"), "pass --hookpoint one of layers.0, layers.1"),
    (("--pretrained", "{repo}", "--hookpoint", "layers.1"), "last block's output before the final norm"),
    (("--pretrained", "{repo}/layers.1"), "last block's output before the final norm"),
    (("--pretrained", "{repo}/layers.1", "--hookpoint", "layers.0"), "is the SAE of hookpoint layers.1"),
    (("--pretrained", "{repo}/layers.0", "--layer", "2"), "hookpoint layers.0 is --site resid --layer 1"),
    (("--pretrained", "{last}"), "last block's output before the final norm"),
    (("--pretrained", "quanta-test-nobody/no-such-sae:layers.0", "--hookpoint", "layers.1"), "names subfolder"),
    (("--pretrained", "{narrow}", "--layer", "1"), "width 16, but resid layer 1 of this model has width 32"),
    (("--pretrained", "{missing}"), "no such folder"),
    (("--pretrained", "quanta-test-nobody/no-such-sae"), "could not be fetched from the hub"),
])
def test_cli_pretrained_bad_input_is_one_line(cli_run, tiny_lm, tmp_path, args, message):  # noqa: F811
    mdir, cdir = tiny_lm
    write_sparsify(tmp_path / "repo" / "layers.0", _weights(11))
    write_sparsify(tmp_path / "repo" / "layers.1", _weights(12))
    write_sparsify(tmp_path / "narrow", _weights(13, d=16))
    write_saelens(tmp_path / "last", _weights(14), metadata={"hook_name": "blocks.1.hook_resid_post",
                                                             "prepend_bos": False})
    paths = {"repo": tmp_path / "repo", "narrow": tmp_path / "narrow", "missing": tmp_path / "missing",
             "last": tmp_path / "last"}
    out = tmp_path / "bad"
    code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir,
                           *(str(a).format(**paths) for a in args), "--out", out)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


# ---------------------------------------------------------------- the effective hookpoint (spec, folder, SAELens)

def test_effective_hookpoint_from_sub_folder_and_saelens_hook(tmp_path):
    from quanta.parts.pretrained import spec_hookpoint

    assert hookpoint_site("blocks.2.hook_resid_pre") == (2, "resid")
    assert hookpoint_site("blocks.2.hook_resid_post") == (3, "resid")
    assert hookpoint_site("blocks.2.hook_mlp_out") == (2, "mlp") and hookpoint_site("blocks.2.hook_resid_mid") is None
    root = tmp_path / "repo"
    write_sparsify(root / "layers.0", _weights(20))
    write_sparsify(root / "layers.1", _weights(21))
    assert load_pretrained_sae(str(root / "layers.1"))[1].hookpoint == "layers.1"  # the folder itself
    assert load_pretrained_sae(str(root), hookpoint="layers.0")[1].hookpoint == "layers.0"
    assert spec_hookpoint(str(root / "layers.1")) == "layers.1" and spec_hookpoint(str(root)) is None
    assert spec_hookpoint("owner/name:layers.3") == "layers.3"
    assert spec_hookpoint("owner/name", "layers.2") == "layers.2"
    with pytest.raises(QuantaError, match="names subfolder 'layers.3', but --hookpoint layers.5") as e:
        load_pretrained_sae("quanta-test-nobody/no-such-sae:layers.3", hookpoint="layers.5")  # before any download
    assert "\n" not in str(e.value)
    with pytest.raises(QuantaError, match="is the SAE of hookpoint layers.1, but --hookpoint layers.0"):
        load_pretrained_sae(str(root / "layers.1"), hookpoint="layers.0")
    # SAELens: the hook name, top level (before 6.0) or in metadata (6.0 on), is the effective hookpoint
    old = write_saelens(tmp_path / "old", _weights(22), hook_name="blocks.0.hook_mlp_out")
    new = write_saelens(tmp_path / "new", _weights(22), metadata={"hook_name": "blocks.1.hook_resid_pre"})
    assert load_pretrained_sae(str(old))[1].hookpoint == "blocks.0.hook_mlp_out" == spec_hookpoint(str(old))
    assert load_pretrained_sae(str(new))[1].hookpoint == "blocks.1.hook_resid_pre" == spec_hookpoint(str(new))
    for hook in ("blocks.0.attn.hook_z", "blocks.0.hook_resid_mid"):
        with pytest.raises(QuantaError, match=f"hook_name '{hook}' is no site quanta reads"):
            load_pretrained_sae(str(write_saelens(tmp_path / hook, _weights(22), metadata={"hook_name": hook})))


def test_library_refuses_a_layer_the_sae_was_not_trained_on(tiny_lm, tmp_path):  # noqa: F811
    from quanta.parts.run import SAEPartsConfig, run_parts_sae_lm

    mdir, cdir = tiny_lm
    folder = write_sparsify(tmp_path / "repo" / "layers.0", _weights(23))
    saelens = write_saelens(tmp_path / "lens", _weights(23), hook_name="blocks.0.hook_mlp_out")
    out = tmp_path / "run"
    for spec, layer, message in ((folder, 2, "hookpoint layers.0 is --site resid --layer 1 in quanta, but --site "
                                             "resid --layer 2 was asked for"),
                                 (saelens, 1, "hookpoint blocks.0.hook_mlp_out is --site mlp --layer 0")):
        cfg = SAEPartsConfig(model=str(mdir), corpus=str(cdir), layer=layer, pretrained=str(spec))
        with pytest.raises(QuantaError, match=message) as e:
            run_parts_sae_lm(cfg, out)
        assert "\n" not in str(e.value) and not out.exists()


@pytest.mark.parametrize("centre", [True, False])
def test_cli_saelens_hook_sets_the_site_and_centres_layernorm_rows(cli_run, tiny_lm, tmp_path, centre):  # noqa: F811
    from transformers import AutoModelForCausalLM

    from quanta.parts.activations import lm_activations

    mdir, cdir = tiny_lm
    w = _weights(24)
    meta = {"hook_name": "blocks.0.hook_mlp_out", "prepend_bos": False,
            "model_from_pretrained_kwargs": {"center_writing_weights": True} if centre else {}}
    sae_dir = write_saelens(tmp_path / "sae", w, metadata=meta)
    out = tmp_path / "run"
    code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--pretrained", sae_dir, "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts sae")
    s = run.summary
    assert (s["layer"], s["site"], s["hookpoint"], s["centred_rows"]) == (0, "mlp", "blocks.0.hook_mlp_out", centre)
    samples = run.read_table("samples")
    X, _ = lm_activations(AutoModelForCausalLM.from_pretrained(mdir), _contexts_of(samples), layer=0, site="mlp")
    if centre:
        X = X - X.mean(dim=1, keepdim=True)
    sae, _ = load_pretrained_sae(str(sae_dir))
    counts = (sae.encode(X) > 0).sum(dim=0).numpy()
    assert np.array_equal(run.read_table("parts").sort_values("part")["count"].to_numpy(), counts)
    assert s["fvu"] == pytest.approx(float((X - sae(X)).pow(2).sum() / (X - X.mean(0)).pow(2).sum()), rel=1e-4)


@pytest.mark.parametrize("where", ["metadata", "top level", "absent"])
def test_cli_saelens_prepend_bos_reads_each_window_after_the_bos(cli_run, tiny_lm, tmp_path, where):  # noqa: F811
    """SAELens's prepend_bos (true when absent): the model reads BOS + window, the BOS row is dropped, so the codes
    are those of the activations with the BOS before each window (which differ from those without it); a tokenizer
    without BOS or EOS is refused in one line, and "prepend_bos": false reads the windows as they are."""
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from quanta.parts.activations import lm_activations

    mdir, cdir = tiny_lm
    sae_dir = tmp_path / "sae"
    cfg = {"hook_name": "blocks.1.hook_resid_pre"}
    if where == "metadata":
        cfg = {"metadata": {**cfg, "prepend_bos": True}}
    elif where == "top level":
        cfg["prepend_bos"] = True
    write_saelens(sae_dir, _weights(26), **cfg)
    for length, message in (("128", "and the BOS token the SAE's contexts began with are longer than the 128 "
                                     "positions model"),  # the tiny model has 128 positions
                            ("64", "neither a BOS nor an EOS")):
        code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--pretrained", sae_dir,
                               "--context-length", length, "--out", tmp_path / "refused")
        assert code == 2 and message in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "refused").exists()

    bos_model = tmp_path / "bos_model"  # the same model, its tokenizer given a BOS (an existing token)
    shutil.copytree(mdir, bos_model)
    tok = AutoTokenizer.from_pretrained(bos_model)
    tok.bos_token = tok.convert_ids_to_tokens(5)
    tok.save_pretrained(bos_model)
    out = tmp_path / "run"
    code, _, err = cli_run("parts", "sae", "--model", bos_model, "--corpus", cdir, "--pretrained", sae_dir,
                           "--context-length", "64", "--out", out)
    assert code == 0, err
    run = Run.open(out, command="parts sae")
    assert run.summary["bos_token_id"] == 5 and (run.summary["layer"], run.summary["site"]) == (1, "resid")
    samples = run.read_table("samples")
    contexts = _contexts_of(samples)
    assert samples["pos"].min() == 0 and len(samples) == sum(map(len, contexts))
    model = AutoModelForCausalLM.from_pretrained(bos_model)
    with torch.no_grad():
        first = model(input_ids=torch.tensor([[5] + contexts[0]]), output_hidden_states=True).hidden_states[1][0, 1:]
    X, _ = lm_activations(model, contexts, layer=1, site="resid", prefix=5)
    plain, _ = lm_activations(model, contexts, layer=1, site="resid")
    assert torch.allclose(X[:len(contexts[0])], first, atol=1e-5)
    assert (X - plain).abs().max() > 1e-3  # the BOS changes every row
    sae, _ = load_pretrained_sae(str(sae_dir))
    counts = (sae.encode(X) > 0).sum(dim=0).numpy()
    assert np.array_equal(run.read_table("parts").sort_values("part")["count"].to_numpy(), counts)

    cfg_json = json.loads((sae_dir / "cfg.json").read_text())  # an SAE that saw no BOS, said so
    (cfg_json.setdefault("metadata", {}) if where == "metadata" else cfg_json)["prepend_bos"] = False
    (sae_dir / "cfg.json").write_text(json.dumps(cfg_json))
    code, _, err = cli_run("parts", "sae", "--model", bos_model, "--corpus", cdir, "--pretrained", sae_dir,
                           "--context-length", "64", "--out", tmp_path / "plain")
    assert code == 0, err
    plain_run = Run.open(tmp_path / "plain", command="parts sae")
    assert plain_run.summary["bos_token_id"] is None
    assert np.array_equal(plain_run.read_table("parts").sort_values("part")["count"].to_numpy(),
                          (sae.encode(plain) > 0).sum(dim=0).numpy())


def test_cli_folder_name_sets_the_layer(cli_run, tiny_lm, tmp_path):  # noqa: F811
    mdir, cdir = tiny_lm
    write_sparsify(tmp_path / "repo" / "layers.0.mlp", _weights(25))
    out = tmp_path / "run"
    code, _, err = cli_run("parts", "sae", "--model", mdir, "--corpus", cdir, "--pretrained",
                           tmp_path / "repo" / "layers.0.mlp", "--out", out)
    assert code == 0, err
    s = Run.open(out, command="parts sae").summary
    assert (s["layer"], s["site"], s["hookpoint"], s["centred_rows"]) == (0, "mlp", "layers.0.mlp", False)


# ---------------------------------------------------------------- malformed cfg.json: one line, never a traceback

@pytest.mark.parametrize("writer, setting, message", [
    (write_saelens, {"architecture": "topk", "activation_fn_kwargs": "k=2"}, "activation_fn_kwargs='k=2' is not an"),
    (write_saelens, {"activation_fn_str": "topk", "activation_fn_kwargs": ["k", 2]}, "activation_fn_kwargs"),
    (write_saelens, {"apply_b_dec_to_input": "false"}, "apply_b_dec_to_input='false' is not true or false"),
    (write_saelens, {"apply_b_dec_to_input": 0}, "apply_b_dec_to_input=0 is not true or false"),
    (write_saelens, {"architecture": "topk", "k": 2.5}, "k=2.5 is not a whole number"),
    (write_saelens, {"d_sae": "24"}, "d_sae='24' is not a whole number"),
    (write_saelens, {"architecture": ["topk"]}, "architecture=['topk'] is not a string"),
    (write_saelens, {"metadata": ["hook_name"]}, "metadata=['hook_name'] is not an object"),
    (write_saelens, {"model_from_pretrained_kwargs": "center"}, "model_from_pretrained_kwargs='center' is not an o"),
    (write_saelens, {"model_from_pretrained_kwargs": {"center_writing_weights": "yes"}},
     "center_writing_weights='yes' is not true or false"),
    (write_saelens, {"hook_name": 3}, "hook_name 3 is no site"),
    (write_saelens, {"metadata": {"prepend_bos": "yes"}}, "prepend_bos='yes' is not true or false"),
    (write_saelens, {"rescale_acts_by_decoder_norm": True}, "rescale_acts_by_decoder_norm=True is not supported"),
    (write_saelens, {"architecture": "topk", "k": 4, "rescale_acts_by_decoder_norm": "yes"},
     "rescale_acts_by_decoder_norm='yes' is not true or false"),
    (write_sparsify, {"k": "3"}, "k='3' is not a whole number"),
    (write_sparsify, {"activation": 1}, "activation=1 is not a string"),
    (write_sparsify, {"num_latents": float("nan")}, "num_latents=nan is not a whole number"),
])
def test_malformed_cfg_is_one_line(tmp_path, writer, setting, message):
    path = writer(tmp_path / "sae", _weights(26), **setting)
    with pytest.raises(QuantaError) as e:
        load_pretrained_sae(str(path))
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)

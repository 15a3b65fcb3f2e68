"""quanta's TopK SAE loop against EleutherAI's sparsify on the same planted activations.

    # in a separate venv (sparsify is not a dependency of quanta; docs/parts.md gives the recipe)
    /work/venv-sparsify/bin/python benchmarks/sae_library.py [--seeds 5]

For the reported alphas of the planted check (0.5 and 1.0, seeds 0..n-1, the toy ``TOY``), each seed trains on
the same matrix:

* ``quanta_topk``: ``quanta.parts.train_sae`` with plain TopK (``MATCHED`` settings);
* ``sparsify_topk``: sparsify's ``SparseCoder`` (TopK activation) with the same settings. sparsify's ``Trainer``
  only trains on a Hugging Face model's hooked activations streamed from a dataset, so the module is driven here
  by a minimal Adam loop that follows the Trainer's step (b_dec set to the first batch's mean, decoder renormalised
  before each forward, loss = the module's own ``fvu + auxk_alpha * auxk_loss``, parallel gradient removed,
  dead latents counted in tokens since they were last selected);
* ``sparsify_topk_gm``: the same, with b_dec started at quanta's geometric median instead of the first batch's
  mean (a diagnostic: one library choice replaced by quanta's);
* ``quanta_batchtopk``: the toy's own SAE (``TOY_SAE``, BatchTopK), for reference.

Each is measured on all rows of the matrix with the same code: FVU, dead latents (firing on no row), the Zipf
exponent of the latents' use counts (``parts_table`` + ``fit_parts_law``; a count is the rows on which a latent
fires) and its error against alpha+1, the planted directions recovered (a decoder column with |cos| > 0.9) and
the training wall time. Writes docs/data/sae_library.json and its table into docs/parts.md
(tests/test_docs_sae_library.py checks both without importing sparsify).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from docblock import write_block

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "sae_library.json"
DOC = ROOT / "docs" / "parts.md"
START, END = "<!-- sae-library:start -->", "<!-- sae-library:end -->"

ALPHAS = (0.5, 1.0)  # the planted check's reported set (docs/parts.md); TOY_TUNING's alpha is not used
#: quanta's plain-TopK settings, matched in the library's loop. n_latents, n_steps and lr are TOY_SAE's; k = 1 is
#: the smallest whole k (TOY_SAE's 0.4 is a BatchTopK mean per row, which TopK cannot take) and the k of the
#: plain-TopK row of the planted check; batch_size, dead_steps, k_aux and aux_coef are SAEConfig's defaults.
MATCHED = dict(n_latents=48, k=1, n_steps=600, batch_size=256, lr=3e-3, dead_steps=200, k_aux=32, aux_coef=1 / 32,
               sparsity="topk")
COS_RECOVERED = 0.9  # a planted direction is recovered when some decoder column has |cos| above this
N_BOOT = 100  # bootstrap draws of the exponent's interval (as benchmarks/parts_planted.py)
METHODS = ("quanta_topk", "sparsify_topk", "sparsify_topk_gm", "quanta_batchtopk")
LABELS = {"quanta_topk": "quanta, TopK k=1", "sparsify_topk": "sparsify SparseCoder, TopK k=1",
          "sparsify_topk_gm": "sparsify, TopK k=1, b_dec at the geometric median",
          "quanta_batchtopk": "quanta, BatchTopK (TOY_SAE)"}


def measure(X, codes_fn, W_dec, planted, seconds: float, seed: int) -> dict:
    """The same measurements for every SAE: ``codes_fn`` maps a float32 tensor of rows to (reconstruction,
    dense codes); ``W_dec`` is (n_latents, d)."""
    import torch

    from quanta.parts import feature_counts, fit_parts_law, parts_table

    Xt = torch.as_tensor(X)
    with torch.no_grad():
        outs = [codes_fn(Xt[i:i + 4096]) for i in range(0, len(Xt), 4096)]
    x_hat = torch.cat([o[0] for o in outs]).double()
    codes = torch.cat([o[1] for o in outs])
    Xd = Xt.double()
    fvu = float((Xd - x_hat).pow(2).sum() / (Xd - Xd.mean(dim=0)).pow(2).sum())
    parts = parts_table(feature_counts(codes), len(X))
    law = fit_parts_law(parts, n_boot=N_BOOT, seed=seed)
    W = W_dec / np.linalg.norm(W_dec, axis=1, keepdims=True)
    cos = np.abs(W @ planted.directions.T).max(axis=0)  # (n_features,): best latent per planted direction
    return {"fvu": fvu, "n_dead": int(parts["dead"].sum()), "n_dense": int(parts["dense"].sum()),
            "n_live": int(parts["live"].sum()), "top_share": float(parts["frequency"].max()),
            "exponent": law["zipf_exponent"],
            "exponent_ci": law["zipf_exponent_ci"], "error": law["zipf_exponent"] - planted.exponent,
            "n_recovered": int((cos > COS_RECOVERED).sum()), "n_planted": int(len(cos)), "seconds": seconds}


def run_quanta(X, planted, seed: int, settings: dict) -> dict:
    import torch

    from quanta.parts import SAEConfig, train_sae

    t0 = time.perf_counter()
    sae, _ = train_sae(X, SAEConfig(seed=seed, **settings))
    seconds = time.perf_counter() - t0

    def codes_fn(x):
        z = sae.encode(x)
        return sae.decode(z), z

    return measure(X, codes_fn, sae.W_dec.detach().numpy().T, planted, seconds, seed)


def train_sparsify(X, seed: int, settings: dict, *, b_dec_init: str = "first_batch_mean"):
    """sparsify's SparseCoder trained on ``X`` by a minimal Adam loop that follows sparsify's Trainer step.

    Matched with quanta's loop: the latents, k, steps, batch size, learning rate and its schedule (constant, then
    linear to 0 over the last fifth), the rows of every batch (quanta's seeded generator replayed: it draws the
    initial weights, then one batch of indices per step), the input scale (rows divided by quanta's scalar, their
    mean distance to the geometric median) and the AuxK weight and dead-latent horizon. The library's own: its
    initialisation (nn.Linear's, from the global torch seed), b_dec at the first batch's mean (quanta: the
    geometric median of all rows), k_aux = d/2 scaled down when fewer are dead (quanta: 32) and the AuxK loss
    divided by the batch's variance (quanta: by the residual's energy). ``b_dec_init="geometric_median"`` starts
    b_dec at quanta's centre instead (the diagnostic row: that one choice changed to quanta's).
    """
    import torch
    from sparsify import SparseCoder, SparseCoderConfig

    from quanta.parts.sae import geometric_median

    Xt = torch.as_tensor(X)
    n, d = Xt.shape
    center = geometric_median(Xt)
    scale = float((Xt - center).norm(dim=1).mean()) or 1.0
    gen = torch.Generator().manual_seed(seed)
    torch.randn(d, settings["n_latents"], generator=gen)  # quanta's initial weights: the same draw, discarded
    torch.manual_seed(seed)  # sparsify's Trainer seeds the global generator before building each coder
    sae = SparseCoder(d, SparseCoderConfig(activation="topk", num_latents=settings["n_latents"], k=settings["k"],
                                           normalize_decoder=True), device="cpu", dtype=torch.float32)
    opt = torch.optim.Adam(sae.parameters(), lr=settings["lr"])
    n_steps, batch = settings["n_steps"], settings["batch_size"]
    decay_from = int(0.8 * n_steps)
    since_fired = torch.zeros(sae.num_latents, dtype=torch.long)  # tokens since last selected, as the Trainer
    # the Trainer's mask is "since_fired > threshold" in tokens; this makes it "not selected for dead_steps steps"
    threshold = settings["dead_steps"] * batch - 1
    for step in range(n_steps):
        if step >= decay_from:
            for group in opt.param_groups:
                group["lr"] = settings["lr"] * (n_steps - step) / max(1, n_steps - decay_from)
        idx = torch.randint(0, n, (batch,), generator=gen)
        x = Xt[idx] / scale  # (B, d)
        if step == 0:
            with torch.no_grad():
                sae.b_dec.copy_(x.mean(dim=0) if b_dec_init == "first_batch_mean" else center / scale)
        sae.set_decoder_norm_to_unit_norm()
        dead = since_fired > threshold
        out = sae(x, dead_mask=dead if settings["aux_coef"] > 0 else None)
        loss = out.fvu + settings["aux_coef"] * out.auxk_loss
        loss.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            fired = torch.zeros(sae.num_latents, dtype=torch.bool)
            fired[out.latent_indices.flatten()] = True
            since_fired += batch
            since_fired[fired] = 0
    sae.eval()
    return sae, scale


def run_sparsify(X, planted, seed: int, settings: dict, *, b_dec_init: str = "first_batch_mean") -> dict:
    import torch

    t0 = time.perf_counter()
    sae, scale = train_sparsify(X, seed, settings, b_dec_init=b_dec_init)
    seconds = time.perf_counter() - t0

    def codes_fn(x):
        enc = sae.encode(x / scale)
        z = torch.zeros(len(x), sae.num_latents).scatter_(1, enc.top_indices, enc.top_acts)  # (B, n_latents)
        return sae.decode(enc.top_acts, enc.top_indices) * scale, z

    return measure(X, codes_fn, sae.W_dec.detach().numpy(), planted, seconds, seed)


def _median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def summarise(rows: list[dict]) -> list[dict]:
    """Per alpha and method: medians over seeds with their range, and the per-seed difference from quanta_topk."""
    out = []
    for alpha in sorted({r["alpha"] for r in rows}):
        at = [r for r in rows if r["alpha"] == alpha]
        base = {r["seed"]: r for r in at if r["method"] == "quanta_topk"}
        for method in METHODS:
            rs = sorted((r for r in at if r["method"] == method), key=lambda r: r["seed"])
            s = {"alpha": alpha, "planted": rs[0]["planted"], "method": method, "n_seeds": len(rs)}
            for key in ("fvu", "exponent", "error", "n_dead", "n_recovered", "top_share"):
                v = [r[key] for r in rs]
                s[key] = {"median": _median(v), "min": float(min(v)), "max": float(max(v))}
            s["abs_error_max"] = float(max(abs(r["error"]) for r in rs))
            s["n_within_0.1"] = int(sum(abs(r["error"]) <= 0.1 for r in rs))
            ratio = [r["seconds"] / base[r["seed"]]["seconds"] for r in rs]
            s["time_ratio"] = {"median": _median(ratio), "min": float(min(ratio)), "max": float(max(ratio))}
            for key in ("fvu", "exponent"):
                dv = [r[key] - base[r["seed"]][key] for r in rs]
                s[f"{key}_minus_quanta_topk"] = {"median": _median(dv), "min": float(min(dv)), "max": float(max(dv))}
            out.append(s)
    return out


def share_exponent_spearman(rows: list[dict]) -> float:
    """Spearman correlation, over every TopK run, of the commonest latent's share of rows and the exponent."""
    from scipy.stats import spearmanr

    topk = [r for r in rows if r["method"] != "quanta_batchtopk"]
    return float(spearmanr([r["top_share"] for r in topk], [r["exponent"] for r in topk]).statistic)


def finish(record: dict) -> dict:
    """The record's derived fields, from its rows only."""
    return {**record, "summary": summarise(record["rows"]),
            "topk_share_exponent_spearman": share_exponent_spearman(record["rows"])}


def _mr(s: dict, fmt: str = ".3f") -> str:
    return f"{s['median']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]"


def render_table(data: dict) -> str:
    """The table of docs/parts.md from the recorded JSON: medians over seeds [min, max]."""
    lines = ["| α + 1 | SAE | FVU | FVU − quanta TopK | exponent | exponent − quanta TopK | max \\|error\\| "
             "| seeds within 0.1 | dead latents | commonest latent's share of rows | planted recovered "
             "| time / quanta TopK |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in data["summary"]:
        lines.append(
            f"| {s['planted']:.1f} | {LABELS[s['method']]} | {_mr(s['fvu'])} | {_mr(s['fvu_minus_quanta_topk'])} | "
            f"{_mr(s['exponent'], '.2f')} | {_mr(s['exponent_minus_quanta_topk'], '.2f')} | "
            f"{s['abs_error_max']:.2f} | {s['n_within_0.1']} of {s['n_seeds']} | {_mr(s['n_dead'], '.0f')} | "
            f"{_mr(s['top_share'], '.2f')} | "
            f"{_mr(s['n_recovered'], '.0f')} of 32 | {_mr(s['time_ratio'], '.2f')} |")
    return "\n".join(lines)


def write_doc(data: dict) -> None:
    write_block(DOC, START + "\n" + render_table(data) + "\n" + END, START, END)


def _machine() -> str:
    import os

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return f"{model}, {os.cpu_count()} CPUs visible (shared), torch threads 1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    from importlib.metadata import version

    import torch

    from quanta.parts import planted_activations
    from quanta.parts.planted import TOY, TOY_SAE

    torch.set_num_threads(1)
    rows = []
    t0 = time.time()
    for alpha in ALPHAS:
        for seed in range(args.seeds):
            p = planted_activations(alpha=alpha, seed=seed, **TOY)
            for method, fn in (("quanta_topk", lambda: run_quanta(p.X, p, seed, MATCHED)),
                               ("sparsify_topk", lambda: run_sparsify(p.X, p, seed, MATCHED)),
                               ("sparsify_topk_gm", lambda: run_sparsify(p.X, p, seed, MATCHED,
                                                                         b_dec_init="geometric_median")),
                               ("quanta_batchtopk", lambda: run_quanta(p.X, p, seed, TOY_SAE))):
                rows.append({"alpha": alpha, "seed": seed, "planted": p.exponent, "method": method, **fn()})
    out = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
           "machine": _machine(),
           "python": platform.python_version(),
           "versions": {name: version(name) for name in ("eai-sparsify", "torch", "quanta", "transformers")},
           "toy": TOY, "toy_sae": TOY_SAE, "matched": MATCHED, "alphas": list(ALPHAS), "n_seeds": args.seeds,
           "cos_recovered": COS_RECOVERED, "n_boot": N_BOOT, "seconds": round(time.time() - t0, 1),
           "rows": rows}
    out = finish(out)
    DATA.write_text(json.dumps(out, indent=1) + "\n")
    write_doc(out)
    print(render_table(out))


if __name__ == "__main__":
    main()

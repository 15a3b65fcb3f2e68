"""Record how well a TopK SAE recovers the planted Zipf exponent of part use, across seeds, with a control.

    python benchmarks/parts_planted.py [--seeds 5]

For alpha 0.5 and 1.0 (the reported set) and the tuning alpha 0.8 (TOY_TUNING's, where the toy SAE's settings
were chosen), each seed draws planted activations (quanta.parts.planted.TOY), trains the toy SAE (TOY_SAE) and fits
the Zipf exponent of its live latents' use counts; also the exponent of the planted features' own counts (what
a perfect decomposition would give), the exponent from the same data with every coordinate shuffled across rows
(the control) and, on the tuning alpha, plain TopK (k = 1 per row). Writes docs/data/parts_planted.json, whose
table it writes into docs/parts.md (tests/test_docs_parts.py checks it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from docblock import write_block

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "parts_planted.json"


def one(alpha, seed, *, shuffle=False, sae_overrides=None):
    from quanta.fit import fit_zipf_from_sizes
    from quanta.parts import SAEConfig, feature_counts, fit_parts_law, parts_table, planted_activations, train_sae
    from quanta.parts.planted import TOY, TOY_SAE

    p = planted_activations(alpha=alpha, seed=seed, **TOY)
    X = p.X
    if shuffle:
        rng = np.random.default_rng(seed)
        X = np.stack([rng.permutation(col) for col in X.T], axis=1)
    sae, info = train_sae(X, SAEConfig(seed=seed, **{**TOY_SAE, **(sae_overrides or {})}))
    with torch.no_grad():
        codes = sae.encode(torch.as_tensor(X))
    parts = parts_table(feature_counts(codes), len(X))
    law = fit_parts_law(parts, n_boot=100, seed=seed)
    true_counts = p.active.sum(axis=0)
    truth = fit_zipf_from_sizes(true_counts[true_counts > 0], n_boot=0).exponent_corrected
    cos = np.abs(sae.W_dec.detach().numpy().T @ p.directions.T).max(axis=0)
    return {"alpha": alpha, "seed": seed, "planted": p.exponent, "planted_counts_exponent": truth,
            "sae_exponent": law["zipf_exponent"], "sae_exponent_ci": law["zipf_exponent_ci"],
            "n_live": int(parts["live"].sum()), "n_dead": int(parts["dead"].sum()),
            "n_dense": int(parts["dense"].sum()), "fvu": info["fvu"], "top5_min_cos": float(cos[:5].min())}


START, END = "<!-- parts-planted:start -->", "<!-- parts-planted:end -->"
DOC = ROOT / "docs" / "parts.md"


def _ms(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def render_table(data: dict) -> str:
    """The table of docs/parts.md from the recorded JSON."""
    lines = ["| set | α + 1 | method | counts exponent | parts exponent | max \\|error\\| | seeds within 0.1 | live parts |",
             "|---|---|---|---|---|---|---|---|"]
    tuning = data["tuning"]["alpha"]
    for kind, label in (("sae", "SAE (BatchTopK)"), ("control", "SAE on shuffled rows"), ("topk", "SAE (plain TopK, k=1)")):
        for alpha in sorted({r["alpha"] for r in data[kind]}):
            rows = [r for r in data[kind] if r["alpha"] == alpha]
            err = np.abs([r["sae_exponent"] - r["planted"] for r in rows])
            lines.append(f"| {'tuning' if alpha == tuning else 'reported'} | {rows[0]['planted']:.1f} | {label} | "
                         f"{_ms([r['planted_counts_exponent'] for r in rows])} | "
                         f"{_ms([r['sae_exponent'] for r in rows])} | {err.max():.2f} | "
                         f"{int((err <= 0.1).sum())} of {len(rows)} | {_ms([r['n_live'] for r in rows])} |")
    return "\n".join(lines)


def write_doc(data: dict) -> None:
    write_block(DOC, START + "\n" + render_table(data) + "\n" + END, START, END)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from quanta.parts.planted import TOY, TOY_SAE, TOY_TUNING

    t0 = time.time()
    rows = {"sae": [], "control": [], "topk": []}
    for alpha in (0.5, 1.0, TOY_TUNING["alpha"]):
        for seed in range(args.seeds):
            rows["sae"].append(one(alpha, seed))
            rows["control"].append(one(alpha, seed, shuffle=True))
    for seed in range(args.seeds):
        rows["topk"].append(one(TOY_TUNING["alpha"], seed, sae_overrides={"sparsity": "topk", "k": 1}))
    out = {"toy": TOY, "toy_sae": TOY_SAE, "tuning": TOY_TUNING, "reported_alphas": [0.5, 1.0],
           "n_seeds": args.seeds, "seconds": round(time.time() - t0, 1), **rows}
    DATA.write_text(json.dumps(out, indent=1) + "\n")
    write_doc(out)
    print(f"wrote {DATA} and the table of {DOC}")


if __name__ == "__main__":
    main()

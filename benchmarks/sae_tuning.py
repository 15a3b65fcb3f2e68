"""Choose the SAE's k for parity models and for language models on tuning worlds that no record reports.

The SAE's defaults (``quanta parts sae``: 512 latents, BatchTopK) leave one setting that shapes the law of its
parts: k, the mean number of latents that fire per row. Too large a k spreads each row over several latents and
flattens the use frequencies; too small a k starves the rare parts. It is chosen here, once per domain, on worlds
that are used for nothing else:

* parity: a ``cpu-small`` sweep at α 0.3 with training seed 10 (the family QDG parity's defaults were tuned on,
  docs/qdg.md); the SAE reads its widest model's hidden layer, as ``quanta parts sae --parity`` does;
* language: the largest model of the ``cpu`` preset (96×3) trained on ``planted:skills=500,alpha=0.5,seed=1,
  kinds=complete+count,rate=0.4``, the planted world the language and QDG's defaults were looked at on (α 0.5,
  seed 1); the SAE reads the residual stream after its last block on the test split (100 documents), as
  ``quanta parts bench`` runs it.

For every k of the grid and SAE seeds 0 and 1, the score is the parts' exponent as the closing test reads it (the
plausible head of the live parts' use counts) against the planted α+1, beside the match F1 with the planted quanta
(:func:`quanta.parts.bench.match_scores`). The chosen k minimises the mean |exponent − (α+1)|; the record goes to
``--json`` (docs/data/tuning/sae_k.json); docs/parts.md renders it (``--render``). Usage::

    python benchmarks/sae_tuning.py --out runs/sae_tuning --json docs/data/tuning/sae_k.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from docblock import write_block

os.environ.setdefault("QUANTA_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "tuning" / "sae_k.json"
GRID = (0.25, 0.5, 1, 2, 4, 8, 16)
SEEDS = (0, 1)
PARITY = {"preset": "cpu-small", "alphas": [0.3], "seeds": [10]}
PLANTED = "planted:skills=500,alpha=0.5,seed=1,kinds=complete+count,rate=0.4"
LM_SIZE = (96, 3, 4, 5e-3)  # the cpu preset's largest member


DOC = ROOT / "docs" / "parts.md"
START, END = "<!-- sae-k:start -->", "<!-- sae-k:end -->"


def render(record: dict) -> str:
    """docs/parts.md's block: mean exponent error, exponent and F1 for every k and domain (over the SAE seeds)."""
    sae_minutes = sum(r["seconds"] for r in record["rows"]) / 60
    lines = [f"Recorded {record['date']} on {record['machine']}; the SAE runs took {sae_minutes:.0f} minutes in all; SAE seeds "
             f"{', '.join(map(str, record['seeds']))}, every other setting the command's default.", "",
             "| world | k | exponent (mean) | exponent − (α+1): mean (seeds' min to max) | match F1 (mean) "
             "| live latents (mean) |",
             "|---|---|---|---|---|---|"]
    names = {"parity": "parity α 0.3, seed 10 (α+1 = 1.3)", "lm": "planted α 0.5, seed 1 (α+1 = 1.5)"}
    for domain in ("parity", "lm"):
        for k in record["grid"]:
            rs = [r for r in record["rows"] if r["domain"] == domain and r["k"] == k]
            mean = lambda key: sum(r[key] for r in rs) / len(rs)  # noqa: E731
            err = [r["error"] for r in rs]
            lines.append(f"| {names[domain]} | {k:g} | {mean('exponent'):.3f} | {mean('error'):+.3f} "
                         f"({min(err):+.3f} to {max(err):+.3f}) | {mean('f1'):.3f} | {mean('n_live'):.0f} |")
    return START + "\n" + "\n".join(lines) + "\n" + END


def write_doc(record: dict) -> None:
    write_block(DOC, render(record), START, END)


def _complete(path: Path) -> bool:
    m = path / "manifest.json"
    return m.exists() and json.loads(m.read_text()).get("status") == "complete"


def worlds(out: Path) -> dict:
    """Train the two tuning worlds (kept when already trained)."""
    from quanta.lm.train import SuiteConfig, train_suite
    from quanta.parity import preset_config, run_parity

    parity = out / "parity"
    if not _complete(parity):
        run_parity(preset_config(PARITY["preset"], {"alphas": PARITY["alphas"], "seeds": PARITY["seeds"]}), parity,
                   resume=parity.exists())
    suite = out / "suite"
    if not _complete(suite):
        train_suite(SuiteConfig(corpus=PLANTED, preset="cpu", sizes=(LM_SIZE,)), suite, force=suite.exists())
    model = json.loads((suite / "suite.json").read_text())["models"][-1]["path"]
    return {"parity": str(parity), "model": str(suite / model)}


def score(parts_dir: Path, zipf_true: float, seed: int) -> dict:
    from quanta.parts.bench import match_scores, unit_truth
    from quanta.plausibility import head_law
    from quanta.store import Run

    run = Run.open(parts_dir)
    truth, info = unit_truth(parts_dir)
    parts = run.read_table("parts")
    live = parts.loc[parts["live"], "part"].to_numpy()
    m = match_scores(run.read_table("membership"), info["n_samples"], truth, live_parts=live, n_perm=5, seed=seed)
    counts = parts.loc[parts["live"], "count"].to_numpy()
    law = head_law(counts, n_boot=200, seed=seed)
    return {"f1": m["f1"], "exponent": float(law["exponent"]), "error": float(law["exponent"]) - zipf_true,
            "n_live": int(parts["live"].sum()), "n_dead": int(parts["dead"].sum()),
            "n_dense": int(parts["dense"].sum()), "fvu": run.summary.get("fvu"),
            "seconds": run.manifest.get("timings_s", {}).get("total")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/sae_tuning")
    ap.add_argument("--json", default=None)
    ap.add_argument("--render", action="store_true", help="only rewrite the doc's block from the recorded JSON")
    args = ap.parse_args(argv)
    if args.render:
        write_doc(json.loads(DATA.read_text()))
        return {}
    from quanta.parts.run import SAEParityConfig, SAEPartsConfig, run_parts_sae_lm, run_parts_sae_parity

    out = Path(args.out)
    t0 = time.perf_counter()
    w = worlds(out)
    rows = []
    for domain in ("parity", "lm"):
        for k in GRID:
            for seed in SEEDS:
                d = out / domain / f"k{k}-s{seed}" if domain == "lm" else out / "sae_parity" / f"k{k}-s{seed}"
                if domain == "parity":
                    cfg = SAEParityConfig(run_dir=w["parity"], k=k, seed=seed)
                    zipf_true = PARITY["alphas"][0] + 1
                    if not _complete(d):
                        run_parts_sae_parity(cfg, d, force=d.exists())
                else:
                    cfg = SAEPartsConfig(model=w["model"], corpus=PLANTED + ":test", layer=LM_SIZE[1], site="resid",
                                         context_length=128, k=k, seed=seed)
                    zipf_true = 1.5
                    if not _complete(d):
                        run_parts_sae_lm(cfg, d, force=d.exists())
                rows.append({"domain": domain, "k": k, "seed": seed, **score(d, zipf_true, seed)})
                print(rows[-1], flush=True)
    chosen = {}
    for domain in ("parity", "lm"):
        by_k = {}
        for k in GRID:
            errs = [abs(r["error"]) for r in rows if r["domain"] == domain and r["k"] == k]
            by_k[k] = sum(errs) / len(errs)
        chosen[domain] = min(by_k, key=by_k.get)
    record = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"a {os.cpu_count()}-core {platform.machine()} machine (shared)",
        "grid": list(GRID), "seeds": list(SEEDS), "parity_world": PARITY, "planted_world": PLANTED,
        "lm_model_size": list(LM_SIZE), "criterion": "mean |exponent - (alpha+1)| over the SAE seeds, smallest",
        "rows": rows, "chosen_k": chosen, "minutes": (time.perf_counter() - t0) / 60,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(chosen))
    return record


if __name__ == "__main__":
    main()

"""Throughput of the per-token loss engine against a plain batch-1 fp32 loop on the same model.

Both compute the cross-entropy of every next-token prediction of the same documents (random token ids of
random lengths, a randomly initialised GPT-NeoX). The baseline is what a notebook would write: one document
at a time, ``model(ids).logits`` in fp32, ``cross_entropy``. The engine is ``quanta.lm.losses.per_token_losses``
(length-sorted padded batches, head on real positions only, bf16 autocast on GPU). Printed: tokens per second of
each, their ratio (measured side by side in one run), and the largest and mean difference of the losses.

CPU (a small model, what docs/lm.md records)::

    .venv/bin/python benchmarks/lm_losses.py --shape small --device cpu

GPU (pythia-70m-shaped GPT-NeoX, random init, 1024-token contexts; target >= 5x the batch-1 loop)::

    python benchmarks/lm_losses.py --shape pythia-70m --device cuda --n-docs 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

SHAPES = {
    # hidden, layers, heads, vocab, context
    "pythia-70m": (512, 6, 8, 50304, 1024),
    "small": (128, 4, 4, 4096, 256),
    "tiny": (32, 2, 2, 512, 64),
}


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None):
    import torch
    import torch.nn.functional as F

    from quanta.lm.corpus import TokenizedWindow
    from quanta.lm.losses import per_token_losses, resolve_precision
    from quanta.lm.train import build_neox, neox_config
    from quanta.utils import resolve_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    ap.add_argument("--n-docs", type=int, default=48)
    ap.add_argument("--min-frac", type=float, default=0.5,
                    help="document lengths are uniform in [min_frac * context, context]")
    ap.add_argument("--batch-tokens", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="timed repetitions of each (the median is reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="also write the result to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    precision = resolve_precision(args.precision, dev)
    hidden, layers, heads, vocab, ctx = SHAPES[args.shape]
    cfg = neox_config(vocab_size=vocab, hidden_size=hidden, n_layers=layers, n_heads=heads, max_positions=max(ctx, 64))
    model32 = build_neox(cfg, seed=0).to(dev).eval()
    rng = np.random.default_rng(0)
    lengths = rng.integers(int(args.min_frac * ctx), ctx + 1, size=args.n_docs)
    windows = [TokenizedWindow(i, 0, rng.integers(0, vocab, size=n).astype(np.int64)) for i, n in enumerate(lengths)]
    n_tokens = int(sum(n - 1 for n in lengths))

    def baseline():
        out = []
        with torch.inference_mode():
            for w in windows:
                ids = torch.as_tensor(w.ids, device=dev)[None]  # (1, T)
                logits = model32(input_ids=ids).logits[0].float()  # (T, V)
                out.append(F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none"))
            res = torch.cat(out).cpu().numpy()
        return res

    if precision == "fp32":
        model_e = model32
    else:
        model_e = build_neox(cfg, seed=0).to(dev).to({"bf16": torch.bfloat16, "fp16": torch.float16}[precision]).eval()

    def engine():
        return per_token_losses(model_e, windows, device=dev, precision=precision,
                                batch_tokens=args.batch_tokens)["loss"].to_numpy()

    def timed(fn):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            _sync(dev)
            t = time.perf_counter()
            res = fn()
            _sync(dev)
            times.append(time.perf_counter() - t)
        return res, float(np.median(times)), times

    ref, t_ref, all_ref = timed(baseline)
    got, t_eng, all_eng = timed(engine)
    diff = np.abs(ref - got)
    result = {
        "shape": args.shape, "hidden": hidden, "layers": layers, "vocab": vocab, "context": ctx,
        "device": str(dev), "precision": precision, "n_docs": args.n_docs, "n_tokens": n_tokens,
        "threads": torch.get_num_threads(),
        "baseline_tokens_per_s": n_tokens / t_ref, "engine_tokens_per_s": n_tokens / t_eng,
        "speedup": t_ref / t_eng, "max_abs_diff_nats": float(diff.max()), "mean_abs_diff_nats": float(diff.mean()),
        "baseline_seconds": all_ref, "engine_seconds": all_eng,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

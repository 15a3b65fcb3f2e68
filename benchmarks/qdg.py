"""QDG speed: the reference algorithm against quanta on the same tokens, and the error of projected cosines.

Reference (the paper's code, docs/science.md §4): the similarity matrix is filled block pair by block pair; for every
pair the gradients of both blocks' tokens are recomputed, one forward and one backward per token on its own
context (the prefix ending at the token), flattened and multiplied. quanta: every token's gradient once
(:func:`quanta.qdg.grads.token_gradients`: one forward per batch of contexts, vmapped backward over the targets of
a context, per-example weight gradients from layer inputs and output gradients), then one matrix product.

Both run on a randomly initialised GPT-NeoX of the given shape (timing does not depend on the weights) with random
token contexts; the similarity matrices are compared. Usage::

    python benchmarks/qdg.py speed --n-tokens 60 --block 15 --repeats 3   # CPU, small
    python benchmarks/qdg.py speed --shape pythia-70m --context 1024 --n-tokens 10000 --project 8192 \
        --device cuda --quanta-only                                    # GPU target: <= 60 s
    python benchmarks/qdg.py error --shape pythia-70m --context 128 --n-tokens 48 --k 1024,4096,8192,16384
    python benchmarks/qdg.py cluster --n-points 100000 --dim 8192 --counts 50,100,200,300   # the step after gradients
    python benchmarks/qdg.py peer --n-tokens 48 --bergson-dim 16                        # against EleutherAI's bergson

``cluster`` times what follows the gradients at the 100k scale: the kNN graph and the spectral sweep, on
synthetic sketched gradients with planted Zipf-sized clusters (each row a cluster direction plus isotropic noise,
scaled so that within-cluster cosines are about ``--within-cos`` and between-cluster ones about 0, the regime of
QDG), and scores the labels at the planted count against the planted clusters.

``peer`` times quanta's token gradients against EleutherAI's ``bergson`` (random projections of per-example
gradients, LoGra-style: each linear layer's gradient projected on both sides to ``p × p``) on the same model,
tokens and projection size, in one process. Both take the gradient of one token's loss given its prefix: bergson
gets each target as its own document (the prefix and the target, every other label masked with -100), since its
``attribute_tokens`` mode gives a different quantity (position t's share δ_t ⊗ a_t of the summed loss's
gradient, not token t's own gradient). Both cover the same parameters (every linear layer's weight except the
unembedding), and quanta sketches to bergson's total size (modules × p²). It reports the time ratio and how well
the cosines of either projection agree with the exact cosines and with each other. Needs ``pip install bergson``
(see docs/benchmarks.md for installing it beside a CPU torch).

Prints one line per measurement (``--json`` also writes them); nothing else is written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

os.environ.setdefault("QUANTA_PROGRESS", "0")

SHAPES = {
    # hidden, layers, heads, intermediate, vocab
    "pythia-70m": (512, 6, 8, 2048, 50304),
    "small": (128, 2, 4, 512, 4096),
}


def build_model(shape: str, context: int, device, seed: int = 0):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    h, L, heads, inter, vocab = SHAPES[shape]
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=L, num_attention_heads=heads,
                        intermediate_size=inter, max_position_embeddings=max(2048, context), rotary_pct=0.25)
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(cfg).float().to(device).eval()


def make_tokens(n_tokens: int, context: int, vocab: int, per_context: int, seed: int = 0):
    """Random contexts and ``per_context`` target positions in each (spread over the context)."""
    g = torch.Generator().manual_seed(seed)
    n_ctx = -(-n_tokens // per_context)
    contexts = [torch.randint(0, vocab, (context,), generator=g) for _ in range(n_ctx)]
    rng = np.random.default_rng(seed)
    targets = []
    for c in range(n_ctx):
        for p in np.sort(rng.choice(np.arange(1, context), size=per_context, replace=False)):
            targets.append((c, int(p)))
    return contexts, np.array(targets[:n_tokens])


def reference_gradient(model, names, ctx, p):
    """One token: one forward and one backward on the prefix ending at it, flattened over ``names``."""
    params = dict(model.named_parameters())
    model.zero_grad(set_to_none=True)
    logits = model(ctx[:p].unsqueeze(0)).logits[0, -1]
    torch.nn.functional.cross_entropy(logits[None].float(), ctx[p:p + 1]).backward()
    return torch.cat([params[n].grad.flatten() for n in names])


def reference_similarity(model, names, contexts, targets, block: int, device):
    """The paper's scheme: for every block pair (i <= j) recompute both blocks' gradients, then Gi·Gjᵀ."""
    n = len(targets)
    C = torch.zeros(n, n)
    n_grads = 0
    blocks = [list(range(s, min(n, s + block))) for s in range(0, n, block)]
    for bi, I in enumerate(blocks):
        for J in blocks[bi:]:
            Gi = torch.stack([reference_gradient(model, names, contexts[targets[t][0]].to(device), targets[t][1])
                              for t in I])
            n_grads += len(I)
            if J is I:
                Gj = Gi
            else:
                Gj = torch.stack([reference_gradient(model, names, contexts[targets[t][0]].to(device),
                                                     targets[t][1]) for t in J])
                n_grads += len(J)
            Gi = Gi / Gi.norm(dim=1, keepdim=True)
            Gj = Gj / Gj.norm(dim=1, keepdim=True)
            S = (Gi @ Gj.T).cpu()
            C[I[0]:I[-1] + 1, J[0]:J[-1] + 1] = S
            C[J[0]:J[-1] + 1, I[0]:I[-1] + 1] = S.T
    return C.numpy(), n_grads


def quanta_similarity(model, contexts, targets, *, project, batch_size, device):
    from quanta.qdg.cluster import cosine_matrix
    from quanta.qdg.grads import token_gradients

    G = token_gradients(model, contexts, targets, project=project, batch_size=batch_size, device=device)
    return cosine_matrix(G, device=device)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def cmd_speed(a):
    from quanta.qdg.grads import select_gradient_blocks

    device = torch.device(a.device)
    model = build_model(a.shape, a.context, device)
    names = [b.name for b in select_gradient_blocks(model)]
    D = sum(b.numel for b in select_gradient_blocks(model))
    contexts, targets = make_tokens(a.n_tokens, a.context, model.config.vocab_size, a.per_context)
    print(f"shape={a.shape} context={a.context} tokens={len(targets)} per_context={a.per_context} grad_dim={D} "
          f"device={device} threads={torch.get_num_threads()}")
    # warm-up (imports, kernels) on a few tokens, not timed
    quanta_similarity(model, contexts, targets[:4], project=a.project or None, batch_size=a.batch_size, device=device)
    tq = []
    for _ in range(a.repeats):
        _sync(device)
        t0 = time.perf_counter()
        Cq = quanta_similarity(model, contexts, targets, project=a.project or None, batch_size=a.batch_size,
                               device=device)
        _sync(device)
        tq.append(time.perf_counter() - t0)
    t_quanta = statistics.median(tq)
    print(f"quanta: {t_quanta:.2f} s (median of {a.repeats}; {len(targets) / t_quanta:.1f} "
          f"tokens/s; project={a.project or 'exact'})")
    record = {"shape": a.shape, "context": a.context, "tokens": len(targets), "grad_dim": D, "device": str(device),
              "project": a.project or None, "seconds": t_quanta, "tokens_per_s": len(targets) / t_quanta,
              "repeats": a.repeats}
    _write_json(a.json, record)
    if a.quanta_only:
        return
    tr = []
    for _ in range(a.repeats):
        _sync(device)
        t0 = time.perf_counter()
        Cr, n_grads = reference_similarity(model, names, contexts, targets, a.block, device)
        _sync(device)
        tr.append(time.perf_counter() - t0)
    print(f"reference: {statistics.median(tr):.2f} s (median of {a.repeats}; {n_grads} gradient computations for "
          f"{len(targets)} tokens, block {a.block})")
    print(f"ratio reference/quanta: {statistics.median(tr) / t_quanta:.1f}x")
    err = np.abs(Cr - Cq)
    print(f"similarity matrices: max |diff| {err.max():.2e} (quanta {'sketched, k=' + str(a.project) if a.project else 'exact'})")
    record.update(block=a.block, reference_seconds=statistics.median(tr), reference_gradients=n_grads,
                  ratio_reference_over_quanta=statistics.median(tr) / t_quanta, max_abs_diff=float(err.max()),
                  threads=torch.get_num_threads())
    _write_json(a.json, record)


def cmd_error(a):
    from quanta.qdg.grads import token_gradients

    device = torch.device(a.device)
    model = build_model(a.shape, a.context, device)
    contexts, targets = make_tokens(a.n_tokens, a.context, model.config.vocab_size, a.per_context, seed=1)
    t0 = time.perf_counter()
    G = token_gradients(model, contexts, targets, batch_size=a.batch_size, device=device)
    X = G / G.norm(dim=1, keepdim=True)
    exact = (X @ X.T).numpy()
    del G, X
    iu = np.triu_indices(len(exact), 1)
    ce = exact[iu]
    print(f"shape={a.shape} context={a.context} tokens={len(targets)} exact gradients in "
          f"{time.perf_counter() - t0:.1f} s; exact cosines: mean |cos| {np.abs(ce).mean():.3f}, "
          f"max {ce.max():.3f}")
    record = {"shape": a.shape, "context": a.context, "tokens": len(targets), "pairs": len(ce), "seeds": a.seeds,
              "exact_mean_abs_cos": float(np.abs(ce).mean()), "rows": []}
    for k in [int(v) for v in a.k.split(",")]:
        errs = []
        for seed in range(a.seeds):
            P = token_gradients(model, contexts, targets, project=k, seed=seed, batch_size=a.batch_size,
                                device=device)
            Y = P / P.norm(dim=1, keepdim=True)
            errs.append((Y @ Y.T).numpy()[iu] - ce)
        e = np.concatenate(errs)
        print(f"k={k}: mean |err| {np.abs(e).mean():.4f}  rms {np.sqrt((e ** 2).mean()):.4f}  "
              f"p99 |err| {np.percentile(np.abs(e), 99):.4f}  max |err| {np.abs(e).max():.4f}  "
              f"(1/sqrt(k) = {1 / np.sqrt(k):.4f}; {a.seeds} seeds x {len(ce)} pairs)")
        record["rows"].append({"k": k, "mean_abs": float(np.abs(e).mean()), "rms": float(np.sqrt((e ** 2).mean())),
                               "p99": float(np.percentile(np.abs(e), 99)), "max": float(np.abs(e).max())})
    _write_json(a.json, record)


def planted_gradients(n: int, dim: int, n_clusters: int, *, exponent: float, within_cos: float, seed: int = 0):
    """``n`` rows in ``dim`` dimensions in ``n_clusters`` planted clusters with sizes ∝ rank^-exponent.

    Row i = sqrt(c)·u_{z_i} + sqrt(1-c)·noise_i (u and noise unit vectors), so two rows of one cluster have cosine
    about c = ``within_cos`` and rows of different clusters about 0 (± 1/sqrt(dim)). Returns (float32 tensor, labels).
    """
    g = torch.Generator().manual_seed(seed)
    p = np.arange(1, n_clusters + 1, dtype=np.float64) ** -exponent
    z = np.random.default_rng(seed).choice(n_clusters, size=n, p=p / p.sum())
    U = torch.nn.functional.normalize(torch.randn(n_clusters, dim, generator=g), dim=1)
    X = torch.empty(n, dim)
    for s in range(0, n, 8192):
        e = torch.nn.functional.normalize(torch.randn(min(8192, n - s), dim, generator=g), dim=1)
        X[s:s + len(e)] = within_cos ** 0.5 * U[torch.as_tensor(z[s:s + len(e)])] + (1 - within_cos) ** 0.5 * e
    return X, z


def cmd_cluster(a):
    from sklearn.metrics import adjusted_rand_score

    from quanta.qdg import cluster as C

    counts = sorted({int(v) for v in a.counts.split(",")} | {a.planted})
    t0 = time.perf_counter()
    X, z = planted_gradients(a.n_points, a.dim, a.planted, exponent=a.exponent, within_cos=a.within_cos)
    print(f"n={a.n_points} dim={a.dim} planted={a.planted} (sizes {np.bincount(z).max()}..{np.bincount(z).min()}) "
          f"made in {time.perf_counter() - t0:.1f} s; device={a.device} threads={torch.get_num_threads()}")
    _sync(a.device)
    t0 = time.perf_counter()
    A = C.knn_affinity(X, n_neighbors=a.n_neighbors, similarity="angular", device=a.device)
    _sync(a.device)
    t_knn = time.perf_counter() - t0
    print(f"kNN graph ({a.n_neighbors} neighbours, exact, {A.nnz} edges): {t_knn:.1f} s")
    t0 = time.perf_counter()
    sweep = C.spectral_sweep(A, counts, seed=0, device=a.device, solver=a.solver)
    t_spec = time.perf_counter() - t0
    print(f"spectral sweep (solver {a.solver}, {max(counts)} eigenvectors, counts {counts}): {t_spec:.1f} s")
    ari = adjusted_rand_score(z, sweep.labels[a.planted])
    print(f"ARI at the planted count {a.planted}: {ari:.3f}; graph + spectral {t_knn + t_spec:.1f} s")
    _write_json(a.json, {"n_points": a.n_points, "dim": a.dim, "planted": a.planted, "counts": counts,
                         "device": str(a.device), "solver": a.solver, "knn_s": t_knn, "spectral_s": t_spec,
                         "total_s": t_knn + t_spec, "ari_at_planted": float(ari)})


def _write_json(path, record) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(record, f, indent=1)


def bergson_gradients(model, contexts, targets, *, dim: int, batch_size: int, seed: int = 0):
    """bergson's projected gradients of each target token's loss given its prefix: (n, modules × dim²) float32."""
    import tempfile

    from bergson import GradientProcessor, InMemoryCollector, IndexConfig
    from bergson.collector.collector import CollectorComputer
    from datasets import Dataset

    ids = [contexts[c][:p + 1].tolist() for c, p in targets]
    labels = [[-100] * int(p) + [int(contexts[c][p])] for c, p in targets]
    data = Dataset.from_dict({"input_ids": ids, "labels": labels})
    with tempfile.TemporaryDirectory() as tmp:
        cfg = IndexConfig(run_path=os.path.join(tmp, "run"), projection_dim=dim, projection_seed=seed)
        cfg.partial_run_path.mkdir(parents=True, exist_ok=True)
        proc = GradientProcessor(projection_dim=dim, projection_seed=seed)
        col = InMemoryCollector(model=model.base_model, cfg=cfg, processor=proc, data=data)
        batches = [list(range(i, min(len(ids), i + batch_size))) for i in range(0, len(ids), batch_size)]
        CollectorComputer(model=model, data=data, collector=col, batches=batches, cfg=cfg).run_with_collector_hooks(
            desc="bergson")
        return torch.cat([g.float() for g in col.gradients.values()], dim=1), len(col.gradients)


def _cosines(G):
    X = G / G.norm(dim=1, keepdim=True)  # float32: exact gradients of pythia-70m are 75 MB a token
    C = (X @ X.T).double().numpy()
    return C[np.triu_indices(len(C), 1)]


def cmd_peer(a):
    import logging

    from quanta.qdg.grads import select_gradient_blocks, token_gradients

    try:
        import bergson  # noqa: F401
    except Exception as exc:  # an ImportError, or a broken dependency (e.g. torchvision built for another torch)
        print(f"bergson is not importable here: {type(exc).__name__}: {exc}")
        return 3
    logging.getLogger("bergson").setLevel(logging.WARNING)
    device = torch.device(a.device)
    model = build_model(a.shape, a.context, device)
    n_blocks = len(select_gradient_blocks(model))
    k = n_blocks * a.bergson_dim ** 2 or None  # --bergson-dim 0: exact gradients on both sides
    contexts, targets = make_tokens(a.n_tokens, a.context, model.config.vocab_size, a.per_context, seed=2)
    print(f"peer: shape={a.shape} context={a.context} tokens={len(targets)} device={device} "
          f"threads={torch.get_num_threads()}; bergson p={a.bergson_dim} per module x {n_blocks} modules = "
          f"{k or 'exact'} dimensions, quanta CountSketch k={k or 'exact'}")
    few = targets[:min(4, len(targets))]
    token_gradients(model, contexts, few, project=k, batch_size=a.batch_size, device=device)  # warm-up
    bergson_gradients(model, contexts, few, dim=a.bergson_dim, batch_size=a.batch_size)
    tq, tb = [], []
    for _ in range(a.repeats):
        _sync(device)
        t0 = time.perf_counter()
        Gq = token_gradients(model, contexts, targets, project=k, batch_size=a.batch_size, device=device)
        _sync(device)
        tq.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        Gb, n_mod = bergson_gradients(model, contexts, targets, dim=a.bergson_dim, batch_size=a.batch_size)
        _sync(device)
        tb.append(time.perf_counter() - t0)
    q, b = statistics.median(tq), statistics.median(tb)
    res = {"shape": a.shape, "context": a.context, "tokens": len(targets), "device": str(device), "k": k,
           "bergson_dim": a.bergson_dim, "bergson_modules": n_mod, "quanta_s": q, "bergson_s": b,
           "ratio_bergson_over_quanta": b / q}
    print(f"quanta {q:.2f} s, bergson {b:.2f} s (medians of {a.repeats}); ratio bergson/quanta {b / q:.2f}x")
    cq, cb = _cosines(Gq), _cosines(Gb)
    res.update(agree_mean_abs=float(np.abs(cq - cb).mean()), agree_corr=float(np.corrcoef(cq, cb)[0, 1]))
    if a.exact and k:
        ce = _cosines(token_gradients(model, contexts, targets, batch_size=a.batch_size, device=device))
        for name, c in (("quanta", cq), ("bergson", cb)):
            res[f"{name}_err_mean_abs"] = float(np.abs(c - ce).mean())
            res[f"{name}_err_rms"] = float(np.sqrt(((c - ce) ** 2).mean()))
            res[f"{name}_corr_exact"] = float(np.corrcoef(c, ce)[0, 1])
        print(f"exact cosines: mean |cos| {np.abs(ce).mean():.3f} over {len(ce)} pairs; error against exact: "
              f"quanta mean {res['quanta_err_mean_abs']:.4f} rms {res['quanta_err_rms']:.4f}, "
              f"bergson mean {res['bergson_err_mean_abs']:.4f} rms {res['bergson_err_rms']:.4f} "
              f"(1/sqrt(k) = {1 / np.sqrt(k):.4f})")
    print(f"projected mean |cos|: quanta {np.abs(cq).mean():.3f}, bergson {np.abs(cb).mean():.3f}; ", end="")
    print(f"quanta against bergson cosines: mean |diff| {res['agree_mean_abs']:.4f}, correlation "
          f"{res['agree_corr']:.4f}")
    _write_json(a.json, res)
    return 0


def main(argv=None):
    from quanta.qdg.cluster import SOLVERS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cluster")
    c.add_argument("--n-points", type=int, default=20000)
    c.add_argument("--dim", type=int, default=8192)
    c.add_argument("--planted", type=int, default=100, help="number of planted clusters")
    c.add_argument("--exponent", type=float, default=1.4, help="Zipf exponent of the planted sizes")
    c.add_argument("--within-cos", type=float, default=0.2)
    c.add_argument("--n-neighbors", type=int, default=30)
    c.add_argument("--counts", default="50,100,200,300")
    c.add_argument("--solver", default="auto", choices=("auto",) + SOLVERS)
    c.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    c.add_argument("--threads", type=int, default=None)
    c.add_argument("--json", default=None, help="also write the figures to this JSON file")
    for name in ("speed", "error", "peer"):
        s = sub.add_parser(name)
        s.add_argument("--shape", choices=sorted(SHAPES), default="small")
        s.add_argument("--context", type=int, default=128)
        s.add_argument("--n-tokens", type=int, default=60)
        s.add_argument("--per-context", type=int, default=4, help="target tokens drawn from each context")
        s.add_argument("--batch-size", type=int, default=8)
        s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
        s.add_argument("--json", default=None, help="also write the figures to this JSON file")
        if name == "speed":
            s.add_argument("--block", type=int, default=15, help="reference block size")
            s.add_argument("--project", type=int, default=0, help="quanta sketch dimension (0: exact)")
            s.add_argument("--repeats", type=int, default=1)
            s.add_argument("--quanta-only", action="store_true", help="skip the reference (large sizes)")
        elif name == "peer":
            s.add_argument("--bergson-dim", type=int, default=16,
                           help="bergson's per-module projection p (p² each); 0: exact gradients on both sides")
            s.add_argument("--repeats", type=int, default=1)
            s.add_argument("--exact", action=argparse.BooleanOptionalAction, default=True,
                           help="also compute exact gradients to score both projections")
        else:
            s.add_argument("--k", default="1024,4096,8192,16384")
            s.add_argument("--seeds", type=int, default=2)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    return {"speed": cmd_speed, "error": cmd_error, "cluster": cmd_cluster, "peer": cmd_peer}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

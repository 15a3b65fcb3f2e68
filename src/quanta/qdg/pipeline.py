"""QDG on a language model: select low-loss tokens, their gradients, the spectral sweep, tables and figures.

:class:`QDGConfig` holds the settings of ``quanta qdg --model ...``; :func:`run_qdg_lm` writes a run directory;
:func:`analyze_gradients` (similarity, spectral sweep, Zipf fits of the cluster sizes) is shared with
:func:`quanta.qdg.parity.run_qdg_parity`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quanta.errors import QuantaError
from quanta.validation import Interval, Options, seed_range, validate_config


@dataclass(frozen=True)
class QDGConfig:
    """Settings of a QDG run on a language model (``quanta qdg --model ...``).

    Attributes
    ----------
    model : str
        A local model directory (``save_pretrained``, a model of a trained suite) or a hub name (``pythia-70m``).
    revision : str, optional
        A checkpoint (``stepN``); None for the final weights.
    corpus : str, default "stdlib:test"
        Corpus spec for :func:`quanta.lm.corpus.load_corpus`.
    max_docs : int, optional, default 100
        Documents read at most (each truncated to ``context_length`` tokens).
    context_length : int, default 128
        Tokens of each document kept (the paper: 1024; the default suits a CPU).
    threshold : float, default 0.1
        Tokens with loss below this many nats are candidates.
    drop_induction : bool, default True
        Drop tokens that complete a trigram seen earlier in their document.
    n_tokens : int, default 300
        Tokens clustered (a seeded uniform subsample of the candidates; the paper used 10,000; the default suits a
        CPU: gradient cost grows as n_tokens × context_length).
    params : tuple of str, optional
        Glob patterns of the parameters to take gradients of; default all attention and MLP weights.
    include_bias : bool, default False
    project : int, optional, default 8192
        CountSketch dimension of the gradients; None or 0 keeps them exact (only sensible for small models).
    counts : tuple of int, optional
        Cluster counts of the sweep; default a geometric grid (:func:`quanta.qdg.cluster.default_counts`).
    n_clusters : int, optional
        The headline count (figures, MLE fit); default n_tokens/25, at most 400 (the paper: 400 of 10,000),
        added to the sweep.
    assign : str, default "cluster_qr"
        ``cluster_qr`` or ``kmeans`` label assignment.
    dense_max : int, default 20000
        Largest number of tokens for a dense affinity; beyond it a kNN graph.
    n_neighbors : int, default 30
        Neighbours per token in the kNN graph.
    eigen_solver : str, default "auto"
        ``auto``, ``dense``, ``lanczos``, ``amg`` or ``chebyshev`` (:func:`quanta.qdg.cluster.spectral_embedding`;
        ``auto``: LAPACK or ``torch.linalg.eigh`` for a dense affinity, Chebyshev-filtered subspace iteration (in
        torch, on the run's device) for a kNN graph).
    similarity : str, default "angular"
        ``angular`` (the paper's ``1 - arccos(cos)/π``), ``abs_angular`` (the same of ``|cos|``) or
        ``abs_cosine`` (``|cos|``); see :func:`quanta.qdg.cluster.angular_affinity`.
    affinity_power : int, default 1
        The affinity raised elementwise to this power (1: the paper's); see
        :func:`quanta.qdg.cluster.angular_affinity` and docs/qdg.md.
    rank_range : tuple (int, int), optional
        Ranks of the envelope fit (the paper: (100, 1000)); default ``1 .. n_clusters``, the ranks of the parts
        at the chosen count, as ``quanta qdg parity`` and ``quanta falsify`` fit it (one definition of the
        envelope exponent everywhere).
    precondition : str, default "none"
        ``none`` (the paper: raw gradients) or ``diag`` (every coordinate divided by its RMS over the selected
        tokens, before the sketch; the gradients are then computed twice). See
        :func:`quanta.qdg.grads.token_gradients`; measured only on parity so far (docs/qdg.md).
    batch_size, rounds_per_pass : int
        See :func:`quanta.qdg.grads.token_gradients`.
    n_contexts : int, default 10
        Contexts listed per cluster (the most central members).
    n_boot : int, default 200
        Bootstrap replicates of the Zipf fits.
    seed : int, default 0
    """

    model: str
    revision: str | None = None
    corpus: str = "stdlib:test"
    max_docs: int | None = 100
    context_length: int = 128
    threshold: float = 0.1
    drop_induction: bool = True
    n_tokens: int = 300
    params: tuple | None = None
    include_bias: bool = False
    project: int | None = 8192
    counts: tuple | None = None
    n_clusters: int | None = None
    assign: str = "cluster_qr"
    dense_max: int = 20000
    n_neighbors: int = 30
    eigen_solver: str = "auto"
    similarity: str = "angular"
    affinity_power: int = 1
    rank_range: tuple | None = None
    precondition: str = "none"
    batch_size: int = 8
    rounds_per_pass: int = 16
    n_contexts: int = 10
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise QuantaError(f"model: a model directory or name is needed, got {self.model!r}",
                              "pass model=runs/suite/MODEL or model=pythia-70m")
        validate_config(self, {
            "max_docs": [Interval(int, 1, None), None],
            "context_length": [Interval(int, 3, None)],
            "n_tokens": [Interval(int, 10, None)],
            "project": [Interval(int, 0, None), None],
            "n_clusters": [Interval(int, 2, None), None],
            **{name: [Interval(int, 1, None)] for name in ("dense_max", "n_neighbors", "batch_size",
                                                           "rounds_per_pass", "n_contexts")},
            "n_boot": [Interval(int, 0, None)], "seed": [seed_range()],
            "threshold": [Interval(float, 0, None, closed="neither")],  # nats; the paper uses 0.1
            "assign": [Options(("cluster_qr", "kmeans"))],
        }, examples={"max_docs": 10, "project": 10, "n_clusters": 10})
        from quanta.qdg.cluster import _check_power, _check_similarity, _check_solver

        _check_similarity(self.similarity)
        _check_power(self.affinity_power)
        _check_solver(self.eigen_solver)
        from quanta.qdg.grads import check_precondition

        check_precondition(self.precondition)
        if self.counts is not None:
            counts = tuple(self.counts)
            if not counts or any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in counts):
                raise QuantaError(f"counts: must be integers >= 2, got {self.counts!r}", "e.g. counts=10,20,50")
            object.__setattr__(self, "counts", counts)
        if self.params is not None:
            object.__setattr__(self, "params", tuple(self.params) if not isinstance(self.params, str)
                               else (self.params,))
        if self.rank_range is not None:
            rr = tuple(self.rank_range)
            if len(rr) != 2 or not all(isinstance(v, int) for v in rr) or not 1 <= rr[0] < rr[1]:
                raise QuantaError(f"rank_range: must be two integers 1 <= lo < hi, got {self.rank_range!r}",
                                  "e.g. rank_range=100,1000 (the paper)")
            object.__setattr__(self, "rank_range", rr)


def count_rule(n_clusters=None) -> str:
    """How :func:`choose_counts` picks the headline count, as summaries (and ``quanta falsify``) state it."""
    return "given (n_clusters)" if n_clusters is not None else "n_tokens/25, at most 400 (default; not data-driven)"


def choose_counts(n: int, counts=None, n_clusters=None) -> tuple[list[int], int]:
    """The sweep's counts and the headline count for ``n`` points (see :class:`QDGConfig`)."""
    from quanta.qdg.cluster import default_counts

    sweep = list(counts) if counts is not None else default_counts(n)
    k = n_clusters if n_clusters is not None else max(2, min(n - 1, 400, round(n / 25)))
    sweep = sorted({int(c) for c in sweep} | {int(k)})
    bad = [c for c in sweep if not 2 <= c < n]
    if bad:
        raise QuantaError(f"cluster counts {bad} are out of range 2..{n - 1} for {n} tokens",
                          "lower counts=... or n_clusters=..., or raise n_tokens=...")
    return sweep, int(k)


def analyze_gradients(run, G, *, counts, n_clusters, assign="cluster_qr", dense_max=20000, n_neighbors=30,
                      similarity="angular", affinity_power=1, rank_range=None, n_boot=200, seed=0, device=None,
                      title="", affinity=None, embedding=None, solver="auto"):
    """Similarity, the spectral sweep, its tables, figures and Zipf fits; returns (sweep, affinity, summary).

    Writes ``clusters``, ``sizes``, ``envelope`` and ``eigenvalues`` tables, the parts contract's ``parts`` and
    ``membership`` at ``n_clusters`` (:func:`quanta.parts.tables.write_partition_tables`) and the ``rank_frequency``,
    ``rank_frequency_k{n_clusters}`` and ``similarity_sorted`` figures into ``run``. ``affinity`` (the graph of
    ``G`` built with the same settings) and ``embedding`` (its ``(vectors, eigenvalues)`` with at least
    ``max(counts)`` columns) skip rebuilding them when the caller already has them. ``solver`` is the
    eigensolver (:func:`quanta.qdg.cluster.spectral_embedding`).
    """
    import numpy as np
    import pandas as pd
    import scipy.sparse

    from quanta.qdg import cluster as C

    A = affinity
    if A is None:
        with run.timer("similarity"):
            A = C.affinity_graph(G, dense_max=dense_max, n_neighbors=min(n_neighbors, len(G) - 1),
                                 similarity=similarity, device=device, power=affinity_power)
    with run.timer("spectral"):
        sweep = C.spectral_sweep(A, counts, assign=assign, seed=seed, device=device, embedding=embedding,
                                 solver=solver)
    clusters, sizes, eig = C.sweep_tables(sweep)
    run.write_table("clusters", clusters)
    run.write_table("sizes", sizes)
    run.write_table("eigenvalues", eig)
    from quanta.parts.tables import write_partition_tables

    write_partition_tables(run, sweep.labels[n_clusters], title=title)  # the parts contract at the headline count
    if rank_range is None:  # the envelope over the ranks of the chosen count's parts, as qdg parity and falsify
        rank_range = (1, max(int(n_clusters), 3))
    fits = C.zipf_fits(sweep, n_clusters, rank_range=rank_range, n_boot=n_boot, seed=seed)
    env = np.asarray(fits["envelope"])
    run.write_table("envelope", pd.DataFrame({"rank": np.arange(1, len(env) + 1, dtype=np.int32), "size": env}))
    fe, fm = fits["envelope_fit"], fits["mle_fit"]
    all_sizes = sweep.sizes()
    run.save_figure(C.plot_rank_frequency(all_sizes, env, fit=fe, title=f"{title}cluster sizes, {len(counts)} counts"),
                    "rank_frequency")
    run.save_figure(C.plot_rank_frequency({n_clusters: all_sizes[n_clusters]},
                                          title=f"{title}cluster sizes, k={n_clusters}"),
                    f"rank_frequency_k{n_clusters}")
    run.save_figure(C.plot_sorted_similarity(A, sweep.labels[n_clusters], seed=seed, similarity=similarity,
                                             title=f"{title}affinity sorted by cluster (k={n_clusters})"),
                    "similarity_sorted")
    summary = {
        "n_clusters": n_clusters,
        "counts": list(counts),
        "graph": "knn" if A.shape[0] > dense_max else "dense",
        "eigen_solver": None if embedding is not None else C.resolve_solver(
            solver, sparse=scipy.sparse.issparse(A), n=A.shape[0], device=device),
        "similarity": similarity,
        "affinity_power": affinity_power,
        "eigengap_n_clusters": C.eigengap_count(sweep.eigenvalues, k_max=max(counts)),
        # the bias-corrected MLE, the centre of its basic-bootstrap interval (as qdg parity and parts report it)
        "zipf_exponent": fm.exponent_corrected if fm else None,
        "zipf_exponent_ci": list(fm.exponent_ci) if fm else None,
        "zipf_exponent_raw": fm.exponent if fm else None,
        "zipf_bias": fm.bias if fm else None,
        "zipf_method": f"MLE of cluster sizes at k={n_clusters} (quanta.fit.fit_zipf_from_sizes)",
        "zipf_exponent_envelope": fe.exponent if fe else None,
        "zipf_exponent_envelope_ci": list(fe.exponent_ci) if fe else None,
        "envelope_rank_range": [fe.x_min, fe.x_max] if fe else None,
        # the ranks each exponent was fitted over, as the report shows them beside it
        "zipf_exponent_ranks": f"1\u2013{int(np.count_nonzero(all_sizes[n_clusters]))} (the parts at k={n_clusters})",
        "zipf_exponent_envelope_ranks": f"{fe.x_min}\u2013{fe.x_max}" if fe else None,
        "largest_cluster": int(all_sizes[n_clusters][0]),
    }
    return sweep, A, summary


def run_qdg_lm(cfg: QDGConfig, out, *, device=None, force: bool = False, argv=None, on_stage=None) -> dict:
    """QDG on a language model: select tokens, per-token gradients, spectral sweep, tables and figures.

    Writes into the run directory ``out``: ``tokens.parquet`` (token, doc, pos, token_id, token_str, loss),
    ``clusters.parquet`` (token, n_clusters, cluster), ``sizes.parquet``, ``envelope.parquet``,
    ``eigenvalues.parquet``, ``contexts.parquet`` (the most central ``n_contexts`` members of every cluster at every
    count, with ``context_before``, ``token``, ``context_after``), figures ``rank_frequency``,
    ``rank_frequency_k{K}``, ``similarity_sorted``, and ``summary.json``. Returns the summary. ``on_stage`` is
    called as each stage (losses, gradients, similarity, spectral) starts and ends (:class:`quanta.store.Stage`).
    """
    import numpy as np
    import pandas as pd

    from quanta.lm.corpus import load_corpus, tokenize_documents
    from quanta.lm.models import held_out_fraction, load_model
    from quanta.parts.tables import partition_contexts
    from quanta.qdg.cluster import member_centrality
    from quanta.qdg.grads import select_gradient_blocks, token_gradients
    from quanta.qdg.select import context_losses, select_tokens
    from quanta.store import Run
    from quanta.utils import device_description, resolve_device

    dev = resolve_device(device)
    # the Zipf fits' bootstraps over the largest count: given, or default_counts' top for n_tokens tokens
    from quanta.fit._shared import check_bootstrap_memory

    top = max(cfg.counts) if cfg.counts is not None else max(11, min(int(0.15 * cfg.n_tokens), 1500))
    check_bootstrap_memory(cfg.n_boot, max(top, cfg.n_clusters or 0), ("fit_zipf_from_sizes", "fit_rank_frequency"),
                           "qdg")
    # every random choice below takes cfg.seed explicitly (its own numpy or torch Generator): no global state
    # load and check the inputs before anything is written, so bad input leaves no run directory behind
    model, tok = load_model(cfg.model, revision=cfg.revision, device=dev, dtype="float32")
    from quanta.lm.losses import _check_positions, _model_positions

    _check_positions(str(cfg.model), _model_positions(model.config), cfg.context_length)
    test_fraction = held_out_fraction([cfg.model])  # a :test corpus splits as the model's suite was trained
    docs = load_corpus(cfg.corpus, max_docs=cfg.max_docs, test_fraction=test_fraction)
    windows = tokenize_documents(docs, tok, context_length=cfg.context_length, n_windows=1, min_tokens=3)
    if not windows:
        raise QuantaError(f"corpus {cfg.corpus!r} gave no document of at least 3 tokens",
                          "pass a corpus with longer documents")
    run = Run.create(out, command="qdg", config=asdict(cfg), seed=cfg.seed, device=device_description(dev),
                     force=force, argv=argv, inputs=[cfg.model], on_stage=on_stage)
    with run:
        contexts = [w.ids for w in windows]
        with run.timer("losses"):
            losses = context_losses(model, contexts, batch_size=cfg.batch_size, device=dev)
        n_pred = sum(len(c) - 1 for c in contexts)
        candidates = select_tokens(contexts, losses, threshold=cfg.threshold, drop_induction=cfg.drop_induction,
                                   n_tokens=None, doc_ids=[w.doc for w in windows])
        sel = select_tokens(contexts, losses, threshold=cfg.threshold, drop_induction=cfg.drop_induction,
                            n_tokens=cfg.n_tokens, seed=cfg.seed, doc_ids=[w.doc for w in windows])
        n = len(sel)
        if n < 10:
            raise QuantaError(f"only {n} tokens have loss below {cfg.threshold} nats", 
                              "give more text (max_docs=...), raise threshold=... or use a stronger model")
        counts, k_head = choose_counts(n, cfg.counts, cfg.n_clusters)
        blocks = select_gradient_blocks(model, cfg.params, include_bias=cfg.include_bias)
        D = sum(b.numel for b in blocks)
        project = cfg.project if cfg.project and cfg.project < D else None
        with run.timer("gradients"):
            G = token_gradients(model, contexts, sel[["context", "pos"]].to_numpy(), params=cfg.params,
                                include_bias=cfg.include_bias, project=project, seed=cfg.seed,
                                batch_size=cfg.batch_size, rounds_per_pass=cfg.rounds_per_pass, device=dev,
                                precondition=cfg.precondition)
        # text of every selected token, for the tables and the report
        def dec(ids):
            return tok.decode([int(i) for i in ids])

        before, text, after = [], [], []
        for c, p in zip(sel["context"].to_numpy(), sel["pos"].to_numpy()):
            ids = contexts[c]
            before.append(dec(ids[max(0, p - 48):p]))
            text.append(dec(ids[p:p + 1]))
            after.append(dec(ids[p + 1:p + 13]))
        tokens = pd.DataFrame({"token": np.arange(n, dtype=np.int64), "doc": sel["doc"].to_numpy(np.int64),
                               "pos": sel["pos"].to_numpy(np.int32), "token_id": sel["token_id"].to_numpy(np.int32),
                               "token_str": text, "loss": sel["loss"].to_numpy(np.float32)})
        run.write_table("tokens", tokens)
        sweep, A, head = analyze_gradients(run, G, counts=counts, n_clusters=k_head, assign=cfg.assign,
                                           dense_max=cfg.dense_max, n_neighbors=cfg.n_neighbors,
                                           similarity=cfg.similarity, affinity_power=cfg.affinity_power,
                                           rank_range=cfg.rank_range, n_boot=cfg.n_boot, seed=cfg.seed,
                                           device=dev, solver=cfg.eigen_solver)
        rows = []
        for k, lab in sweep.labels.items():
            cen = member_centrality(A, lab)
            order = np.lexsort((-cen, lab))
            sizes = np.bincount(lab)
            rank_in = np.empty(n, dtype=np.int64)
            start = 0
            for c in range(len(sizes)):
                rank_in[order[start:start + sizes[c]]] = np.arange(sizes[c])
                start += sizes[c]
            keep = np.nonzero(rank_in < cfg.n_contexts)[0]
            keep = keep[np.lexsort((rank_in[keep], lab[keep]))]
            rows.append(pd.concat([pd.DataFrame({
                "n_clusters": np.int32(k), "cluster": lab[keep].astype(np.int32),
                "cluster_size": sizes[lab[keep]].astype(np.int64), "member_rank": rank_in[keep].astype(np.int32),
                "token_index": keep.astype(np.int64), "doc": tokens["doc"].to_numpy()[keep],
                "pos": tokens["pos"].to_numpy()[keep], "token_id": tokens["token_id"].to_numpy()[keep],
                "context_before": [before[i] for i in keep], "token": [text[i] for i in keep],
                "context_after": [after[i] for i in keep], "loss": tokens["loss"].to_numpy()[keep],
                "centrality": cen[keep].astype(np.float32)}), partition_contexts(lab, keep, cen)], axis=1))
        run.write_table("contexts", pd.concat(rows, ignore_index=True))
        summary = {
            "model": cfg.model,
            "corpus": cfg.corpus,
            "corpus_test_fraction": test_fraction,
            "n_documents": len(windows),
            "n_predictions": int(n_pred),
            "n_candidates": int(len(candidates)),
            "n_tokens": int(n),
            "grad_dim": int(D),
            "project": project,
            "precondition": cfg.precondition,
            "cluster_count_rule": count_rule(cfg.n_clusters),
            **head,
            "timings_s": {k: round(v, 3) for k, v in run.manifest.get("timings_s", {}).items()},
        }
        return run.finish(summary)

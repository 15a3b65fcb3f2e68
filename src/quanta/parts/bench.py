"""``quanta parts bench``: every decomposition on planted worlds, scored against the quanta that were planted.

A *world* is a scaling analysis whose quanta are known: a ``quanta parity analyze`` run (the tasks of multitask
sparse parity, Zipf-distributed with the run's α) or a ``quanta lm analyze`` run of a suite on a ``planted:``
corpus (the skills of the planted-quanta language, :mod:`quanta.lm.planted`). For every world, method (``qdg``,
``sae``, ``acts``) and seed, the bench runs the method with its defaults on the world's largest model, exactly as
its command would (a parts run directory), runs the closing test against the world's own scaling law
(:func:`quanta.falsify.falsify`), and only then reads the planted truth to score the parts:

* **match**: ``f1`` is the best one-to-one matching F1 between the live parts and the planted quanta present
  among the method's samples (Hungarian matching on the F1 of every part and quantum; each quantum weighted by its
  share of the samples that belong to a quantum; an unmatched quantum scores 0). It applies to overlapping parts
  (SAE features) and to partitions alike, so all methods are ranked on it. For partitions (QDG, ``acts``) ``ari``
  is the adjusted Rand index against the truth, with samples of no quantum (the planted language's background
  words) as one more class. Each comes with its **permutation null**: the truth shuffled across the same samples
  (``n_perm`` times), so a score can be read against what a decomposition unrelated to the quanta gets;
* **exponent**: the exponent of the parts' use frequencies as the closing test reads it (its plausible head),
  against the planted α+1, and ``oracle_exponent``, the same reading of the planted quanta's own sizes among the
  method's samples (what a perfect decomposition of these samples would give);
* **verdict**: the closing test's verdict; every world is true, so ``consistent`` is right and ``inconsistent``
  is a false alarm;
* **seconds**: the method's wall time (its run directory's ``total``).

A method that cannot run on a world (a :class:`QuantaError` inside a unit, e.g. no token below QDG's loss
threshold on a weak model) is a result too: its unit is recorded with verdict ``error`` and the message, counted as
``n_failed``, and the bench goes on. Settings are checked for every world and method before anything runs.

Samples of an LM: QDG's rows are predicted tokens (its ``tokens`` table). An activation at token ``t`` (``sae``,
``acts``) is what the model uses to predict token ``t+1``, so it is scored against the skill of token ``t+1``;
the last token of a document has none.

The methods run with their own defaults (chosen where their docs say, never on the worlds of a bench record);
``options`` overrides them per method, for small tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.validation import MAX_SEED, Interval, Satisfies, validate_config

__all__ = ["METHODS", "BenchConfig", "BenchWorld", "bench_world", "match_scores", "unit_truth", "score_unit",
           "run_bench", "summarize_bench", "plot_bench", "bench_markdown"]

METHODS = ("qdg", "sae", "acts")


@dataclass(frozen=True)
class BenchConfig:
    """Settings of ``quanta parts bench``.

    Attributes
    ----------
    worlds : tuple of str
        Scaling runs with planted truth: ``quanta parity analyze`` runs, or ``quanta lm analyze`` runs of a suite
        on a ``planted:`` corpus.
    methods : tuple of str, default ("qdg", "sae", "acts")
    seeds : tuple of int, default (0, 1, 2)
        Seeds of every method (its sample draw, subsample or SAE initialisation); the spread across them is
        reported.
    max_docs : int, default 100
        LM worlds: documents of the analysis's corpus every method reads.
    layer : int, optional
        LM worlds: the residual-stream layer of ``sae`` and ``acts``; default the last one (the last block's
        output after the final norm).
    n_perm : int, default 20
        Permutations of the truth for the null of ``f1`` and ``ari``.
    options : dict, optional
        ``{method: {setting: value}}`` overriding a method's defaults (the fields of its config class:
        :class:`quanta.qdg.parity.ParityQDGConfig` / :class:`quanta.qdg.QDGConfig`,
        :class:`quanta.parts.run.SAEParityConfig` / ``SAEPartsConfig``, ``ActsParityConfig`` / ``ActsPartsConfig``).
    falsify_n_boot : int, default 500
        Bootstrap replicates of the closing test (:class:`quanta.falsify.FalsifyConfig`).
    """

    worlds: tuple = ()
    methods: tuple = METHODS
    seeds: tuple = (0, 1, 2)
    max_docs: int | None = 100
    layer: int | None = None
    n_perm: int = 20
    options: dict = field(default_factory=dict)
    falsify_n_boot: int = 500

    def __post_init__(self):
        from quanta.validation import is_int

        for name in ("worlds", "methods", "seeds"):
            v = getattr(self, name)
            object.__setattr__(self, name, (v,) if isinstance(v, (str, int)) else tuple(v))
        object.__setattr__(self, "worlds", tuple(str(w) for w in self.worlds))
        validate_config(self, {
            "worlds": [Satisfies(lambda v: len(v) > 0, "at least one scaling run")],
            "methods": [Satisfies(lambda v: len(v) > 0 and len(set(v)) == len(v) and set(v) <= set(METHODS),
                                  f"distinct names among {', '.join(METHODS)}")],
            "seeds": [Satisfies(lambda v: len(v) > 0 and len(set(v)) == len(v)
                                and all(is_int(s) and 0 <= s <= MAX_SEED for s in v),
                                f"distinct integers in [0, {MAX_SEED}]")],
            "max_docs": [Interval(int, 1, None), None],
            "layer": [Interval(int, 0, None), None],
            "n_perm": [Interval(int, 1, None)],
            "falsify_n_boot": [Interval(int, 2, None)],
            "options": [Satisfies(lambda v: isinstance(v, dict) and set(v) <= set(METHODS)
                                  and all(isinstance(o, dict) for o in v.values()),
                                  f"a dict of method ({', '.join(METHODS)}) -> dict of settings")],
        }, examples={"worlds": "('runs/analyze',)", "methods": "('qdg', 'sae')", "seeds": "(0, 1, 2)",
                     "options": "{'sae': {'n_steps': 300}}"})


# ------------------------------------------------------------------------------------------------------ worlds
@dataclass(frozen=True)
class BenchWorld:
    """A scaling run with planted truth, and what the methods run on (:func:`bench_world`)."""

    name: str
    scaling: str
    domain: str  # "parity" or "lm"
    planted_alpha: float
    parity_run: str | None = None
    model: str | None = None
    corpus: str | None = None
    context_length: int | None = None
    reads: tuple = ()  # every directory the world was read from (the run's inputs, which --out may not hold)

    @property
    def zipf_true(self) -> float:
        return self.planted_alpha + 1.0


def bench_world(scaling_dir, *, name: str | None = None) -> BenchWorld:
    """The world behind a scaling run: its domain, planted α, and the model and text the methods read.

    A parity analysis names its parity run (the methods decompose its widest model, as ``quanta qdg parity``); an
    LM analysis names its losses run, whose suite's largest model and corpus (a ``planted:`` spec) the methods
    read. Raises :class:`QuantaError` for a run without planted truth.
    """
    from quanta.store import Run

    run = Run.open(scaling_dir)
    name = name or Path(str(scaling_dir)).name
    if run.command == "parity analyze":
        s = run.summary
        src = s.get("run_dir")
        if not src or s.get("alpha") is None:
            raise QuantaError(f"{scaling_dir}: the parity analysis names no single planted alpha and parity run",
                              "analyze a parity run of one alpha (quanta parity run --set alphas=[A])")
        prun = Run.open(src, command="parity run")
        if prun.config.get("task_dist", "zipf") != "zipf":
            raise QuantaError(f"{src}: tasks are drawn {prun.config.get('task_dist')!r}, not from the Zipf law, so "
                              "no exponent was planted", "bench a run with task_dist=zipf")
        return BenchWorld(name=name, scaling=str(scaling_dir), domain="parity", planted_alpha=float(s["alpha"]),
                          parity_run=str(src), reads=(str(scaling_dir), str(src)))
    if run.command == "lm analyze":
        from quanta.lm.models import read_suite_manifest, resolve_suite
        from quanta.lm.planted import is_planted_spec, parse_planted_spec

        losses_dir = run.config.get("losses_dir")
        lrun = Run.open(losses_dir, command="lm losses") if losses_dir else None
        corpus = lrun.config.get("corpus") if lrun else None
        if not corpus or not is_planted_spec(str(corpus)):
            raise QuantaError(f"{scaling_dir}: its losses read {corpus!r}, which has no planted quanta to score "
                              "against", "bench an analysis of a suite on a planted: corpus (docs/planted.md)")
        ps, _ = parse_planted_spec(str(corpus))
        suite = [str(x) for x in lrun.config.get("suite") or []]
        refs = resolve_suite(suite)
        local = [r for r in refs if not r.hub]
        pool = local or refs
        sized = [r for r in pool if r.n_params_nonembed is not None]
        best = max(sized, key=lambda r: (r.n_params_nonembed, r.step)) if sized else pool[-1]
        ctx = lrun.config.get("context_length")
        if ctx is None:
            for item in suite:
                p = Path(item)
                if (p / "suite.json").is_file():
                    ctx = read_suite_manifest(p).get("context_length")
                    break
        reads = (str(scaling_dir), str(losses_dir), *(item for item in suite if Path(item).exists()),
                 *(str(r.path) for r in local))
        return BenchWorld(name=name, scaling=str(scaling_dir), domain="lm", planted_alpha=float(ps.alpha),
                          model=best.path, corpus=str(corpus), context_length=int(ctx) if ctx else None,
                          reads=reads)
    raise QuantaError(f"{scaling_dir} is a {run.command!r} run, but a bench world is a scaling analysis",
                      "pass the --out of `quanta parity analyze` or of `quanta lm analyze` on a planted corpus")


def _method_config(world: BenchWorld, method: str, seed: int, cfg: BenchConfig):
    """The config of ``method`` on ``world`` with ``seed``: the method's defaults, the world's model and text,
    and ``cfg.options[method]``."""
    from quanta.parts import run as R
    from quanta.qdg.parity import ParityQDGConfig
    from quanta.qdg.pipeline import QDGConfig

    opts = dict(cfg.options.get(method, {}))
    if world.domain == "parity":
        cls = {"qdg": ParityQDGConfig, "sae": R.SAEParityConfig, "acts": R.ActsParityConfig}[method]
        base = {"run_dir": world.parity_run, "seed": seed}
        if method == "qdg":
            base["null_control"] = False  # the bench's null is the permutation of the truth, the same for all
    else:
        cls = {"qdg": QDGConfig, "sae": R.SAEPartsConfig, "acts": R.ActsPartsConfig}[method]
        base = {"model": world.model, "corpus": world.corpus, "max_docs": cfg.max_docs, "seed": seed}
        if world.context_length:
            base["context_length"] = world.context_length
        if method != "qdg":
            base["layer"] = cfg.layer if cfg.layer is not None else _n_blocks(world.model)
            base["site"] = "resid"
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(opts) - names)
    if unknown:
        raise QuantaError(f"options for {method}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a "
                          f"setting of {cls.__name__}", f"use fields of {cls.__module__}.{cls.__name__}")
    clash = sorted(set(opts) & set(base) - {"layer", "site", "context_length", "null_control"})
    if clash:
        raise QuantaError(f"options for {method}: {', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set by "
                          "the bench", "drop it; the bench sets the world's model, text and the seeds")
    return cls(**{**base, **opts})


def _check_boots(worlds, cfg: BenchConfig) -> None:
    """Each method's settings on each world, and the bootstraps of its law and of the closing test, checked
    before the bench writes anything: a bad setting is bad input, never a unit's failure."""
    from quanta.fit._shared import check_bootstrap_memory

    fits = ("fit_zipf_from_sizes", "fit_rank_frequency", "power_law_check")
    for w in worlds:
        for m in cfg.methods:
            mcfg = _method_config(w, m, cfg.seeds[0], cfg)
            # parts are at most the latents (sae) or the samples clustered (qdg, acts)
            points = getattr(mcfg, "n_latents", None) or getattr(mcfg, "n_samples", None) or mcfg.n_tokens
            check_bootstrap_memory(mcfg.n_boot, points, fits, f"parts bench ({m})", flag=f"{m}.n_boot")
            check_bootstrap_memory(cfg.falsify_n_boot, points, fits, "parts bench", flag="falsify_n_boot")


def _n_blocks(model_path: str) -> int:
    """Number of transformer blocks of a saved model, from its config (no weights are loaded)."""
    from transformers import AutoConfig

    conf = AutoConfig.from_pretrained(model_path)
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if getattr(conf, key, None) is not None:
            return int(getattr(conf, key))
    raise QuantaError(f"{model_path}: its config names no number of layers", "pass layer=L (--layer)")


def _run_method(world: BenchWorld, method: str, mcfg, out: Path, device) -> dict:
    from quanta.parts import run as R
    from quanta.qdg.parity import run_qdg_parity
    from quanta.qdg.pipeline import run_qdg_lm

    fn = {("parity", "qdg"): run_qdg_parity, ("parity", "sae"): R.run_parts_sae_parity,
          ("parity", "acts"): R.run_parts_acts_parity, ("lm", "qdg"): run_qdg_lm,
          ("lm", "sae"): R.run_parts_sae_lm, ("lm", "acts"): R.run_parts_acts_lm}[(world.domain, method)]
    return fn(mcfg, out, device=device, force=out.exists())


# ------------------------------------------------------------------------------------------------------ scoring
def match_scores(membership: pd.DataFrame, n_samples: int, truth, *, live_parts=None, partition: bool = False,
                 n_perm: int = 20, seed: int = 0) -> dict:
    """How well parts match planted quanta, with a permutation null.

    Parameters
    ----------
    membership : DataFrame
        ``sample``, ``part`` (one row per firing), as a parts run's ``membership.parquet``.
    n_samples : int
    truth : array (n_samples,) of int
        The planted quantum of every sample; negative for a sample of no quantum.
    live_parts : iterable of int, optional
        The parts that count (default every part that fires).
    partition : bool
        Also compute ``ari`` (every sample must then be in exactly one part).
    n_perm : int
        Permutations of ``truth`` across the samples for the null.

    Returns
    -------
    dict
        ``f1`` (best one-to-one matching F1, quanta weighted by size), ``f1_unweighted`` (quanta weighted equally),
        ``f1_null`` and ``f1_null_q95`` (mean and 95th percentile over the permutations), ``f1_p`` (share of
        permutations at or above ``f1``, with the +1 correction), ``n_quanta`` (present among the samples),
        ``n_parts`` (live), ``n_matched`` (quanta matched with F1 > 0.5); with ``partition``: ``ari``,
        ``ari_null_q95``, ``ari_p``.
    """
    import scipy.sparse as sp
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score

    truth = np.asarray(truth, dtype=np.int64)
    if truth.shape != (n_samples,):
        raise QuantaError(f"truth has {truth.size} entries for {n_samples} samples", "pass one quantum per sample")
    mem = membership[["sample", "part"]]
    if live_parts is not None:
        mem = mem[mem["part"].isin(set(int(p) for p in live_parts))]
    parts = np.unique(mem["part"].to_numpy())
    if parts.size == 0 or not (truth >= 0).any():
        raise QuantaError("no live part fires, or no sample belongs to a planted quantum: nothing to match",
                          "check the parts run and its samples")
    col = np.searchsorted(parts, mem["part"].to_numpy())
    P = sp.csr_matrix((np.ones(len(mem)), (mem["sample"].to_numpy(), col)), shape=(n_samples, parts.size))
    size_p = np.asarray(P.sum(axis=0)).ravel()
    PT = P.T.tocsr()

    def f1_of(t):
        q = np.unique(t[t >= 0])
        rows = np.nonzero(t >= 0)[0]
        T = sp.csr_matrix((np.ones(rows.size), (rows, np.searchsorted(q, t[rows]))), shape=(n_samples, q.size))
        inter = (PT @ T).toarray()
        size_q = np.asarray(T.sum(axis=0)).ravel()
        F = 2 * inter / (size_p[:, None] + size_q[None, :])
        r, c = linear_sum_assignment(F, maximize=True)
        best = np.zeros(q.size)
        best[c] = F[r, c]
        w = size_q / size_q.sum()
        return float(np.sum(w * best)), float(best.mean()), int(q.size), int((best > 0.5).sum())

    f1, f1_u, n_q, n_matched = f1_of(truth)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(truth) for _ in range(n_perm)]
    null = np.array([f1_of(t)[0] for t in perms])
    out = {"f1": f1, "f1_unweighted": f1_u, "f1_null": float(null.mean()), "f1_null_q95": float(np.quantile(null, 0.95)),
           "f1_p": float((1 + np.sum(null >= f1)) / (n_perm + 1)), "n_quanta": n_q, "n_parts": int(parts.size),
           "n_matched": n_matched}
    if partition:
        if len(mem) != n_samples or mem["sample"].nunique() != n_samples:
            raise QuantaError("partition=True but the parts are not a partition of the samples",
                              "score overlapping parts with f1 only")
        labels = np.empty(n_samples, dtype=np.int64)
        labels[mem["sample"].to_numpy()] = mem["part"].to_numpy()
        t = np.where(truth >= 0, truth, -1)
        ari = float(adjusted_rand_score(t, labels))
        null_ari = np.array([adjusted_rand_score(p, labels) for p in perms])
        out.update({"ari": ari, "ari_null_q95": float(np.quantile(null_ari, 0.95)),
                    "ari_p": float((1 + np.sum(null_ari >= ari)) / (n_perm + 1))})
    return out


def unit_truth(parts_dir) -> tuple[np.ndarray, dict]:
    """The planted quantum of every sample of a parts run (``quanta qdg``, ``qdg parity`` or ``parts``), read
    after the fact: parity task ids from its ``samples`` table; planted skills of an LM's tokens regenerated from
    the corpus spec (:func:`quanta.lm.planted.document_token_skills`), background words as ``-1``.

    Returns ``(truth, info)`` with ``info``: ``domain``, ``n_samples``, ``partition`` (the method's parts are a
    partition) and ``shift`` (1 when rows are activations that predict the next token).
    """
    from quanta.store import Run

    run = Run.open(parts_dir)
    partition = run.command.startswith("qdg") or run.command == "parts acts"
    if run.summary.get("run_dir") is not None:  # parity
        samples = run.read_table("samples")
        return samples["task"].to_numpy(np.int64), {"domain": "parity", "n_samples": len(samples),
                                                    "partition": partition, "shift": 0}
    from quanta.lm.corpus import load_corpus
    from quanta.lm.models import load_tokenizer
    from quanta.lm.planted import _as_spec, document_token_skills, is_planted_spec

    cfg = run.config
    corpus = cfg.get("corpus")
    if not corpus or not is_planted_spec(str(corpus)):
        raise QuantaError(f"{parts_dir}: its corpus {corpus!r} has no planted quanta", "score runs on planted: text")
    is_qdg = run.command.startswith("qdg")
    rows = run.read_table("tokens" if is_qdg else "samples")
    shift = 0 if is_qdg else 1
    docs = load_corpus(corpus, max_docs=cfg.get("max_docs"),
                       test_fraction=float(run.summary.get("corpus_test_fraction", 0.1)))
    tok = load_tokenizer(cfg["model"], revision=cfg.get("revision"))
    doc = rows["doc"].to_numpy(np.int64)
    pos = rows["pos"].to_numpy(np.int64) + shift
    by_doc = {d.doc: d for d in docs}
    need = sorted(set(doc.tolist()))
    labels = document_token_skills([by_doc[d] for d in need], tok, _as_spec(str(corpus)))
    truth = np.full(len(rows), -1, dtype=np.int64)
    for d in need:
        _, skill, _ = labels[d]
        m = np.nonzero(doc == d)[0]
        ok = pos[m] < len(skill)
        truth[m[ok]] = skill[pos[m[ok]]]
    truth = np.where(truth > 0, truth, -1)  # skills are 1..K; background (and no next token) is -1
    return truth, {"domain": "lm", "n_samples": len(rows), "partition": partition, "shift": shift}


def score_unit(parts_dir, falsify_summary: dict, *, zipf_true: float, n_perm: int = 20, seed: int = 0,
               falsify_config=None) -> dict:
    """Score one parts run against the planted truth (:func:`unit_truth`, :func:`match_scores`), with its closing
    test's verdict and exponents.

    The planted quanta among the same samples are the reference, what a perfect decomposition of them would give:
    ``oracle_exponent`` is their sizes' exponent, and ``oracle_verdict`` the closing test's decision on them as
    parts (:func:`quanta.falsify.verdict_of_sizes`, the same head rule, fit and decision as the unit's own test,
    against the same α_N; None when that test had no α_N). The reference reads the labels, so it is a diagnostic
    of the world and the test, never a method: it says whether ``consistent`` was within reach on these samples.
    """
    from quanta.falsify import FalsifyConfig, verdict_of_sizes
    from quanta.plausibility import head_law
    from quanta.store import Run

    run = Run.open(parts_dir)
    truth, info = unit_truth(parts_dir)
    parts = run.read_table("parts")
    mem = run.read_table("membership")
    live = parts.loc[parts["live"], "part"].to_numpy()
    m = match_scores(mem, info["n_samples"], truth, live_parts=live, partition=info["partition"], n_perm=n_perm,
                     seed=seed)
    sizes = np.bincount(truth[truth >= 0])
    sizes = np.sort(sizes[sizes > 0])[::-1]
    oracle = head_law(sizes, n_boot=200, seed=seed) if sizes.size >= 2 else {"exponent": math.nan}
    f = falsify_summary
    ref = {"verdict": None, "zipf_measured": None, "power_law_plausible": None}
    if sizes.size >= 2 and f.get("alpha_N") is not None and f.get("alpha_N_se") is not None:
        fcfg = falsify_config or FalsifyConfig(seed=seed)
        ref = verdict_of_sizes(sizes, float(f["alpha_N"]), float(f["alpha_N_se"]), fcfg)
    measured = f.get("zipf_measured")
    return {
        **m,
        "n_samples": info["n_samples"],
        "share_in_quanta": float((truth >= 0).mean()),
        "exponent": measured,
        "exponent_ci": f.get("zipf_measured_ci"),
        "exponent_error": (measured - zipf_true) if measured is not None else None,
        "exponent_all_ranks": run.summary.get("zipf_exponent"),
        "oracle_exponent": float(oracle["exponent"]),
        "oracle_verdict": ref["verdict"],
        "oracle_test_exponent": ref.get("zipf_measured"),
        "oracle_plausible": ref.get("power_law_plausible"),
        "zipf_pred": f.get("zipf_pred"),
        "zipf_pred_ci": f.get("zipf_pred_ci"),
        "verdict": f.get("verdict"),
        "p_value": f.get("p_value"),
        "seconds": float(run.manifest.get("timings_s", {}).get("total", math.nan)),
    }


# ------------------------------------------------------------------------------------------------------ the run
def run_bench(cfg: BenchConfig, out, *, device=None, force: bool = False, resume: bool = False,
              argv: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """Run the bench (:class:`BenchConfig`) into the run directory ``out``.

    Writes ``units/<world>/<method>-s<seed>/parts`` (the method's run directory) and ``.../falsify`` (the closing
    test), ``scores.parquet`` (one row per world, method and seed), ``methods.parquet`` (one row per method:
    means, spreads and verdict rates), figure ``bench.png`` and ``summary.json``
    (:func:`summarize_bench`). A killed bench resumes (``resume``) from its finished units.
    """
    from quanta.falsify import FalsifyConfig, falsify
    from quanta.progress import progress
    from quanta.store import Run, atomic_write_json
    from quanta.utils import device_description, resolve_device

    if force and resume:
        raise QuantaError("resume=True and force=True contradict each other", "pass one of them")
    worlds = _worlds(cfg)
    _check_boots(worlds, cfg)  # every method's settings are checked before anything is written
    dev = resolve_device(device)
    out = Path(out)
    config = json.loads(json.dumps(asdict(cfg), default=str))
    fcfg = FalsifyConfig(n_boot=cfg.falsify_n_boot)
    with Run.create(out, command="parts bench", config=config, seed=int(cfg.seeds[0]), argv=argv, force=force,
                    resume=resume, device=device_description(dev),
                    inputs=[*cfg.worlds, *(p for w in worlds for p in (*w.reads, w.model))]) as run:
        rows = []
        units = [(w, m, s) for w in worlds for m in cfg.methods for s in cfg.seeds]
        with progress(total=len(units), desc="parts bench", unit="unit") as bar:
            for w, m, s in units:
                udir = out / "units" / w.name / f"{m}-s{s}"
                done = udir / "score.json"
                if done.exists():
                    rows.append(json.loads(done.read_text()))
                    bar.update(1)
                    continue
                t0 = time.perf_counter()
                with run.timer(f"{w.name} {m}"):
                    try:
                        if not _complete(udir / "parts"):
                            _run_method(w, m, _method_config(w, m, s, cfg), udir / "parts", dev)
                        fs, _ = falsify(w.scaling, udir / "parts", udir / "falsify",
                                        dataclasses.replace(fcfg, seed=int(s)), force=(udir / "falsify").exists())
                        score = score_unit(udir / "parts", fs, zipf_true=w.zipf_true, n_perm=cfg.n_perm,
                                           seed=int(s), falsify_config=dataclasses.replace(fcfg, seed=int(s)))
                    except QuantaError as exc:  # the method cannot run on this world: a result, recorded as such
                        score = {"verdict": "error", "error": " ".join(str(exc).split())[:500]}
                row = {"world": w.name, "domain": w.domain, "planted_alpha": w.planted_alpha,
                       "zipf_true": w.zipf_true, "method": m, "seed": int(s), **score,
                       "unit_seconds": round(time.perf_counter() - t0, 2),
                       "parts_dir": str(udir / "parts"), "falsify_dir": str(udir / "falsify")}
                atomic_write_json(done, row)
                rows.append(json.loads(done.read_text()))
                bar.update(1)
        scores = pd.DataFrame(rows)
        if (scores["verdict"] == "error").all():
            raise QuantaError(f"every unit of the bench failed; the first: {scores['error'].iloc[0]}",
                              "check the worlds and the methods' settings (--set METHOD.KEY=VALUE)")
        if "error" not in scores:
            scores["error"] = None
        for c in ("exponent_ci", "zipf_pred_ci"):
            if c not in scores:
                scores[c] = None
            scores[c] = scores[c].map(lambda v: json.dumps(v))
        run.write_table("scores", scores)
        summary, methods = summarize_bench(scores, seed=int(cfg.seeds[0]))
        summary["worlds"] = [asdict(w) for w in worlds]
        run.write_table("methods", methods)
        run.save_figure(plot_bench(scores, summary), "bench")
        return run.finish(summary), scores


def _complete(path: Path) -> bool:
    m = path / "manifest.json"
    return m.exists() and json.loads(m.read_text()).get("status") == "complete"


def _worlds(cfg: BenchConfig) -> list[BenchWorld]:
    """The worlds, named by what they are (``parity-a0.25``, ``planted-a0.3-s2``); a repeated name gets ``-2``..."""
    worlds, seen = [], {}
    for path in cfg.worlds:
        w = bench_world(path)
        if w.domain == "parity":
            name = f"parity-a{w.planted_alpha:g}"
        else:
            from quanta.lm.planted import parse_planted_spec

            name = f"planted-a{w.planted_alpha:g}-s{parse_planted_spec(w.corpus)[0].seed}"
        seen[name] = seen.get(name, 0) + 1
        worlds.append(dataclasses.replace(w, name=name if seen[name] == 1 else f"{name}-{seen[name]}"))
    return worlds


# ------------------------------------------------------------------------------------------------------ summary
def _mean_sd(x) -> tuple[float | None, float | None]:
    x = np.asarray([v for v in x if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return None, None
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None)


def _reference_counts(g: pd.DataFrame) -> dict:
    """How the closing test decides on the planted quanta of the same samples as parts (``oracle_verdict``): the
    reference for the method's own verdicts (None for scores written before the reference existed)."""
    if "oracle_verdict" not in g:
        return {"n_oracle_consistent": None, "n_oracle_inconsistent": None, "n_oracle_not_power_law": None}
    v = g["oracle_verdict"]
    return {"n_oracle_consistent": int((v == "consistent").sum()),
            "n_oracle_inconsistent": int((v == "inconsistent").sum()),
            "n_oracle_not_power_law": int((v == "not a power law").sum())}


def summarize_bench(scores: pd.DataFrame, *, ci: float = 0.9, n_boot: int = 2000, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Per-method means and spreads, verdict rates with Wilson intervals, and the two rankings.

    Each ranking (by ``f1``, higher is better; by ``|exponent_error|``, lower is better) names the best method and
    its lead over the runner-up: the mean over the units both ran (same world and seed) of the paired difference,
    with a bootstrap interval over those units at level ``ci``.
    """
    from quanta.calibrate.rates import wilson

    rows = []
    for m, g in scores.groupby("method", sort=False):
        err = g["exponent_error"].astype(float)
        n = len(g)
        n_cons = int((g["verdict"] == "consistent").sum())
        n_inc = int((g["verdict"] == "inconsistent").sum())
        f1, f1_sd = _mean_sd(g["f1"])
        f1n, _ = _mean_sd(g["f1_null"])
        ari, ari_sd = _mean_sd(g["ari"]) if "ari" in g else (None, None)
        ae, ae_sd = _mean_sd(err.abs())
        bias, _ = _mean_sd(err)
        rows.append({"method": m, "n_units": n, "n_failed": int((g["verdict"] == "error").sum()), "f1": f1, "f1_sd": f1_sd, "f1_null": f1n,
                     "f1_above_null_q95": int((g["f1"] > g["f1_null_q95"]).sum()),
                     "f1_unweighted": _mean_sd(g["f1_unweighted"])[0],
                     "n_matched": float(g["n_matched"].mean()), "n_quanta": float(g["n_quanta"].mean()),
                     "ari": ari, "ari_sd": ari_sd, "abs_exponent_error": ae, "abs_exponent_error_sd": ae_sd,
                     "exponent_bias": bias, "n_within_0.1": int((err.abs() <= 0.1).sum()),
                     "n_consistent": n_cons, "consistent_lo": wilson(n_cons, n)[0], "consistent_hi": wilson(n_cons, n)[1],
                     "n_inconsistent": n_inc, "inconsistent_lo": wilson(n_inc, n)[0],
                     "inconsistent_hi": wilson(n_inc, n)[1],
                     "n_not_power_law": int((g["verdict"] == "not a power law").sum()),
                     **_reference_counts(g),
                     "seconds_median": float(g["seconds"].median())})
    methods = pd.DataFrame(rows)
    summary = {"n_units": int(len(scores)), "methods": methods.to_dict(orient="records"),
               "ranking_f1": _ranking(scores, "f1", higher=True, ci=ci, n_boot=n_boot, seed=seed),
               "ranking_exponent": _ranking(scores.assign(abs_err=scores["exponent_error"].astype(float).abs()),
                                            "abs_err", higher=False, ci=ci, n_boot=n_boot, seed=seed),
               "ci_level": ci}
    by_world = []
    for (w, m), g in scores.groupby(["world", "method"], sort=False):
        f1, f1_sd = _mean_sd(g["f1"])
        e, e_sd = _mean_sd(g["exponent"].astype(float))
        by_world.append({"world": w, "domain": g["domain"].iloc[0], "zipf_true": float(g["zipf_true"].iloc[0]),
                         "method": m, "n": int(len(g)), "f1": f1, "f1_sd": f1_sd,
                         "f1_null": _mean_sd(g["f1_null"])[0],
                         "ari": _mean_sd(g["ari"])[0] if "ari" in g else None,
                         "exponent": e, "exponent_sd": e_sd, "oracle_exponent": _mean_sd(g["oracle_exponent"])[0],
                         "zipf_pred": (_mean_sd(g["zipf_pred"].astype(float))[0] if "zipf_pred" in g else None),
                         "verdicts": {str(k): int(v) for k, v in g["verdict"].value_counts().items()},
                         "oracle_verdicts": ({str(k): int(v) for k, v in g["oracle_verdict"].value_counts().items()}
                                             if "oracle_verdict" in g else None)})
    summary["by_world"] = by_world
    return summary, methods


def _ranking(scores: pd.DataFrame, col: str, *, higher: bool, ci: float, n_boot: int, seed: int) -> dict | None:
    """The methods ordered by their mean ``col`` over the units (world, seed) that every method scored: a unit where
    one method failed is left out of every mean, so that no method is ranked on easier units than another
    (``failed_units`` counts, per method, the units it failed that others scored)."""
    wide = scores.pivot_table(index=["world", "seed"], columns="method", values=col, aggfunc="first", dropna=False)
    wide = wide.loc[:, wide.notna().any()]
    if wide.shape[1] == 0:
        return None
    complete = wide.dropna()
    failed = {str(m): int(wide[m].isna().sum()) for m in wide.columns if wide[m].isna().any()}
    if complete.empty:
        return {"by": col, "order": [], "means": {}, "best": None, "n_units_ranked": 0, "failed_units": failed}
    means = complete.mean()
    order = means.sort_values(ascending=not higher).index.tolist()
    out = {"by": col, "order": order, "means": {m: float(means[m]) for m in order}, "best": order[0],
           "n_units_ranked": int(len(complete)), "failed_units": failed}
    if len(order) < 2:
        return out
    a, b = order[0], order[1]
    d = (complete[a] - complete[b]).to_numpy() * (1 if higher else -1)
    if d.size == 0:
        return out
    rng = np.random.default_rng(seed)
    boots = rng.choice(d, size=(n_boot, d.size), replace=True).mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - ci) / 2, (1 + ci) / 2])
    out.update({"runner_up": b, "lead": float(d.mean()), "lead_ci": [float(lo), float(hi)], "n_paired": int(d.size),
                "lead_definition": (f"mean over paired units of {a} - {b}" if higher else
                                    f"mean over paired units of {b} - {a}") + f" ({col})"})
    return out


# ------------------------------------------------------------------------------------------------------ figure
def plot_bench(scores: pd.DataFrame, summary: dict | None = None):
    """Three panels: match F1 per method (each unit a point, coloured by world; the permutation null as open
    marks), the parts' exponent against the planted α+1 (the diagonal is a perfect decomposition; a bar marks each
    world's α_N + 1, what the closing test compares with), and wall time."""
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(scores["method"]))
    worlds = list(dict.fromkeys(scores["world"]))
    cmap = {w: f"C{i % 10}" for i, w in enumerate(worlds)}
    fig = Figure(figsize=(13, 5.0), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for i, m in enumerate(methods):
        g = scores[scores["method"] == m]
        for j, w in enumerate(worlds):
            h = g[g["world"] == w]
            x = i + (j - (len(worlds) - 1) / 2) * 0.12
            ax1.scatter(np.full(len(h), x), h["f1"], color=cmap[w], s=22, label=w if i == 0 else None, zorder=3)
            ax1.scatter(np.full(len(h), x), h["f1_null"], facecolors="none", edgecolors=cmap[w], s=22, zorder=2)
    ax1.set_xticks(range(len(methods)), methods)
    ax1.set_ylabel("match F1 with the planted quanta")
    ax1.set_ylim(0, 1)
    ax1.set_title("Parts against planted quanta\n(filled: method; open: permutation null)", fontsize=10)
    ax1.legend(fontsize=7, title="world", title_fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1),
               ncol=min(3, len(worlds)), frameon=False)
    markers = dict(zip(methods, "osD^v"))
    pred = (scores.groupby("world", sort=False)[["zipf_true", "zipf_pred"]].mean().dropna()
            if "zipf_pred" in scores else pd.DataFrame(columns=["zipf_true", "zipf_pred"]))
    ys = np.r_[scores["exponent"].astype(float), scores["oracle_exponent"].astype(float),
               pred["zipf_pred"].astype(float)]
    lo = min(scores["zipf_true"].min(), np.nanmin(ys)) - 0.1
    hi = max(scores["zipf_true"].max(), np.nanmax(ys)) + 0.1
    for m in methods:
        g = scores[scores["method"] == m]
        jitter = (methods.index(m) - (len(methods) - 1) / 2) * 0.01
        ax2.scatter(g["zipf_true"] + jitter, g["exponent"].astype(float), marker=markers[m], s=26, label=m,
                    facecolors="none", edgecolors=f"C{methods.index(m)}")
        ax2.scatter(g["zipf_true"] + jitter, g["oracle_exponent"].astype(float), marker="x", s=14, color="0.45",
                    label="planted quanta of the same samples" if m == methods[0] else None)
    if len(pred):  # what the closing test compares with: the world's alpha_N + 1
        ax2.scatter(pred["zipf_true"], pred["zipf_pred"].astype(float), marker="_", s=260, color="k", lw=1.5,
                    label="α_N + 1 (the test's prediction)", zorder=4)
    ax2.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", label="exponent = α+1")
    ax2.set_xlabel("planted α+1")
    ax2.set_ylabel("exponent of the parts' use frequencies")
    ax2.set_title("Exponent read by the closing test", fontsize=10)
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    for i, m in enumerate(methods):
        g = scores[scores["method"] == m]
        ax3.scatter(np.full(len(g), i), g["seconds"], color=f"C{i}", s=18)
    ax3.set_xticks(range(len(methods)), methods)
    ax3.set_yscale("log")
    ax3.set_ylabel("wall seconds per run")
    ax3.set_title("Cost", fontsize=10)
    return fig


def _ref(r: dict, n: int) -> str:
    if r.get("n_oracle_consistent") is None:
        return "–"
    return f"{r['n_oracle_consistent']} / {r['n_oracle_inconsistent']} / {r['n_oracle_not_power_law']} of {n}"


def _share(k: int, n: int) -> str:
    """``k/n [lo, hi]``: a count of units with its 95% Wilson interval."""
    from quanta.calibrate.rates import wilson

    lo, hi = wilson(int(k), int(n))
    return f"{int(k)}/{n} [{lo:.0%}, {hi:.0%}]"


def bench_markdown(summary: dict) -> str:
    """The per-method table and the rankings, as Markdown (docs/parts.md renders a recorded bench with it)."""
    def f(v, d=3):
        return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{d}f}"

    lines = ["| method | units | match F1 (mean ± sd) | F1 of the null | F1 above the null's 95% | quanta matched "
             "(F1 > 0.5) of present | ARI (partitions) | \\|exponent − (α+1)\\| | bias | within 0.1 | consistent "
             "| inconsistent | not a power law | truth as parts: consistent / inconsistent / not a power law "
             "| seconds (median) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["methods"]:
        n = r["n_units"]
        failed = f" ({r['n_failed']} failed)" if r.get("n_failed") else ""
        lines.append(
            f"| {r['method']} | {n}{failed} | {f(r['f1'])} ± {f(r['f1_sd'])} | {f(r['f1_null'])} "
            f"| {r['f1_above_null_q95']}/{n} | {f(r['n_matched'], 1)} of {f(r['n_quanta'], 1)} | {f(r['ari'])} | {f(r['abs_exponent_error'])} ± {f(r['abs_exponent_error_sd'])} "
            f"| {f(r['exponent_bias'], 2)} | {_share(r['n_within_0.1'], n)} "
            f"| {r['n_consistent']}/{n} [{r['consistent_lo']:.0%}, {r['consistent_hi']:.0%}] "
            f"| {r['n_inconsistent']}/{n} [{r['inconsistent_lo']:.0%}, {r['inconsistent_hi']:.0%}] "
            f"| {_share(r['n_not_power_law'], n)} | {_ref(r, n)} | {f(r['seconds_median'], 1)} |")
    out = "\n".join(lines) + "\n"
    for key, what in (("ranking_f1", "match F1"), ("ranking_exponent", "exponent error")):
        r = summary.get(key)
        if not r:
            continue
        if not r.get("order"):
            continue
        text = f"\nBy {what}: " + " > ".join(r["order"])
        if r.get("runner_up"):
            text += (f"; {r['best']} leads {r['runner_up']} by {f(r['lead'])} "
                     f"[{f(r['lead_ci'][0])}, {f(r['lead_ci'][1])}] ({summary['ci_level']:.0%} bootstrap over "
                     f"{r['n_paired']} paired units).")
        out += text + "\n"
    return out

"""Score a ``quanta qdg`` run on a planted corpus against the planted skills, after the decomposition.

Separate from :mod:`quanta.lm.planted` because it reads the corpus (:func:`quanta.lm.corpus.load_corpus`), which
itself reads planted specs.
"""

from __future__ import annotations

import numpy as np

from quanta.errors import QuantaError
from quanta.lm.planted import KINDS, PlantedSpec, _as_spec, is_planted_spec, row_skills, skill_table

__all__ = ["score_against_planted"]


def score_against_planted(run_dir, *, spec=None, tokenizer=None, n_boot: int = 200, seed: int = 0) -> dict:
    """Score a finished ``quanta qdg`` run on a planted corpus against the planted skills (after the fact).

    The decomposition never saw a label; this reads its ``tokens`` (doc, pos) and ``clusters`` tables,
    regenerates the planted skill of every selected token (:func:`row_skills`) and compares.

    Parameters
    ----------
    run_dir : path
        A ``quanta qdg`` run whose corpus is a ``planted:...`` spec.
    spec : str or PlantedSpec, optional
        Default: the run's corpus.
    tokenizer : optional
        Default: the run's model's tokenizer.
    n_boot : int, default 200
        Bootstrap replicates of the oracle exponent (the planted labels' own Zipf fit).
    seed : int, default 0

    Returns
    -------
    dict
        ``ari`` (ARI of QDG's labels at the headline count against the planted skills, background tokens as
        one more class), ``ari_skill_tokens`` (the same on tokens of a skill only), ``ari_by_count``
        (count -> ARI), ``ari_kind`` (ARI at the headline count against the planted *kind*, background as one
        more class: a decomposition by mechanism rather than by skill scores high here), ``n_tokens``,
        ``background_share`` (selected tokens of no skill), ``background_top`` (their five most common token
        strings and counts), ``n_skills_selected``
        (distinct skills among them), ``planted_exponent`` (α+1), ``parts_exponent`` and its CI (QDG's MLE at
        the headline count), ``parts_exponent_envelope``, ``oracle_exponent`` and its CI (the same MLE on the
        sizes of the true skills among the selected tokens: what a perfect decomposition of this sample gives).
    """
    from sklearn.metrics import adjusted_rand_score

    from quanta.fit import fit_zipf_from_sizes
    from quanta.lm.corpus import load_corpus
    from quanta.store import Run

    run = Run.open(run_dir, command="qdg")
    cfg = run.config
    corpus = cfg.get("corpus", "")
    spec_s = spec if spec is not None else corpus
    if not isinstance(spec_s, PlantedSpec) and not is_planted_spec(spec_s):
        raise QuantaError(f"{run_dir}: the run's corpus {corpus!r} is not a planted spec",
                          "score_against_planted needs a quanta qdg run on --corpus planted:...")
    ps = _as_spec(spec_s)
    if tokenizer is None:
        from quanta.lm.models import load_tokenizer

        tokenizer = load_tokenizer(cfg["model"], revision=cfg.get("revision"))
    docs = load_corpus(corpus, max_docs=cfg.get("max_docs"),
                       test_fraction=float(run.summary.get("corpus_test_fraction", 0.1)))
    tokens = run.read_table("tokens")
    truth = row_skills(tokens, docs, tokenizer, ps, context_length=None)
    clusters = run.read_table("clusters")
    summary = run.summary
    k_head = int(summary["n_clusters"])
    aris = {}
    ari_skill = ari_kind = None
    is_skill = truth > 0
    kind_of = np.asarray([-1] + [KINDS.index(k) for k in skill_table(ps)["kind"]])
    for k, grp in clusters.groupby("n_clusters"):
        lab = grp.sort_values("token")["cluster"].to_numpy()
        if len(lab) != len(truth):
            raise QuantaError(f"{run_dir}: clusters at count {k} label {len(lab)} tokens, tokens has {len(truth)}",
                              "pass a complete quanta qdg run")
        aris[int(k)] = float(adjusted_rand_score(truth, lab))
        if int(k) == k_head:
            ari_kind = float(adjusted_rand_score(kind_of[np.maximum(truth, 0)], lab))
            if is_skill.sum() >= 2:
                ari_skill = float(adjusted_rand_score(truth[is_skill], lab[is_skill]))
    sizes = np.bincount(truth[is_skill])[1:]
    sizes = sizes[sizes > 0]
    oracle = None
    if sizes.size >= 2:
        try:
            oracle = fit_zipf_from_sizes(sizes, n_boot=n_boot, seed=seed)
        except QuantaError:
            oracle = None
    background_top = {}
    if "token_str" in tokens:
        counts = tokens.loc[~is_skill, "token_str"].value_counts().head(5)
        background_top = {str(k): int(v) for k, v in counts.items()}
    return {
        "corpus": corpus,
        "n_tokens": int(len(truth)),
        "background_share": float((~is_skill).mean()) if len(truth) else None,
        "background_top": background_top,
        "n_skills_planted": ps.skills,
        "n_skills_selected": int(sizes.size),
        "n_clusters": k_head,
        "ari": aris.get(k_head),
        "ari_skill_tokens": ari_skill,
        "ari_kind": ari_kind,
        "ari_by_count": aris,
        "planted_exponent": ps.alpha + 1.0,
        "parts_exponent": summary.get("zipf_exponent"),
        "parts_exponent_ci": summary.get("zipf_exponent_ci"),
        "parts_exponent_envelope": summary.get("zipf_exponent_envelope"),
        "oracle_exponent": oracle.exponent if oracle else None,
        "oracle_exponent_ci": list(oracle.exponent_ci) if oracle and oracle.exponent_ci else None,
    }

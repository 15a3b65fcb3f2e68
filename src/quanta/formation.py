"""Watching parts form: are a part's tokens learned together, and are parts learned in order of frequency?

The quantization model (docs/science.md §2) makes two predictions about training dynamics that the parts of a
decomposition can be held against, independently of the exponent test of :mod:`quanta.falsify`:

1. **Learned together.** A quantum is one piece of knowledge, so the tokens that use it drop their loss at about the
   same moment. If a decomposition's parts are quanta, the learning steps of a part's members are closer to each
   other than those of tokens drawn at random from all parts.
2. **Learned in order of frequency.** Training reduces the loss of frequent quanta first (its gradient signal is
   larger), so parts that are used more often are learned earlier: the Spearman correlation between a part's
   frequency ``f_i`` and the median learning step of its members is negative.

Every token's learning step comes from the per-token sigmoid fits of ``quanta lm analyze`` over checkpoints of one
model (``mode: dynamics``, column ``learning_step`` of its ``tokens.parquet``); a suite of sizes gives learning
sizes instead (``learning_size``), and the same two predictions hold in model size. Tokens whose loss did not drop
within the checkpoints (no finite step) carry no information about either and are left out; the summary says how
many.

**The null** (the same for both tests). The learning steps are permuted across the tested tokens while each part
keeps its number of members and its frequency: a decomposition whose parts have nothing to do with when tokens are
learned. Both statistics are recomputed on every permutation; a p-value is the share of permutations at least as
extreme as the data (one-sided, in the predicted direction), with the +1 of an exact permutation test.

The statistics, on the log10 of the step (learning is spread over decades):

* ``spread``: the mean absolute deviation of a member's log10 step from its part's median, over all tested
  members (so large parts weigh by their size). Prediction: below the null's.
* ``rho``: Spearman's rank correlation between ``f_i`` and the part's median log10 step, over the tested parts.
  Prediction: below the null's (negative).

**A stricter null** (when both tables carry token ids). Tokens of the same type (token id) are often learned at
the same moment and often fall into the same part, so a decomposition that only sorts token types would pass the
first null. The second null shuffles steps only among tokens of the same id; passing it says that a part groups
tokens by more than their type. Both are reported; neither is a default to tune.

A part is tested when it has at least ``min_learned`` members with a finite step. The frequency ``f_i`` is the
part's share of all decomposed tokens, learned or not (the quantity the Zipf law is about).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.validation import Interval, seed_range, validate_params

__all__ = ["FormationResult", "part_formation", "plot_formation", "formation_inputs", "run_formation",
           "formation_answers"]


@dataclass(frozen=True)
class FormationResult:
    """The answer of :func:`part_formation`.

    Attributes
    ----------
    parts : DataFrame
        One row per part: ``part``, ``n_members``, ``frequency``, ``n_learned``, ``tested`` (bool),
        ``median_log10_step``, ``spread`` (mean absolute deviation of its members' log10 steps from the median).
    null : DataFrame
        One row per permutation: ``perm``, ``spread``, ``rho``.
    spread, spread_null_median, spread_ratio, spread_p : float
        The observed pooled spread, the null's median, their ratio (below 1 when parts learn together) and the
        one-sided permutation p-value (share of permutations with a spread at most the observed one).
    rho, rho_null_median, rho_p : float
        Spearman ρ(f_i, median log10 step) over tested parts, the null's median, and the one-sided p-value (share of
        permutations with ρ at most the observed one). NaN when fewer than 3 parts are tested.
    spread_p_token, rho_p_token, spread_ratio_token : float
        The same two tests against the stricter null that shuffles steps only among tokens of the same token id
        (NaN without token ids): is a part more than a set of token types learned at their own moments?
    n_tokens, n_matched, n_learned, n_parts, n_parts_tested, n_perm, min_learned, seed : int
        Decomposed tokens, those found in the learning table, those with a finite step, parts, tested parts, and
        the settings.
    x_name : str
        ``learning_step`` (checkpoints of one model) or ``learning_size`` (a suite of sizes).
    """

    parts: pd.DataFrame
    null: pd.DataFrame
    spread: float
    spread_null_median: float
    spread_ratio: float
    spread_p: float
    rho: float
    rho_null_median: float
    rho_p: float
    spread_ratio_token: float
    spread_p_token: float
    rho_p_token: float
    n_tokens: int
    n_matched: int
    n_learned: int
    n_parts: int
    n_parts_tested: int
    n_perm: int
    min_learned: int
    seed: int
    x_name: str

    def summary(self) -> dict:
        """The headline figures as a flat, JSON-ready dict (no tables)."""
        keys = ("spread", "spread_null_median", "spread_ratio", "spread_p", "rho", "rho_null_median", "rho_p",
                "spread_ratio_token", "spread_p_token", "rho_p_token",
                "n_tokens", "n_matched", "n_learned", "n_parts", "n_parts_tested", "n_perm", "min_learned", "seed",
                "x_name")
        out = {}
        for k in keys:
            v = getattr(self, k)
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out


def _pooled_spread(y: np.ndarray, codes: np.ndarray, n_parts: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean |y - median of its part| over all tokens, and the per-part medians and spreads (every part non-empty).

    Vectorised: one sort by (part, y) per call, medians by index, spreads by ``reduceat``.
    """
    order = np.lexsort((y, codes))
    ys, cs = y[order], codes[order]
    starts = np.searchsorted(cs, np.arange(n_parts))
    sizes = np.diff(np.append(starts, len(ys)))
    lo = ys[starts + (sizes - 1) // 2]
    hi = ys[starts + sizes // 2]
    med = 0.5 * (lo + hi)
    dev = np.abs(ys - med[cs])
    spr = np.add.reduceat(dev, starts) / sizes
    return float(dev.sum() / len(ys)), med, spr


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import rankdata

    if len(a) < 3:
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return math.nan
    return float(np.mean((ra - ra.mean()) * (rb - rb.mean())) / (sa * sb))


_CONSTRAINTS = {"n_perm": [Interval(int, 99, 10 ** 7)], "min_learned": [Interval(int, 2, None)],
                "seed": [seed_range()]}


def part_formation(members: pd.DataFrame, learning: pd.DataFrame, *, n_perm: int = 999, min_learned: int = 3,
                   seed: int = 0) -> FormationResult:
    """Test whether parts are learned together and in order of frequency, against a permutation null.

    Parameters
    ----------
    members : DataFrame
        One row per decomposed token: ``doc``, ``pos``, ``part``, and optionally ``token_id`` (checked against the
        learning table's) and ``weight`` (for overlapping parts, each token is given to its part of largest weight).
    learning : DataFrame
        ``doc``, ``pos``, and ``learning_step`` or ``learning_size`` (NaN where the token was not learned within
        the range), optionally ``token_id``: the ``tokens.parquet`` of ``quanta lm analyze``.
    n_perm : int, default 999
        Permutations of the null (>= 99).
    min_learned : int, default 3
        Members with a finite step a part needs to be tested (>= 2).
    seed : int, default 0
        Seed of the permutations.

    Returns
    -------
    FormationResult

    Raises
    ------
    QuantaError
        When the tables lack their columns, the two come from different tokenisations (the same (doc, pos) holds
        different token ids), or fewer than 2 parts can be tested.
    """
    validate_params({"n_perm": n_perm, "min_learned": min_learned, "seed": seed}, _CONSTRAINTS, "part_formation",
                    examples={"n_perm": 999, "min_learned": 3, "seed": 0})
    need_m = {"doc", "pos", "part"}
    if not need_m <= set(members.columns):
        raise QuantaError(f"members: needs columns {sorted(need_m)}, got {sorted(members.columns)}",
                          "pass the parts run's tokens with their part (doc, pos, part)")
    x_name = next((c for c in ("learning_step", "learning_size") if c in learning.columns), None)
    if x_name is None or not {"doc", "pos"} <= set(learning.columns):
        raise QuantaError("learning: needs doc, pos and learning_step (or learning_size), got "
                          f"{sorted(learning.columns)}",
                          "pass the tokens.parquet of a `quanta lm analyze` run that fitted per-token curves")
    m = members
    if "weight" in m.columns:
        m = m.sort_values("weight", ascending=False, kind="stable")
    m = m.drop_duplicates(["doc", "pos"], keep="first")
    n_tokens = len(m)
    sizes = m.groupby("part").size()
    parts_all = sizes.index.to_numpy()
    freq = (sizes / n_tokens).to_numpy(float)
    cols = ["doc", "pos", x_name] + (["token_id"] if "token_id" in learning.columns else [])
    lt = learning[cols].drop_duplicates(["doc", "pos"])
    j = m.merge(lt, on=["doc", "pos"], how="inner", suffixes=("", "_learning"))
    if "token_id" in m.columns and "token_id_learning" in j.columns:
        _refuse_other_tokens(j["token_id"], j["token_id_learning"])
    n_matched = len(j)
    x = j[x_name].to_numpy(float)
    ok = np.isfinite(x) & (x > 0)
    j = j[ok]
    n_learned = len(j)
    y = np.log10(j[x_name].to_numpy(float))
    learned_per_part = j.groupby("part").size().reindex(parts_all, fill_value=0).to_numpy()
    tested = learned_per_part >= min_learned
    if tested.sum() < 2:
        raise QuantaError(f"only {int(tested.sum())} part(s) have at least {min_learned} learned members "
                          f"({n_learned} of {n_tokens} decomposed tokens have a finite {x_name})",
                          "decompose more tokens, take more checkpoints, or lower min_learned")
    t_parts = parts_all[tested]
    code_of = {p: i for i, p in enumerate(t_parts)}
    sel = j["part"].map(code_of)
    keep = sel.notna().to_numpy()
    yt, codes = y[keep], sel[keep].to_numpy(int)
    n_t = len(t_parts)
    f_t = freq[tested]
    spread, med, spr = _pooled_spread(yt, codes, n_t)
    rho = _spearman(f_t, med)
    rng = np.random.default_rng(seed)

    def null(shuffle):
        s, r = np.empty(n_perm), np.empty(n_perm)
        for b in range(n_perm):
            s[b], med_b, _ = _pooled_spread(shuffle(), codes, n_t)
            r[b] = _spearman(f_t, med_b)
        return s, r

    def p_values(null_s, null_r):
        s_med = float(np.median(null_s))
        sp = float((1 + np.sum(null_s <= spread)) / (1 + n_perm))
        if math.isfinite(rho):
            fin = np.isfinite(null_r)
            r_med = float(np.median(null_r[fin])) if fin.any() else math.nan
            rp = float((1 + np.sum(null_r[fin] <= rho)) / (1 + fin.sum()))
        else:
            r_med = rp = math.nan
        return s_med, sp, r_med, rp

    null_s, null_r = null(lambda: rng.permutation(yt))
    s_med, spread_p, rho_med, rho_p = p_values(null_s, null_r)
    s_ratio_tok = spread_p_tok = rho_p_tok = math.nan
    null_s_tok = null_r_tok = np.full(n_perm, np.nan)
    if "token_id" in j.columns:
        tid = j["token_id"].to_numpy()[keep]
        by_tid = np.argsort(tid, kind="stable")

        def within_token():
            order = np.lexsort((rng.random(len(yt)), tid))
            out = np.empty_like(yt)
            out[by_tid] = yt[order]
            return out

        null_s_tok, null_r_tok = null(within_token)
        s_med_tok, spread_p_tok, _, rho_p_tok = p_values(null_s_tok, null_r_tok)
        s_ratio_tok = float(spread / s_med_tok) if s_med_tok > 0 else math.nan
    table = pd.DataFrame({"part": parts_all, "n_members": sizes.to_numpy(np.int64), "frequency": freq,
                          "n_learned": learned_per_part.astype(np.int64), "tested": tested})
    table["median_log10_step"] = np.nan
    table["spread"] = np.nan
    table.loc[tested, "median_log10_step"] = med
    table.loc[tested, "spread"] = spr
    table = table.sort_values("n_members", ascending=False, kind="stable").reset_index(drop=True)
    null = pd.DataFrame({"perm": np.arange(n_perm, dtype=np.int32), "spread": null_s, "rho": null_r,
                         "spread_token": null_s_tok, "rho_token": null_r_tok})
    return FormationResult(parts=table, null=null, spread=float(spread), spread_null_median=s_med,
                           spread_ratio=float(spread / s_med) if s_med > 0 else math.nan, spread_p=spread_p,
                           rho=float(rho), rho_null_median=rho_med, rho_p=rho_p, spread_ratio_token=s_ratio_tok,
                           spread_p_token=spread_p_tok, rho_p_token=rho_p_tok, n_tokens=int(n_tokens),
                           n_matched=int(n_matched), n_learned=int(n_learned), n_parts=len(parts_all),
                           n_parts_tested=int(n_t), n_perm=int(n_perm), min_learned=int(min_learned),
                           seed=int(seed), x_name=x_name)


def plot_formation(result: FormationResult, *, title: str = ""):
    """Three panels: part frequency against median learning step, and both statistics against their nulls."""
    from matplotlib.figure import Figure

    what = "step" if result.x_name == "learning_step" else "size"
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    t = result.parts[result.parts["tested"]]
    ax1.errorbar(t["frequency"], 10 ** t["median_log10_step"],
                 yerr=[10 ** t["median_log10_step"] - 10 ** (t["median_log10_step"] - t["spread"]),
                       10 ** (t["median_log10_step"] + t["spread"]) - 10 ** t["median_log10_step"]],
                 fmt="o", ms=4, alpha=0.8, label="part (median ± mean abs. dev.)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("part frequency f_i")
    ax1.set_ylabel(f"learning {what} of its members")
    ax1.set_title(f"ρ = {result.rho:+.2f} (null median {result.rho_null_median:+.2f})")
    ax1.legend(fontsize=8)
    for ax, obs, col, lab, p, p_tok in ((ax2, result.spread, "spread", "within-part spread of log10 " + what,
                                         result.spread_p, result.spread_p_token),
                                        (ax3, result.rho, "rho", "Spearman ρ(f_i, median " + what + ")",
                                         result.rho_p, result.rho_p_token)):
        vals = result.null[col].to_numpy(float)
        vals = vals[np.isfinite(vals)]
        ax.hist(vals, bins=40, color="0.7", label=f"null: steps shuffled across parts ({len(vals)})")
        tok = result.null[col + "_token"].to_numpy(float)
        tok = tok[np.isfinite(tok)]
        if len(tok):
            ax.hist(tok, bins=40, histtype="step", color="C0", lw=1.5,
                    label=f"stricter null: shuffled within token id ({len(tok)})")
        if math.isfinite(obs):
            extra = f"; within token id {p_tok:.3g}" if math.isfinite(p_tok) else ""
            ax.axvline(obs, color="C3", lw=2, label=f"observed (p = {p:.3g}{extra})")
        ax.set_xlabel(lab)
        ax.set_ylabel("permutations")
        ax.legend(fontsize=8)
    ax2.set_title("learned together? (smaller = together)")
    ax3.set_title("in order of frequency? (negative = yes)")
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------- run directories
def _refuse_other_tokens(ids, other_ids) -> None:
    """Refuse two runs whose token ids at the same (doc, pos) (the two aligned columns of their join) differ at more
    than 1% of those places: the runs tokenised the corpus differently."""
    if len(ids):
        bad = float((np.asarray(ids) != np.asarray(other_ids)).mean())
        if bad > 0.01:
            raise QuantaError(f"{bad:.0%} of the shared (doc, pos) hold different tokens in the two runs: they "
                              "tokenised the corpus differently", "use runs on the same corpus with the same tokenizer")


def formation_inputs(parts_dir, dynamics_dir, *, n_clusters: int | None = None,
                     allow_mismatch: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The members of each part and every token's learning step, read from two finished runs.

    Parameters
    ----------
    parts_dir : path
        A ``quanta qdg --model`` run (its ``tokens`` and ``clusters`` tables), or any parts run with a
        ``membership`` table (``doc``, ``pos``, ``part``, optional ``weight``).
    dynamics_dir : path
        A ``quanta lm analyze`` run with per-token fits (``tokens`` with ``learning_step`` or ``learning_size``).
    n_clusters : int, optional
        The count of a QDG run to take (default: the count its rule chose).
    allow_mismatch : bool
        Skip the check that both runs read the same corpus and the same model.

    Returns
    -------
    members, learning : DataFrame
        The two inputs of :func:`part_formation`.
    info : dict
        ``n_clusters``, ``model``, ``corpus``, ``world_checked``.
    """
    from quanta.store import Run

    prun, drun = Run.open(parts_dir), Run.open(dynamics_dir)
    if drun.command != "lm analyze":
        raise QuantaError(f"{dynamics_dir} is a {drun.command!r} run, but learning steps come from `quanta lm analyze`",
                          "run `quanta lm losses --suite MODEL --revision all` and `quanta lm analyze` on it, and "
                          "pass that analysis")
    learning = drun.read_table("tokens") if (drun.path / "tokens.parquet").exists() else None
    if learning is None or not ({"learning_step", "learning_size"} & set(learning.columns)):
        raise QuantaError(f"{dynamics_dir} has no per-token learning steps (it fitted no token curves)",
                          "analyze losses of at least 3 checkpoints (quanta lm losses --revision all)")
    psum = prun.summary
    if prun.command == "qdg parity":
        raise QuantaError(f"{parts_dir} decomposes a parity run, whose samples have no per-token learning steps",
                          "pass the parts of `quanta qdg --model` on a language model")
    info = {"model": psum.get("model"), "corpus": psum.get("corpus"), "world_checked": False}
    if prun.command == "qdg":
        tokens, clusters = prun.read_table("tokens"), prun.read_table("clusters")
        swept = sorted(int(k) for k in clusters["n_clusters"].unique())
        k = int(n_clusters) if n_clusters is not None else int(psum.get("n_clusters") or max(swept))
        if k not in swept:
            raise QuantaError(f"n_clusters {k} was not swept by {parts_dir} (it has {swept})",
                              "pick one of those counts")
        lab = clusters[clusters["n_clusters"] == k][["token", "cluster"]].rename(columns={"cluster": "part"})
        members = tokens.merge(lab, on="token", how="inner")
        info["n_clusters"] = k
    elif (prun.path / "membership.parquet").exists() and (prun.path / "samples.parquet").exists():
        # a `quanta parts` run: (sample, part, weight) rows, the samples' places in the corpus beside them
        samples = prun.read_table("samples")
        if not {"sample", "doc", "pos"} <= set(samples.columns):
            raise QuantaError(f"{parts_dir} decomposes samples without a place in a corpus (no doc, pos)",
                              "pass the parts of a language model")
        keep = ["sample", "doc", "pos"] + (["token_id"] if "token_id" in samples.columns else [])
        members = prun.read_table("membership").merge(samples[keep], on="sample", how="inner")
        # a parts sample is the activation read at token pos, which predicts token pos + 1, while lm analyze keys a
        # learning step by the token predicted: the tokens are checked where both runs read the same token, then
        # each member is moved to the token it predicts
        if "token_id" in members.columns and "token_id" in learning.columns:
            same = members[["doc", "pos", "token_id"]].merge(
                learning[["doc", "pos", "token_id"]].drop_duplicates(["doc", "pos"]), on=["doc", "pos"],
                suffixes=("", "_learning"))
            _refuse_other_tokens(same["token_id"], same["token_id_learning"])
        members = members.drop(columns=[c for c in ("token_id",) if c in members.columns]).assign(
            pos=members["pos"].to_numpy(np.int64) + 1)
        info["n_clusters"] = None
    else:
        raise QuantaError(f"{parts_dir} is a {prun.command!r} run with no parts table",
                          "pass a `quanta qdg --model` run (or a parts run with membership.parquet)")
    if not allow_mismatch:
        from quanta.world import check_same_lm_world, lm_world

        info["world_checked"] = check_same_lm_world({**prun.config, **psum}, lm_world(drun), parts_dir=parts_dir,
                                                    other_dir=dynamics_dir, what="the learning steps",
                                                    same_split=True)
    return members, learning, info


def formation_answers(result: FormationResult, *, level: float = 0.05) -> list[dict]:
    """The two tests as rows: test, statistic, observed, null median, p-value, answer."""
    rows = []
    for test, stat, obs, med, p, p_tok, pred in (
            ("learned together", "within-part spread of log10 step", result.spread, result.spread_null_median,
             result.spread_p, result.spread_p_token, "smaller than the null's"),
            ("learned in order of frequency", "Spearman rho(f_i, median log10 step)", result.rho,
             result.rho_null_median, result.rho_p, result.rho_p_token, "below the null's (frequent parts first)")):
        if not math.isfinite(p):
            answer = ("untested (fewer than 3 parts tested)" if result.n_parts_tested < 3 else
                      "untested (the statistic is undefined: the tested parts' median steps are all tied)")
        elif p < level:
            answer = f"supported (p < {level:g})"
        else:
            answer = f"not shown (p >= {level:g})"
        if math.isfinite(p) and math.isfinite(p_tok):
            answer += (", also beyond token identity" if p_tok < level else
                       ", not beyond token identity (p_token >= " + f"{level:g})")
        rows.append(dict(test=test, statistic=stat, prediction=pred, observed=obs, null_median=med, p_value=p,
                         p_value_token=p_tok, answer=answer))
    return rows


def run_formation(parts_dir, dynamics_dir, out, *, n_clusters: int | None = None, n_perm: int = 999,
                  min_learned: int = 3, seed: int = 0, level: float = 0.05, force: bool = False,
                  argv: list[str] | None = None, allow_mismatch: bool = False) -> tuple[dict, FormationResult]:
    """Run both formation tests on a parts run and a dynamics analysis, and write a run directory.

    Writes ``parts.parquet`` (per part), ``null.parquet`` (per permutation), ``tests.parquet`` (the two tests),
    the figure ``formation`` and ``summary.json``. Everything that can fail on the inputs fails before ``out`` is
    created.
    """
    from quanta.store import Run

    validate_params({"level": level}, {"level": [Interval(float, 0, 1, closed="neither")]}, "run_formation",
                    examples={"level": 0.05})
    members, learning, info = formation_inputs(parts_dir, dynamics_dir, n_clusters=n_clusters,
                                               allow_mismatch=allow_mismatch)
    result = part_formation(members, learning, n_perm=n_perm, min_learned=min_learned, seed=seed)
    tests = pd.DataFrame(formation_answers(result, level=level))
    config = {"parts": str(parts_dir), "dynamics": str(dynamics_dir), "n_clusters": n_clusters, "n_perm": n_perm,
              "min_learned": min_learned, "seed": seed, "level": level, "allow_mismatch": allow_mismatch}
    with Run.create(out, command="formation", config=config, seed=seed, argv=argv, force=force,
                    inputs=[parts_dir, dynamics_dir]) as run:
        run.write_table("parts", result.parts)
        run.write_table("null", result.null)
        run.write_table("tests", tests)
        run.save_figure(plot_formation(result, title=f"parts of {info.get('model') or parts_dir}"), "formation")
        summary = {**result.summary(), **{k: v for k, v in info.items()},
                   "learned_together": tests.loc[0, "answer"], "frequency_order": tests.loc[1, "answer"],
                   "level": level}
        return run.finish(summary), result

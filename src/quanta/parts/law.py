"""Use counts and frequencies of overlapping parts (SAE features), dead and dense parts, and their Zipf law.

For parts that overlap (an SAE feature fires on many rows, a row fires many features) a part's **count** is the
number of rows (samples or tokens) on which it fires, and its **frequency** ``f_i = count_i / n_rows`` is the
share of rows on which it fires. Counts then sum to more than ``n_rows`` (to ``k × n_rows`` for a TopK SAE whose
k activations are all positive). The Zipf law is fitted on the counts of the *live* parts with the project's
rank-frequency MLE (:func:`quanta.fit.fit_zipf_from_sizes`): every firing is read as one draw of its part's
rank. Firings in one row are not independent draws, so the fit's bootstrap interval is a lower bound on the
spread; the spread across SAE seeds (``quanta parts sae --seed``) is the honest one.

Which parts enter the law (the rule, stated once):

* **dead**: fires on no row; left out (a part that is never used has no frequency rank);
* **dense**: fires on more than ``dense_share`` of the rows (default one half); left out, because a feature on
  most inputs is a direction of the data's mean or norm rather than a part used by some inputs;
* every other part is **live** and is ranked by its count.

The dead and dense parts are counted and written (``parts.parquet`` flags them, ``summary.json`` counts them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.validation import Interval, validate_params

__all__ = ["DENSE_SHARE", "feature_counts", "parts_table", "fit_parts_law", "log10_density"]

#: default share of rows above which a part is dense (excluded from the law)
DENSE_SHARE = 0.5


def feature_counts(codes) -> np.ndarray:
    """Rows on which each part fires (code > 0): shape (n_parts,), int64. ``codes`` is (n_rows, n_parts)."""
    import torch

    if torch.is_tensor(codes):
        return (codes > 0).sum(dim=0).cpu().numpy().astype(np.int64)
    return (np.asarray(codes) > 0).sum(axis=0).astype(np.int64)


def parts_table(counts, n_rows: int, *, dense_share: float = DENSE_SHARE) -> pd.DataFrame:
    """The contract's ``parts`` table: one row per part.

    Columns: ``part`` (its index), ``count`` (rows on which it fires), ``frequency`` (count / n_rows),
    ``log10_frequency`` (-inf when dead), ``dead``, ``dense``, ``live`` and ``rank`` (1 = most used live part;
    0 for dead and dense parts).
    """
    validate_params({"dense_share": dense_share, "n_rows": n_rows},
                    {"dense_share": [Interval(float, 0, 1, closed="right")], "n_rows": [Interval(int, 1, None)]},
                    where="parts_table", examples={"dense_share": DENSE_SHARE})
    counts = np.asarray(counts, dtype=np.int64)
    freq = counts / float(n_rows)
    dead = counts == 0
    dense = freq > dense_share
    live = ~dead & ~dense
    rank = np.zeros(counts.size, dtype=np.int32)
    order = np.argsort(-counts[live], kind="stable")
    rank[np.nonzero(live)[0][order]] = np.arange(1, live.sum() + 1, dtype=np.int32)
    with np.errstate(divide="ignore"):
        lf = np.log10(freq)
    return pd.DataFrame({"part": np.arange(counts.size, dtype=np.int32), "count": counts, "frequency": freq,
                         "log10_frequency": lf, "dead": dead, "dense": dense, "live": live, "rank": rank})


def log10_density(parts: pd.DataFrame) -> np.ndarray:
    """log10 of the firing frequency of every part that fires (the SAELens feature-density histogram's x)."""
    return parts.loc[~parts["dead"], "log10_frequency"].to_numpy()


def fit_parts_law(parts: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> dict:
    """The Zipf law of the live parts' counts: all live ranks, and the plausible head the closing test reads.

    Returns a dict: ``zipf_exponent`` (bias-corrected MLE over all live ranks,
    :func:`quanta.fit.fit_zipf_from_sizes`), ``zipf_exponent_raw``, ``zipf_exponent_ci``, ``zipf_exponent_se``,
    ``zipf_method``, and ``head_*`` from :func:`quanta.plausibility.head_law` (``head_exponent``,
    ``head_exponent_ci``, ``head`` (ranks 1..head), ``head_plausible``). Raises :class:`QuantaError` when fewer
    than 2 parts are live.
    """
    from quanta.fit import fit_zipf_from_sizes
    from quanta.plausibility import head_law

    counts = np.sort(parts.loc[parts["live"], "count"].to_numpy())[::-1]
    if counts.size < 2:
        raise QuantaError(f"only {counts.size} part(s) are live (not dead, not dense): no rank-frequency law",
                          "train on more rows, use more latents, or raise dense_share")
    fit = fit_zipf_from_sizes(counts, n_boot=n_boot, seed=seed)
    law = head_law(counts, n_boot=n_boot, seed=seed)
    return {
        "zipf_exponent": fit.exponent_corrected,
        "zipf_exponent_raw": fit.exponent,
        "zipf_exponent_ci": list(fit.exponent_ci),
        "zipf_exponent_se": fit.se,
        "zipf_method": "MLE of the live parts' use counts over all live ranks, bias-corrected "
                       "(quanta.fit.fit_zipf_from_sizes; one firing = one draw of its part's rank)",
        "head_exponent": law["exponent"],
        "head_exponent_ci": list(law["exponent_ci"]),
        "head": law["head"],
        "head_plausible": bool(law["plausible"]),
        "head_gof_p": law["gof_p"],
    }

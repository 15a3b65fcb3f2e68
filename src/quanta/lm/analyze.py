"""Analysis of per-token losses of a language-model suite (docs/science.md §3).

Reads only the tables of a ``quanta lm losses`` run directory (docs/tables.md):
``losses/part-*.parquet`` (doc, pos, token_id, model, loss), ``models.parquet`` (model,
n_params, n_params_nonembed, step, order), ``docs.parquet`` and ``tokenizer/``, and writes

* the loss distribution of every model on log-spaced bins, with the share of tokens below a
  threshold and the loss-weighted density L·p(L) (``distribution.parquet``, ``models_summary.parquet``);
* the mean loss against non-embedding parameters fitted as ``L∞ + A·N^-α_N`` with a bootstrap
  interval, and the Zipf exponent of the quanta it implies, ``α_N + 1`` (``summary.json``);
* per-token scaling curves: a line and a reverse sigmoid in log N fitted to every token's
  losses, a label (monogenic, polygenic, neither) and a learning size (``tokens.parquet``,
  ``learning_sizes.parquet``);
* the most striking monogenic and polygenic tokens with their document context
  (``examples.parquet``, ``examples.json``);
* for a losses run over checkpoints of one model (dynamics), the same with the training step in
  place of N, and the fitted ``α_S``.

The per-token fits are vectorised: the line fit is closed form, and the sigmoid
``y = lo + (hi - lo)·σ(-k(x - x0))`` is linear in ``(lo, hi)`` once ``(x0, k)`` is fixed, so it is
solved exactly for every token on a grid of transition points and widths with one matrix product
per chunk of tokens. The criteria are documented in docs/lm-analyze.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from quanta.errors import QuantaError
from quanta.theory import alpha_from_scaling, frequency_exponent_from_scaling

log = logging.getLogger(__name__)

LABELS = ("monogenic", "polygenic", "neither")
_MODES = ("auto", "suite", "dynamics")
_CRITERIA = ("sigmoid", "reference")
_LN9 = math.log(9.0)


# ----------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AnalyzeConfig:
    """Settings of ``quanta lm analyze``. Widths and slopes are in decades of x (log10 N or log10 step).

    Parameters
    ----------
    mode : {"auto", "suite", "dynamics"}
        ``suite``: models of different sizes, x = non-embedding parameters. ``dynamics``: checkpoints
        of one model, x = training step (checkpoints with step <= 0 stay in the distributions but
        not in the fits). ``auto`` picks dynamics when every model has the same non-embedding size
        and a distinct step >= 0.
    n_bins : int
        Log-spaced loss bins between ``loss_floor`` and the largest loss; one more bin [0, loss_floor).
    loss_floor : float
        Lower edge (nats) of the log-spaced bins.
    low_loss : float
        Threshold (nats) of the share of tokens "below" (0.1 nats in the paper's figures).
    criteria : {"sigmoid", "reference"}
        ``sigmoid``: the fitted-curve criteria below. ``reference``: the heuristics of the paper's
        code (loss above ``ref_high`` for every model below some size and below ``ref_low`` from
        that size on; polygenic when the line has slope < ``ref_slope`` and R² > ``ref_r2``).
    min_drop : float
        Monogenic: the sigmoid's drop hi - lo must be at least this many nats.
    min_r2_sigmoid : float
        Monogenic: R² of the sigmoid fit at least this.
    max_sse_ratio : float
        Monogenic: the sigmoid's residual sum of squares at most this fraction of the line's.
    max_width : float
        Monogenic: the 10–90 % transition width of the sigmoid at most this many model gaps
        (a gap is the median spacing of adjacent models in log10 x).
    min_side : int
        Monogenic: at least this many models on each side of the transition point.
    max_slope : float
        Polygenic: slope of the line (nats per decade of x) at most this (a decline).
    min_r2_line : float
        Polygenic: R² of the line at least this.
    ref_high, ref_low, ref_slope, ref_r2 : float
        The reference heuristics (docs/science.md §3): 5 nats, 0.3 nats, -0.3 nats per decade, 0.98.
    n_x0, n_width : int
        Grid of the sigmoid fit: transition points (plus the midpoints between adjacent models)
        and log-spaced transition widths from 0.05 gap to twice the span of x.
    fit_offset : bool
        Fit the mean loss with an offset L∞ (else a pure power law).
    n_boot, ci : int, float
        Bootstrap resamples and level of the interval of α.
    n_examples : int
        Examples per label (distinct token ids) in examples.parquet/json and the figure.
    context_before, context_after : int
        Tokens of context shown before and after an example token.
    figures : bool
        Draw the figures (the tables and summary do not depend on them).
    chunk_elements : int
        Size of the per-chunk work arrays of the sigmoid fit (tokens × grid points); bounds memory.
    seed : int
        Seed of the bootstrap and of the sampled curves in the figures.
    """

    mode: str = "auto"
    n_bins: int = 60
    loss_floor: float = 1e-4
    low_loss: float = 0.1
    criteria: str = "sigmoid"
    min_drop: float = 1.0
    min_r2_sigmoid: float = 0.9
    max_sse_ratio: float = 0.25
    max_width: float = 1.0
    min_side: int = 1
    max_slope: float = -0.3
    min_r2_line: float = 0.9
    ref_high: float = 5.0
    ref_low: float = 0.3
    ref_slope: float = -0.3
    ref_r2: float = 0.98
    n_x0: int = 32
    n_width: int = 12
    fit_offset: bool = True
    n_boot: int = 200
    ci: float = 0.9
    n_examples: int = 6
    context_before: int = 40
    context_after: int = 8
    figures: bool = True
    chunk_elements: int = 4_000_000
    seed: int = 0

    def __post_init__(self):
        def need(cond, name, allowed, hint):
            if not cond:
                raise QuantaError(f"{name}: must be {allowed}, got {getattr(self, name)!r}", hint)

        need(self.mode in _MODES, "mode", "one of " + ", ".join(_MODES), "use --mode auto, suite or dynamics")
        need(self.criteria in _CRITERIA, "criteria", "one of " + ", ".join(_CRITERIA),
             "use --criteria sigmoid or reference")
        for name in ("n_bins", "n_x0", "n_width", "n_boot", "chunk_elements"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 2, name, "an integer >= 2",
                 f"e.g. --set {name}={getattr(AnalyzeConfig, name)}")
        for name in ("n_examples", "context_before", "context_after", "min_side", "seed"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, name, "an integer >= 0",
                 f"e.g. --set {name}={getattr(AnalyzeConfig, name)}")
        for name in ("loss_floor", "low_loss", "max_width", "ref_high"):
            v = getattr(self, name)
            need(_is_num(v) and v > 0, name, "a number > 0", f"e.g. --set {name}={getattr(AnalyzeConfig, name)}")
        for name in ("min_drop", "ref_low", "max_sse_ratio"):
            v = getattr(self, name)
            need(_is_num(v) and v >= 0, name, "a number >= 0", f"e.g. --set {name}={getattr(AnalyzeConfig, name)}")
        for name in ("min_r2_sigmoid", "min_r2_line", "ref_r2"):
            v = getattr(self, name)
            need(_is_num(v) and v <= 1, name, "a number <= 1", f"e.g. --set {name}={getattr(AnalyzeConfig, name)}")
        for name in ("max_slope", "ref_slope"):
            need(_is_num(getattr(self, name)), name, "a number", f"e.g. --set {name}=-0.3")
        need(_is_num(self.ci) and 0 < self.ci < 1, "ci", "a number in (0, 1)", "e.g. --set ci=0.9")
        need(isinstance(self.fit_offset, bool), "fit_offset", "true or false", "e.g. --set fit_offset=false")
        need(isinstance(self.figures, bool), "figures", "true or false", "e.g. --set figures=false")
        need(self.ref_low < self.ref_high, "ref_low", f"below ref_high={self.ref_high}",
             "lower ref_low or raise ref_high")


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------------------------- loading
class LossMatrix(NamedTuple):
    """Per-token losses of every model, one row per predicted token.

    Attributes
    ----------
    models : DataFrame
        models.parquet sorted by ``order`` (column ``model`` names the columns of ``loss``).
    doc, pos, token_id : ndarray, shape (T,)
        The predicted tokens, sorted by (doc, pos).
    loss : ndarray of float32, shape (T, M)
        Loss in nats; NaN where a model has no finite loss for the token.
    n_rows : ndarray of int64, shape (M,)
        Rows read per model.
    """

    models: pd.DataFrame
    doc: np.ndarray
    pos: np.ndarray
    token_id: np.ndarray
    loss: np.ndarray
    n_rows: np.ndarray


def loss_shards(losses_dir) -> list[Path]:
    """The loss shards ``losses/part-*.parquet`` of a losses run, sorted; QuantaError if none."""
    shards = sorted((Path(losses_dir) / "losses").glob("part-*.parquet"))
    if not shards:
        raise QuantaError(f"{losses_dir} has no losses/part-*.parquet shards",
                          "pass the --out directory of a finished `quanta lm losses` run")
    return shards


def _keys(doc: np.ndarray, pos: np.ndarray) -> np.ndarray:
    doc = doc.astype(np.int64, copy=False)
    pos = pos.astype(np.int64, copy=False)
    if doc.size and (doc.min() < 0 or doc.max() >= 2**31 or pos.min() < 0 or pos.max() >= 2**32):
        raise QuantaError("losses: doc must be in [0, 2^31) and pos in [0, 2^32)",
                          "the losses table is damaged; re-run `quanta lm losses`")
    return (doc << 32) | pos


def load_loss_matrix(losses_dir, models: pd.DataFrame | None = None) -> LossMatrix:
    """Read the loss shards of a losses run into a (tokens × models) matrix.

    Two passes over the shards, each reading only the columns it needs: the first collects the
    distinct (doc, pos) and their token ids, the second fills the matrix. Peak memory is the matrix
    (4 bytes × tokens × models) plus one shard.

    Parameters
    ----------
    losses_dir : path
        A ``quanta lm losses`` run directory.
    models : DataFrame, optional
        models.parquet (default: read from ``losses_dir``).

    Raises
    ------
    QuantaError
        No shards, a model missing from models.parquet, or a (doc, pos, model) given twice.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from quanta.progress import progress

    losses_dir = Path(losses_dir)
    shards = loss_shards(losses_dir)
    if models is None:
        models = read_models(losses_dir)
    names = models["model"].astype(str).tolist()
    value_set = pa.array(names, type=pa.string())

    # pass 1: the distinct predicted tokens, merged shard by shard (a shard per model adds no new keys)
    keys = np.zeros(0, dtype=np.int64)
    tokens = np.zeros(0, dtype=np.int32)
    for shard in progress(shards, desc="tokens", unit="shard"):
        t = _read(pq, shard, ["doc", "pos", "token_id"])
        k = _keys(t.column("doc").to_numpy(), t.column("pos").to_numpy())
        k, first = np.unique(k, return_index=True)
        tok = t.column("token_id").to_numpy()[first].astype(np.int32)
        at = np.minimum(np.searchsorted(keys, k), max(keys.size - 1, 0))
        new = (keys[at] != k) if keys.size else np.ones(k.size, dtype=bool)
        if new.any():
            keys = np.concatenate([keys, k[new]])
            tokens = np.concatenate([tokens, tok[new]])
            order = np.argsort(keys, kind="stable")
            keys, tokens = keys[order], tokens[order]

    # pass 2: the losses
    n_models = len(names)
    mat = np.full((keys.size, n_models), np.nan, dtype=np.float32)
    n_rows = np.zeros(n_models, dtype=np.int64)
    for shard in progress(shards, desc="losses", unit="shard"):
        t = _read(pq, shard, ["doc", "pos", "model", "loss"])
        col = t.column("model")
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        code = pc.index_in(col, value_set=value_set)
        if code.null_count:
            unknown = sorted(set(pc.filter(col, pc.is_null(code)).unique().to_pylist()), key=str)[:3]
            raise QuantaError(f"losses: {shard.name} has model(s) {unknown} that models.parquet does not list",
                              "the run directory is inconsistent; re-run `quanta lm losses`")
        code = code.to_numpy().astype(np.int64)
        idx = np.searchsorted(keys, _keys(t.column("doc").to_numpy(), t.column("pos").to_numpy()))
        mat[idx, code] = t.column("loss").to_numpy().astype(np.float32)
        n_rows += np.bincount(code, minlength=n_models)
    filled = np.sum(~np.isnan(mat), axis=0)
    n_nan_rows = n_rows - filled
    if np.any(n_nan_rows > 0):
        # either duplicates or NaN losses in the table; tell them apart by a NaN count
        n_nan = _count_nan_losses(pq, shards, value_set, n_models)
        if np.any(n_rows - n_nan > filled):
            m = int(np.argmax(n_rows - n_nan - filled))
            raise QuantaError(f"losses: model {names[m]!r} has {int(n_rows[m] - n_nan[m] - filled[m])} duplicate "
                              "(doc, pos) rows", "the run directory is inconsistent; re-run `quanta lm losses`")
    inf = ~np.isfinite(mat) & ~np.isnan(mat)
    if inf.any():
        mat[inf] = np.nan
    doc = (keys >> 32).astype(np.int64)
    pos = (keys & 0xFFFFFFFF).astype(np.int32)
    return LossMatrix(models=models, doc=doc, pos=pos, token_id=tokens, loss=mat, n_rows=n_rows)


def _read(pq, shard, columns):
    try:
        return pq.read_table(shard, columns=columns)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file or schema
        raise QuantaError(f"losses: cannot read {shard.name} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                          f"it needs the columns {', '.join(columns)}; re-run `quanta lm losses`") from exc


def _count_nan_losses(pq, shards, value_set, n_models) -> np.ndarray:
    import pyarrow.compute as pc

    out = np.zeros(n_models, dtype=np.int64)
    for shard in shards:
        t = pq.read_table(shard, columns=["model", "loss"])
        loss = t.column("loss").to_numpy()
        bad = np.isnan(loss)
        if bad.any():
            code = pc.index_in(t.column("model"), value_set=value_set).to_numpy()
            out += np.bincount(code[bad].astype(np.int64), minlength=n_models)
    return out


def read_models(losses_dir) -> pd.DataFrame:
    """models.parquet of a losses run, checked and sorted by ``order``."""
    from quanta.store import Run

    run = Run(losses_dir)
    models = run.read_table("models")
    need = {"model", "n_params_nonembed", "step", "order"}
    missing = sorted(need - set(models.columns))
    if missing:
        raise QuantaError(f"{losses_dir}/models.parquet lacks the column(s) {', '.join(missing)}",
                          "re-run `quanta lm losses` with this version of quanta")
    if models.empty:
        raise QuantaError(f"{losses_dir}/models.parquet lists no models", "re-run `quanta lm losses`")
    if models["model"].duplicated().any():
        raise QuantaError(f"{losses_dir}/models.parquet lists a model twice", "re-run `quanta lm losses`")
    models = models.copy()
    models["model"] = models["model"].astype(str)
    return models.sort_values(["order", "model"], kind="stable").reset_index(drop=True)


def detect_mode(models: pd.DataFrame) -> str:
    """``dynamics`` when every model has the same non-embedding size and a distinct step >= 0, else ``suite``."""
    steps = models["step"].to_numpy()
    sizes = models["n_params_nonembed"].to_numpy()
    if len(models) >= 2 and np.all(steps >= 0) and len(np.unique(steps)) == len(steps) \
            and len(np.unique(sizes)) == 1:
        return "dynamics"
    return "suite"


# -------------------------------------------------------------------------------- distributions
def loss_bins(loss_max: float, *, n_bins: int = 60, loss_floor: float = 1e-4) -> np.ndarray:
    """Bin edges: [0, loss_floor) then ``n_bins`` log-spaced bins up to just above ``loss_max``."""
    top = max(float(loss_max), loss_floor * 10.0) * (1 + 1e-6)
    return np.concatenate([[0.0], np.geomspace(loss_floor, top, n_bins + 1)])


def loss_distribution(loss: np.ndarray, models: pd.DataFrame, *, n_bins: int = 60,
                      loss_floor: float = 1e-4) -> pd.DataFrame:
    """Histogram of every model's per-token losses on log-spaced bins.

    Parameters
    ----------
    loss : ndarray, shape (T, M)
        Finite per-token losses (nats), one column per row of ``models``.
    models : DataFrame
        With ``model``, ``n_params_nonembed`` and ``step``.
    n_bins, loss_floor
        See :func:`loss_bins`. Negative losses (rounding) are counted in the first bin.

    Returns
    -------
    DataFrame
        One row per (model, bin): ``model``, ``n_params_nonembed``, ``step``, ``bin``, ``bin_lo``,
        ``bin_hi``, ``count``, ``share`` (sums to 1 per model), ``density`` (share per nat = p(L)),
        ``loss_density`` (the bin average of L·p(L)), ``mean_loss_contrib`` (Σ of the bin's losses / T;
        sums to the model's mean loss) and ``loss_share`` (the bin's part of the total loss; sums to 1).
    """
    loss = np.asarray(loss)
    T, M = loss.shape
    edges = loss_bins(np.nanmax(loss) if T else 1.0, n_bins=n_bins, loss_floor=loss_floor)
    nb = edges.size - 1
    widths = np.diff(edges)
    rows = []
    for m in range(M):
        col = loss[:, m].astype(np.float64)
        b = np.clip(np.searchsorted(edges, col, side="right") - 1, 0, nb - 1)
        count = np.bincount(b, minlength=nb)
        lsum = np.bincount(b, weights=col, minlength=nb)
        total = lsum.sum()
        share = count / max(T, 1)
        contrib = lsum / max(T, 1)
        rows.append(pd.DataFrame({
            "model": models["model"].iloc[m],
            "n_params_nonembed": models["n_params_nonembed"].iloc[m],
            "step": models["step"].iloc[m],
            "bin": np.arange(nb, dtype=np.int32),
            "bin_lo": edges[:-1],
            "bin_hi": edges[1:],
            "count": count.astype(np.int64),
            "share": share,
            "density": share / widths,
            "loss_density": contrib / widths,
            "mean_loss_contrib": contrib,
            "loss_share": lsum / total if total > 0 else np.zeros(nb),
        }))
    return pd.concat(rows, ignore_index=True)


def summarize_models(loss: np.ndarray, models: pd.DataFrame, *, low_loss: float = 0.1) -> pd.DataFrame:
    """One row per model: size, step, ``n_tokens``, ``mean_loss``, ``median_loss``, ``share_below``
    (share of tokens with loss < ``low_loss``) and ``loss_share_below`` (their part of the total loss)."""
    loss = np.asarray(loss)
    T, M = loss.shape
    stats = np.full((M, 4), np.nan)
    for m in range(M):  # one float64 column at a time
        c = loss[:, m].astype(np.float64)
        if T:
            total = c.sum()
            stats[m] = c.mean(), np.median(c), np.mean(c < low_loss), \
                (c[c < low_loss].sum() / total if total > 0 else 0.0)
    out = models[[c for c in ("model", "order", "n_params", "n_params_nonembed", "step") if c in models]].copy()
    out["n_tokens"] = T
    out["mean_loss"] = stats[:, 0]
    out["median_loss"] = stats[:, 1]
    out["share_below"] = stats[:, 2]
    out["loss_share_below"] = stats[:, 3]
    out["low_loss"] = low_loss
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------- per-token curves
class TokenFits(NamedTuple):
    """Per-token fits of loss against x = log10 N (or log10 step); every array has shape (T,).

    ``slope`` (nats per decade), ``intercept``, ``r2_line``, ``sse_line``; sigmoid
    ``lo``, ``hi``, ``x0`` (log10 of the transition point), ``width`` (10–90 % width in decades),
    ``sse_sigmoid``, ``r2_sigmoid``; ``sst`` (total sum of squares).
    """

    slope: np.ndarray
    intercept: np.ndarray
    r2_line: np.ndarray
    sse_line: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    x0: np.ndarray
    width: np.ndarray
    sse_sigmoid: np.ndarray
    r2_sigmoid: np.ndarray
    sst: np.ndarray


def model_gap(x: np.ndarray) -> float:
    """Median spacing of adjacent distinct x (log10 units); 1.0 when there is only one."""
    u = np.unique(np.asarray(x, dtype=np.float64))
    return float(np.median(np.diff(u))) if u.size >= 2 else 1.0


def sigmoid_grid(x: np.ndarray, *, n_x0: int = 32, n_width: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """The (x0, width) grid of the sigmoid fit for curves sampled at ``x`` (log10 units).

    x0: ``n_x0`` points evenly inside (smallest x, largest x), ends excluded, plus the midpoints of
    adjacent models (where a step between two models is best placed). A transition outside the
    models is not fitted: a sigmoid's tail through one end point would fit any curve with a kink.
    width: ``n_width`` log-spaced values from 0.05 gap (a step) to twice the span of x.
    Returns the flattened pairs ``(x0, width)``, each of shape (G,).
    """
    x = np.asarray(x, dtype=np.float64)
    u = np.unique(x)
    gap = model_gap(x)
    span = max(u[-1] - u[0], gap)
    x0s = np.unique(np.concatenate([np.linspace(u[0], u[-1], n_x0 + 2)[1:-1], (u[1:] + u[:-1]) / 2]))
    widths = np.geomspace(0.05 * gap, 2 * span, n_width)
    X0, W = np.meshgrid(x0s, widths, indexing="ij")
    return X0.ravel(), W.ravel()


def _sigmoid_design(x, x0, width):
    """(G, M) values s = σ(-k (x - x0)) with k = 2 ln 9 / width: 0.9 at x0 - width/2, 0.1 at x0 + width/2."""
    k = 2 * _LN9 / width
    z = np.clip(k[:, None] * (x[None, :] - x0[:, None]), -60, 60)
    return 1.0 / (1.0 + np.exp(z))


def fit_token_curves(loss: np.ndarray, x: np.ndarray, *, n_x0: int = 32, n_width: int = 12,
                     chunk_elements: int = 4_000_000) -> TokenFits:
    """Fit a line and a reverse sigmoid in x to every token's losses, vectorised.

    Parameters
    ----------
    loss : ndarray, shape (T, M)
        Finite losses (nats) of T tokens under M models.
    x : ndarray, shape (M,)
        log10 of the models' sizes (or steps).
    n_x0, n_width : int
        The sigmoid grid, see :func:`sigmoid_grid`.
    chunk_elements : int
        Tokens are processed in chunks of about ``chunk_elements / grid size``.

    Notes
    -----
    Line: ordinary least squares, closed form. Sigmoid: ``y = lo + (hi - lo)·s`` with
    ``s = σ(-k(x - x0))``. For a fixed grid point ``(x0, width)`` this is a least-squares fit on the
    constant and ``s``; with ``q`` the unit vector along ``s - mean(s)``, the residual is
    ``|y - ȳ|² - (q·(y - ȳ))²`` and ``hi - lo = q·(y - ȳ) / |s - mean(s)|``. So one matrix product
    ``(Y - Ȳ) Q`` scores every grid point for every token, and the best falling fit (hi > lo) is the
    largest positive ``q·(y - ȳ)``. A token with no falling fit gets the constant fit (``x0`` NaN,
    ``hi = lo`` = mean).
    """
    from quanta.progress import progress

    Y = np.asarray(loss)
    x = np.asarray(x, dtype=np.float64)
    T, M = Y.shape
    if x.shape != (M,):
        raise QuantaError(f"x: expected {M} values, one per model, got shape {x.shape}", "pass log10 sizes")
    xc = x - x.mean()
    sxx = float(xc @ xc)

    x0g, wg = sigmoid_grid(x, n_x0=n_x0, n_width=n_width)
    S = _sigmoid_design(x, x0g, wg)                      # (G, M)
    Sc = S - S.mean(axis=1, keepdims=True)               # the sigmoid's part orthogonal to the constant
    norm = np.sqrt(np.einsum("gm,gm->g", Sc, Sc))
    ok = norm > 1e-6 * np.sqrt(M)
    x0g, wg, S, Sc, norm = x0g[ok], wg[ok], S[ok], Sc[ok], norm[ok]
    G = x0g.size
    Q = (Sc / norm[:, None]).T.copy()                    # (M, G): unit vectors q_g
    smean = S.mean(axis=1)

    ymean = np.empty(T)
    sst = np.empty(T)
    slope = np.zeros(T)
    lo = np.empty(T)
    hi = np.empty(T)
    x0 = np.full(T, np.nan)
    width = np.full(T, np.nan)
    sse_sig = np.empty(T)
    step = max(1, int(chunk_elements // max(G, M)))
    for s0 in progress(range(0, T, step), total=-(-T // step), desc="token fits", unit="chunk"):
        sl = slice(s0, min(T, s0 + step))
        y = Y[sl].astype(np.float64)
        ym = y.mean(axis=1)
        yc = y - ym[:, None]
        ss = np.einsum("tm,tm->t", yc, yc)
        ymean[sl], sst[sl] = ym, ss
        if sxx > 0:
            slope[sl] = (yc @ xc) / sxx
        lo[sl] = hi[sl] = ym
        sse_sig[sl] = ss
        z = yc @ Q                                       # (t, G): q_g · (y - ȳ); > 0 means a falling fit
        best = np.argmax(z, axis=1)
        zb = z[np.arange(best.size), best]
        good = zb > 0
        idx = np.arange(sl.start, sl.stop)[good]
        bg = best[good]
        drop = zb[good] / norm[bg]                       # hi - lo of y = lo + (hi - lo)·s_g
        lo[idx] = ymean[idx] - drop * smean[bg]
        hi[idx] = lo[idx] + drop
        x0[idx] = x0g[bg]
        width[idx] = wg[bg]
        sse_sig[idx] = np.maximum(sst[idx] - zb[good] ** 2, 0.0)
    intercept = ymean - slope * x.mean()
    sse_line = np.maximum(sst - slope**2 * sxx, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_line = np.where(sst > 0, 1 - sse_line / sst, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_sig = np.where(sst > 0, 1 - sse_sig / sst, np.nan)
    return TokenFits(slope=slope, intercept=intercept, r2_line=r2_line, sse_line=sse_line, lo=lo, hi=hi, x0=x0,
                     width=width, sse_sigmoid=sse_sig, r2_sigmoid=r2_sig, sst=sst)


def classify_tokens(fits: TokenFits, loss: np.ndarray, x: np.ndarray, cfg: AnalyzeConfig) -> np.ndarray:
    """Label every token ``monogenic``, ``polygenic`` or ``neither`` (object array of shape (T,)).

    ``cfg.criteria == "sigmoid"`` (default), with gap = :func:`model_gap` of x:

    * monogenic: hi - lo >= min_drop, R²_sigmoid >= min_r2_sigmoid,
      SSE_sigmoid <= max_sse_ratio · SSE_line, width <= max_width · gap, and at least ``min_side``
      models on each side of x0;
    * polygenic (if not monogenic): slope <= max_slope (nats per decade) and R²_line >= min_r2_line;
    * neither: the rest.

    ``"reference"``: monogenic when, for some split j (1 <= j < M, models ordered by x), every loss
    before j is above ref_high and every loss from j on is below ref_low; polygenic (if not
    monogenic) when slope < ref_slope and R²_line > ref_r2.
    """
    Y = np.asarray(loss)
    x = np.asarray(x, dtype=np.float64)
    T, M = Y.shape
    with np.errstate(invalid="ignore"):
        if cfg.criteria == "reference":
            order = np.argsort(x, kind="stable")
            Ys = Y[:, order]
            above = np.cumprod(Ys > cfg.ref_high, axis=1).astype(bool)                 # all before j (incl.)
            below = np.cumprod((Ys < cfg.ref_low)[:, ::-1], axis=1)[:, ::-1].astype(bool)  # all from j on
            mono = np.zeros(T, dtype=bool)
            for j in range(1, M):
                mono |= above[:, j - 1] & below[:, j]
            poly = ~mono & (fits.slope < cfg.ref_slope) & (fits.r2_line > cfg.ref_r2)
        else:
            gap = model_gap(x)
            n_left = np.sum(x[None, :] < fits.x0[:, None], axis=1)
            n_right = np.sum(x[None, :] > fits.x0[:, None], axis=1)
            mono = ((fits.hi - fits.lo) >= cfg.min_drop) & (fits.r2_sigmoid >= cfg.min_r2_sigmoid) \
                & (fits.sse_sigmoid <= cfg.max_sse_ratio * fits.sse_line) & (fits.sse_line > 0) \
                & (fits.width <= cfg.max_width * gap) & (n_left >= cfg.min_side) & (n_right >= cfg.min_side) \
                & np.isfinite(fits.x0)
            poly = ~mono & (fits.slope <= cfg.max_slope) & (fits.r2_line >= cfg.min_r2_line)
    labels = np.full(T, "neither", dtype=object)
    labels[poly] = "polygenic"
    labels[mono] = "monogenic"
    return labels


def classification_nulls(loss: np.ndarray, x: np.ndarray, cfg: AnalyzeConfig, *, seed: int = 0) -> dict:
    """The monogenic and polygenic shares of two worlds where sizes carry no learning, for beside the observed.

    * ``permuted``: each token's losses shuffled across the model sizes (its own permutation per token), which
      keeps every token's set of losses and destroys their order;
    * ``reversed``: the sizes in reverse order, so that a token "learned" with size is one that got worse.

    A classification whose observed share is near its null share is at noise level. Returns
    ``share_{label}_null_permuted`` and ``share_{label}_null_reversed`` for the monogenic and polygenic labels.
    """
    rng = np.random.default_rng(seed)
    T, M = loss.shape
    perm = np.argsort(rng.random((T, M)), axis=1)
    worlds = {"permuted": np.take_along_axis(loss, perm, axis=1), "reversed": loss[:, ::-1]}
    out = {}
    for name, L in worlds.items():
        fits = fit_token_curves(L, x, n_x0=cfg.n_x0, n_width=cfg.n_width, chunk_elements=cfg.chunk_elements)
        labels = classify_tokens(fits, L, x, cfg)
        for lab in ("monogenic", "polygenic"):
            out[f"share_{lab}_null_{name}"] = float((labels == lab).mean()) if T else None
    return out


def learning_sizes(fits: TokenFits, x: np.ndarray, *, min_drop: float) -> np.ndarray:
    """10^x0 for tokens whose fitted sigmoid falls by at least ``min_drop`` nats with x0 inside the
    range of x (the token is learned within the suite); NaN otherwise."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(fits.x0) & ((fits.hi - fits.lo) >= min_drop) & (fits.x0 > x.min()) & (fits.x0 < x.max())
    return np.where(ok, 10.0 ** np.where(ok, fits.x0, 0.0), np.nan)


def learning_size_distribution(sizes: np.ndarray, labels: np.ndarray, x: np.ndarray) -> pd.DataFrame:
    """Counts of learning sizes on bins between adjacent models (edges at the models and the midpoints
    of adjacent models, in log10), for all tokens with a learning size and for monogenic tokens.

    Columns: ``group`` (``all`` or ``monogenic``), ``bin_lo``, ``bin_hi`` (in units of N or steps),
    ``count``, ``share`` (of the group), ``cumulative_share``.
    """
    u = np.unique(np.asarray(x, dtype=np.float64))
    edges = np.unique(np.concatenate([u, (u[1:] + u[:-1]) / 2]))
    if edges.size < 2:
        edges = np.array([u[0] - 0.5, u[0] + 0.5])
    lx = np.log10(sizes)
    rows = []
    for group, mask in (("all", np.isfinite(lx)), ("monogenic", np.isfinite(lx) & (labels == "monogenic"))):
        cnt, _ = np.histogram(lx[mask], bins=edges)
        tot = cnt.sum()
        share = cnt / tot if tot else np.zeros(cnt.size)
        rows.append(pd.DataFrame({"group": group, "bin_lo": 10.0 ** edges[:-1], "bin_hi": 10.0 ** edges[1:],
                                  "count": cnt.astype(np.int64), "share": share,
                                  "cumulative_share": np.cumsum(share)}))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------- contexts
def load_tokenizer(losses_dir):
    """The tokenizer copied by ``quanta lm losses`` (``tokenizer/tokenizer.json``), or None if absent."""
    path = Path(losses_dir) / "tokenizer" / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises its own exception type
        raise QuantaError(f"{path} cannot be loaded ({str(exc).splitlines()[0][:200]})",
                          "the tokenizer copy is damaged; re-run `quanta lm losses`") from exc


def token_contexts(lm: LossMatrix, rows: np.ndarray, tokenizer=None, *, before: int = 40,
                   after: int = 8) -> pd.DataFrame:
    """Context strings around chosen tokens (row indices of ``lm``).

    The document's tokens come from the losses table itself (the token predicted at each pos, so
    the document's first token, pos 0, is never shown). Returns ``context_before``, ``token_text``,
    ``context_after`` (so a report can highlight the token) and ``token_ids`` of the window.
    Without a tokenizer the strings are ``⟨id⟩`` sequences.
    """
    out = []
    for r in np.asarray(rows, dtype=np.int64):
        d, p = lm.doc[r], int(lm.pos[r])
        lo = np.searchsorted(lm.doc, d, side="left")
        hi = np.searchsorted(lm.doc, d, side="right")
        pos = lm.pos[lo:hi]
        a = lo + np.searchsorted(pos, p - before, side="left")
        b = lo + np.searchsorted(pos, p + after, side="right")
        ids_before = lm.token_id[a:r].tolist()
        ids_after = lm.token_id[r + 1:b].tolist()
        tok = int(lm.token_id[r])
        if tokenizer is None:
            fmt = lambda ids: "".join(f"⟨{i}⟩" for i in ids)  # noqa: E731
            cb, tt, ca = fmt(ids_before), fmt([tok]), fmt(ids_after)
        else:
            cb = tokenizer.decode(ids_before, skip_special_tokens=False)
            with_tok = tokenizer.decode(ids_before + [tok], skip_special_tokens=False)
            tt = with_tok[len(cb):] if with_tok.startswith(cb) else tokenizer.decode([tok], skip_special_tokens=False)
            full = tokenizer.decode(ids_before + [tok] + ids_after, skip_special_tokens=False)
            ca = full[len(with_tok):] if full.startswith(with_tok) else tokenizer.decode(ids_after,
                                                                                         skip_special_tokens=False)
        out.append({"context_before": cb, "token_text": tt, "context_after": ca,
                    "token_ids": ids_before + [tok] + ids_after, "token_index": len(ids_before)})
    return pd.DataFrame(out, columns=["context_before", "token_text", "context_after", "token_ids", "token_index"])


def pick_examples(labels: np.ndarray, score: np.ndarray, token_id: np.ndarray, label: str, n: int) -> np.ndarray:
    """Rows of the ``n`` highest-scoring tokens with ``label``, at most one per token id."""
    cand = np.flatnonzero((labels == label) & np.isfinite(score))
    cand = cand[np.argsort(-score[cand], kind="stable")]
    _, first = np.unique(token_id[cand], return_index=True)
    keep = cand[np.sort(first)]
    return keep[:n]


# ----------------------------------------------------------------------------------- engine
def analyze_losses(losses_dir, out, cfg: AnalyzeConfig | None = None, *, force: bool = False,
                   argv: list[str] | None = None) -> dict:
    """Run the whole analysis of a ``quanta lm losses`` directory into the run directory ``out``.

    Parameters
    ----------
    losses_dir : path
        A finished ``quanta lm losses`` run.
    out : path
        The run directory to write (see the module docstring for its tables and figures).
    cfg : AnalyzeConfig, optional
    force : bool
        Overwrite a run in ``out``.
    argv : list of str, optional
        The command line, for the manifest.

    Returns
    -------
    dict
        The summary as written to ``summary.json``.
    """
    from quanta.store import Run

    cfg = cfg or AnalyzeConfig()
    Run.open(losses_dir, command="lm losses")  # a finished losses run, or a one-line error
    models = read_models(losses_dir)
    config = dict(dataclasses.asdict(cfg), losses_dir=str(Path(losses_dir).resolve()))
    with Run.create(out, command="lm analyze", config=config, seed=cfg.seed, device="cpu", argv=argv,
                    force=force) as run:
        with run.timer("load"):
            lm = load_loss_matrix(losses_dir, models)
        summary = _analyze(run, lm, cfg, losses_dir)
        return run.finish(summary)


def _analyze(run, lm: LossMatrix, cfg: AnalyzeConfig, losses_dir) -> dict:
    models = lm.models
    mode = detect_mode(models) if cfg.mode == "auto" else cfg.mode
    if mode == "dynamics" and (models["step"] < 0).all():
        raise QuantaError("mode: dynamics needs the models' training steps, but models.parquet has step = -1",
                          "use --mode suite, or compute losses of checkpoints with known steps")
    xname = "step" if mode == "dynamics" else "n_params_nonembed"
    complete = np.all(np.isfinite(lm.loss), axis=1)
    n_dropped = int((~complete).sum())
    if not complete.any():
        raise QuantaError(f"{losses_dir}: no token has a finite loss under every model",
                          "the losses run is empty or its models cover different documents")
    if n_dropped:
        log.warning("%d of %d tokens lack a finite loss for some model and are left out", n_dropped, complete.size)
    lm = lm._replace(doc=lm.doc[complete], pos=lm.pos[complete], token_id=lm.token_id[complete],
                     loss=lm.loss[complete])
    L = lm.loss
    T, M = L.shape

    summary: dict = {"mode": mode, "n_models": M, "n_tokens": T, "n_tokens_left_out": n_dropped,
                     "n_docs": int(np.unique(lm.doc).size), "low_loss": cfg.low_loss}

    # distributions
    with run.timer("distribution"):
        dist = loss_distribution(L, models, n_bins=cfg.n_bins, loss_floor=cfg.loss_floor)
        msum = summarize_models(L, models, low_loss=cfg.low_loss)
        run.write_table("distribution", dist)
        run.write_table("models_summary", msum)
    summary["mean_loss"] = dict(zip(msum["model"], msum["mean_loss"]))
    summary["share_below"] = dict(zip(msum["model"], msum["share_below"]))

    # x of the fits: log10 N, or log10 step over checkpoints with step > 0
    xv = models[xname].to_numpy(dtype=np.float64)
    fit_cols = np.flatnonzero(xv > 0)
    fit_cols = fit_cols[np.argsort(xv[fit_cols], kind="stable")]  # small to large x
    summary["n_fit_models"] = int(fit_cols.size)
    xs = np.log10(xv[fit_cols]) if fit_cols.size else np.array([])

    # mean-loss scaling
    key = "alpha_S" if mode == "dynamics" else "alpha_N"
    with run.timer("scaling_fit"):
        fit, fit_error = _mean_loss_fit(xv[fit_cols], msum["mean_loss"].to_numpy()[fit_cols], cfg)
    summary[f"{key}_n_points"] = int(fit_cols.size)
    if fit is not None:
        summary[key] = fit.alpha
        summary[f"{key}_ci"] = list(fit.alpha_ci)
        summary["L_inf"] = fit.L_inf
        summary["A"] = fit.A
        summary["fit_r2"] = fit.r2
        summary["fit_offset"] = fit.offset
        summary["ci_level"] = fit.ci_level
        if mode == "dynamics":
            # α_S = α/(α+1)  =>  α = α_S/(1-α_S), Zipf exponent α+1 = 1/(1-α_S); none for α_S >= 1
            summary["alpha_implied"] = alpha_from_scaling(fit.alpha, "steps") if fit.alpha < 1 else None
            summary["zipf_pred"] = frequency_exponent_from_scaling(fit.alpha, "steps") if fit.alpha < 1 else None
            summary["zipf_pred_ci"] = [frequency_exponent_from_scaling(a, "steps") if a < 1 else None
                                       for a in fit.alpha_ci]
        else:
            summary["zipf_pred"] = frequency_exponent_from_scaling(fit.alpha, "params")
            summary["zipf_pred_ci"] = [frequency_exponent_from_scaling(a, "params") for a in fit.alpha_ci]
    else:
        summary[key] = None
        summary[f"{key}_ci"] = None
        summary["zipf_pred"] = None
        summary["fit_error"] = fit_error

    # per-token curves
    tokens_df = None
    fits = None
    labels = None
    if fit_cols.size >= 3 and np.unique(xs).size >= 3:
        with run.timer("token_fits"):
            Lf = L[:, fit_cols]
            fits = fit_token_curves(Lf, xs, n_x0=cfg.n_x0, n_width=cfg.n_width, chunk_elements=cfg.chunk_elements)
            labels = classify_tokens(fits, Lf, xs, cfg)
            sizes = learning_sizes(fits, xs, min_drop=cfg.min_drop)
            size_col = "learning_step" if mode == "dynamics" else "learning_size"
            drop = fits.hi - fits.lo
            score = np.where(labels == "monogenic", drop * np.nan_to_num(fits.r2_sigmoid),
                             np.where(labels == "polygenic", -fits.slope * np.nan_to_num(fits.r2_line), np.nan))
            with np.errstate(invalid="ignore", divide="ignore"):
                sse_ratio = np.where(fits.sse_line > 0, fits.sse_sigmoid / fits.sse_line, np.nan)
            tokens_df = pd.DataFrame({
                "doc": lm.doc, "pos": lm.pos, "token_id": lm.token_id,
                "label": pd.Categorical(labels, categories=list(LABELS)),
                size_col: sizes,
                "loss_first": Lf[:, 0], "loss_last": Lf[:, -1],
                "slope": fits.slope, "r2_line": fits.r2_line,
                "sigmoid_lo": fits.lo, "sigmoid_hi": fits.hi, "drop": drop,
                "x0_log10": fits.x0, "width_decades": fits.width,
                "r2_sigmoid": fits.r2_sigmoid, "sse_ratio": sse_ratio, "score": score,
            })
            run.write_table("tokens", tokens_df)
            lsd = learning_size_distribution(sizes, labels, xs)
            run.write_table("learning_sizes", lsd)
        counts = {lab: int((labels == lab).sum()) for lab in LABELS}
        summary.update({f"n_{lab}": counts[lab] for lab in LABELS})
        summary.update({f"share_{lab}": counts[lab] / T for lab in LABELS})
        summary["criteria"] = cfg.criteria
        with run.timer("token_nulls"):
            summary.update(classification_nulls(Lf, xs, cfg))
        summary["gap_decades"] = model_gap(xs)
        mono_sizes = sizes[labels == "monogenic"]
        mono_sizes = mono_sizes[np.isfinite(mono_sizes)]
        summary[f"{size_col}_median"] = float(np.median(mono_sizes)) if mono_sizes.size else None
        summary[f"{size_col}_quartiles"] = (np.quantile(mono_sizes, [0.25, 0.75]).tolist()
                                            if mono_sizes.size else None)
        summary[f"n_with_{size_col}"] = int(np.isfinite(sizes).sum())

        # examples
        with run.timer("examples"):
            tokenizer = load_tokenizer(losses_dir)
            summary["contexts"] = "decoded" if tokenizer is not None else "token ids (no tokenizer/ in the losses run)"
            ex = _examples(lm, labels, score, Lf, xs, xv[fit_cols], cfg, tokenizer, losses_dir, size_col, sizes)
            run.write_table("examples", ex)
            run.write_json("examples", {"x": xname, "examples": ex.to_dict(orient="records")})
    else:
        summary["token_analysis"] = f"skipped: needs >= 3 models with distinct {xname} > 0, got {fit_cols.size}"

    if cfg.figures:
        with run.timer("figures"):
            _figures(run, dist, msum, models, xname, fit, fit_cols, L, labels, fits, tokens_df, xs, cfg, mode)
    return summary


def _mean_loss_fit(x, y, cfg):
    """fit_power_law on the mean losses; returns (fit, None) or (None, reason)."""
    if len(x) < 3:
        return None, f"needs >= 3 models with x > 0, got {len(x)}"
    from quanta.fit import fit_loss_law, fit_power_law

    try:
        if not cfg.fit_offset:
            return fit_power_law(x, y, offset=False, n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed), None
        # as in parity analyze: the profile interval (valid where L_inf sits on its bound) and >= 3 degrees of
        # freedom; a suite of 5 model sizes has 2 for a 3-parameter law and gets no exponent, with the reason
        return fit_loss_law(x, y, ci=cfg.ci, seed=cfg.seed), None
    except QuantaError as exc:
        return None, exc.one_line()


def _examples(lm, labels, score, Lf, xs, xraw, cfg, tokenizer, losses_dir, size_col, sizes) -> pd.DataFrame:
    from quanta.store import Run

    docs = None
    src = Run(losses_dir)
    if src.has_table("docs"):
        d = src.read_table("docs")
        if {"doc", "source"} <= set(d.columns):
            docs = dict(zip(d["doc"].to_numpy(), d["source"].astype(str)))
    parts = []
    for label in ("monogenic", "polygenic"):
        rows = pick_examples(labels, score, lm.token_id, label, cfg.n_examples)
        if rows.size == 0:
            continue
        ctx = token_contexts(lm, rows, tokenizer, before=cfg.context_before, after=cfg.context_after)
        ctx.insert(0, "label", label)
        ctx.insert(1, "rank", np.arange(rows.size, dtype=np.int32))
        ctx.insert(2, "doc", lm.doc[rows])
        ctx.insert(3, "pos", lm.pos[rows])
        ctx.insert(4, "token_id", lm.token_id[rows])
        ctx["source"] = [docs.get(d) if docs else None for d in lm.doc[rows]]
        ctx["score"] = score[rows]
        ctx[size_col] = sizes[rows]
        ctx["x"] = [xraw.tolist()] * rows.size
        ctx["losses"] = [Lf[r].astype(float).tolist() for r in rows]
        parts.append(ctx)
    if not parts:
        return pd.DataFrame(columns=["label", "rank", "doc", "pos", "token_id", "context_before", "token_text",
                                     "context_after", "token_ids", "token_index", "source", "score", size_col,
                                     "x", "losses"])
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------------- figures
def _figures(run, dist, msum, models, xname, fit, fit_cols, L, labels, fits, tokens_df, xs, cfg, mode):
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    xlabel = "training step" if mode == "dynamics" else "non-embedding parameters N"
    M = len(models)
    cmap = colormaps["viridis"]
    colors = [cmap(i / max(M - 1, 1)) for i in range(M)]

    # loss histograms, overlaid (paper Fig. 3 style) and loss-weighted
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for m, name in enumerate(models["model"]):
        d = dist[dist["model"] == name]
        d = d[d["bin"] > 0]
        mid = np.sqrt(d["bin_lo"] * d["bin_hi"])
        lab = f"{name}" if M <= 12 else None
        axes[0].plot(mid, d["share"], color=colors[m], label=lab)
        axes[1].plot(mid, d["mean_loss_contrib"], color=colors[m], label=lab)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("per-token loss (nats)")
        ax.axvline(cfg.low_loss, color="0.6", lw=0.8, ls="--")
    axes[0].set_ylabel("share of tokens per log bin")
    axes[0].set_title("loss distribution")
    axes[1].set_ylabel("contribution to mean loss per log bin (nats)")
    axes[1].set_title("loss-weighted distribution L·p(L)")
    if M <= 12:
        axes[0].legend(fontsize=7)
    run.save_figure(fig, "loss_distribution")

    # mean loss and share below against x
    xv = models[xname].to_numpy(dtype=np.float64)
    pos_ = xv > 0
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    ax.plot(xv[pos_], msum["mean_loss"].to_numpy()[pos_], "o", color="C0", label="mean loss")
    if fit is not None:
        grid = np.geomspace(xv[fit_cols].min(), xv[fit_cols].max(), 100)
        sym, var = ("α_S", "S") if mode == "dynamics" else ("α_N", "N")
        ax.plot(grid, fit.predict(grid), "-", color="C1",
                label=f"L∞ + A·{var}^-{sym} = {fit.alpha:.3g} [{fit.alpha_ci[0]:.3g}, {fit.alpha_ci[1]:.3g}]")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean loss (nats)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(xv[pos_], msum["share_below"].to_numpy()[pos_], "o-")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"share of tokens below {cfg.low_loss:g} nats")
    run.save_figure(fig, "mean_loss_scaling")

    if labels is None:
        return
    rng = np.random.default_rng(cfg.seed)
    xp = 10.0 ** xs
    Lf = L[:, fit_cols]
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, lab in zip(axes, LABELS):
        rows = np.flatnonzero(labels == lab)
        show = rng.choice(rows, size=min(30, rows.size), replace=False) if rows.size else rows
        for r in show:
            ax.plot(xp, Lf[r], "-", color="0.4", alpha=0.35, lw=0.8)
        if rows.size:
            ax.plot(xp, np.median(Lf[rows], axis=0), "-", color="C3", lw=2, label="median")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_title(f"{lab}: {rows.size} tokens ({rows.size / max(labels.size, 1):.1%})")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("per-token loss (nats)")
    run.save_figure(fig, "token_curves")

    size_col = "learning_step" if mode == "dynamics" else "learning_size"
    sizes = tokens_df[size_col].to_numpy()
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    u = np.unique(xs)
    edges = 10.0 ** np.unique(np.concatenate([u, (u[1:] + u[:-1]) / 2]))
    for grp, mask, col in (("all tokens with a drop", np.isfinite(sizes), "0.6"),
                           ("monogenic", np.isfinite(sizes) & (labels == "monogenic"), "C3")):
        if mask.any():
            ax.hist(sizes[mask], bins=edges, color=col, alpha=0.7, label=f"{grp} ({int(mask.sum())})")
    for v in xp:
        ax.axvline(v, color="0.85", lw=0.6, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel(f"learning {'step' if mode == 'dynamics' else 'size'} (sigmoid transition point)")
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8)
    run.save_figure(fig, "learning_sizes")

    _examples_figure(run, xp, xlabel, cfg)


def _examples_figure(run, xp, xlabel, cfg):
    from matplotlib.figure import Figure

    ex = pd.read_parquet(run.table_path("examples"))
    if ex.empty:
        return
    n = len(ex)
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig = Figure(figsize=(5.2 * ncol, 3.6 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (_, e) in zip(axes.ravel(), ex.iterrows()):
        ax.plot(xp, e["losses"], "o-", ms=3, color="C3" if e["label"] == "monogenic" else "C0")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel, fontsize=7)
        ax.set_ylabel("loss (nats)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{e['label']} #{int(e['rank']) + 1} (doc {int(e['doc'])}, pos {int(e['pos'])})", fontsize=8)
        _highlight_text(ax, _clean(e["context_before"], 90, left=True), _clean(e["token_text"], 20),
                        _clean(e["context_after"], 20))
    fig.subplots_adjust(hspace=1.0, wspace=0.3)
    run.save_figure(fig, "examples")


def _clean(s: str, n: int, left: bool = False) -> str:
    s = (s or "").replace("\n", "⏎").replace("\t", "→").replace("$", r"\$")
    if len(s) > n:
        s = ("…" + s[-n:]) if left else (s[:n] + "…")
    return s


def _highlight_text(ax, before: str, token: str, after: str, width: int = 48) -> None:
    """Write ``before`` ``token`` ``after`` under the axes in lines of ``width`` characters, the token on a
    highlighted box and the text after it in grey."""
    lines = [before[i:i + width] for i in range(0, len(before), width)] or [""]
    last = lines.pop()
    y = -0.36
    for line in lines:
        ax.text(0.0, y, line, transform=ax.transAxes, fontsize=7, family="monospace", va="top")
        y -= 0.1
    t1 = ax.text(0.0, y, last, transform=ax.transAxes, fontsize=7, family="monospace", va="top")
    t2 = ax.annotate(token if token.strip() else token.replace(" ", "␣"), xycoords=t1, xy=(1, 0), va="bottom",
                     fontsize=7, family="monospace", color="black",
                     bbox=dict(boxstyle="square,pad=0.1", fc="#ffb3b3", ec="none"))
    room = max(0, width - len(last) - len(token))
    ax.annotate(after[:room] + ("…" if len(after) > room else ""), xycoords=t2, xy=(1, 0), va="bottom",
                fontsize=7, family="monospace", color="0.5")

"""The per-token loss matrix of a ``quanta lm losses`` run: its shards, its models and the token-by-model array.

:func:`load_loss_matrix` reads ``losses/part-*.parquet`` into one ``(T, M)`` float array keyed by (doc, pos),
:func:`read_models` reads ``models.parquet`` in the run's order and :func:`detect_mode` tells a suite of sizes from
the checkpoints of one model (docs/tables.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from quanta.errors import QuantaError


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
                          "pass the run directory of a finished `quanta lm losses` run (its out=DIR)")
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
        t = _read(pq, shard, ["model", "loss"])
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

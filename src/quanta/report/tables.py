"""Reading a run directory's tables for the report, cheaply, and finding the ones with token contexts.

Large tables (the per-token losses of an LM run hold millions of rows) are never loaded whole: the row
count and schema come from the parquet metadata and a preview from the first record batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quanta.store import MANIFEST

# Accepted spellings of the three parts of a token in context, first match wins.
BEFORE_COLUMNS = ("context_before", "before", "prefix", "left_context")
TOKEN_COLUMNS = ("token", "token_str", "token_text")
AFTER_COLUMNS = ("context_after", "after", "suffix", "right_context")
# Two list columns of a context table drawn as a sparkline per token: x (model size) and the losses there.
CURVE_COLUMNS = (("x", "losses"),)
# Columns that group contexts: clusters (the cluster browser) or kinds of tokens (a table per kind).
CLUSTER_COLUMNS = ("cluster", "part")  # QDG's clusters; the parts contract's parts
SIZE_COLUMNS = ("size", "cluster_size", "count")
RANK_COLUMNS = ("member_rank", "rank_in_cluster", "rank")  # a member's rank first: a parts table's "rank" is its part's
KIND_COLUMNS = ("label", "kind", "category", "class", "type", "group")


@dataclass(frozen=True)
class TableInfo:
    """What the report knows about one parquet table (or folder of parquet parts) without reading it."""

    name: str
    paths: tuple[Path, ...]
    n_rows: int
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    error: str | None = None  # why the table could not be read (then it has no rows or columns)

    @property
    def n_parts(self) -> int:
        return len(self.paths)

    def read(self, n_rows: int | None = None) -> pd.DataFrame:
        """All rows (``n_rows=None``) or the first ``n_rows`` rows, from the first part(s) on."""
        if n_rows is None:
            return pd.concat([pd.read_parquet(p) for p in self.paths], ignore_index=True)
        frames, left = [], n_rows
        for p in self.paths:
            for batch in pq.ParquetFile(p).iter_batches(batch_size=max(1, left)):
                frames.append(batch.to_pandas())
                left -= batch.num_rows
                if left <= 0:
                    break
            if left <= 0:
                break
        if not frames:
            return pd.DataFrame(columns=list(self.columns))
        return pd.concat(frames, ignore_index=True).head(n_rows)


def table_info(name: str, paths: list[Path]) -> TableInfo:
    """Row count, columns and types of a parquet file or of a folder's parts (schema of the first)."""
    paths = sorted(paths)
    try:
        n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        schema = pq.read_schema(paths[0])
    except (OSError, pa.ArrowException) as exc:  # damaged or half-written by a killed run
        return TableInfo(name=name, paths=tuple(paths), n_rows=0, columns=(), dtypes=(),
                         error=" ".join(f"{type(exc).__name__}: {exc}".split())[:300])
    return TableInfo(name=name, paths=tuple(paths), n_rows=int(n_rows), columns=tuple(schema.names),
                     dtypes=tuple(str(t) for t in schema.types))


def list_tables(run_path: Path) -> list[TableInfo]:
    """The run's ``*.parquet`` tables, then its folders of parquet parts (``losses/part-*.parquet``).

    Hidden files (the temporary files of an atomic write) and nested run directories are left out.
    """
    out = [table_info(p.stem, [p]) for p in sorted(run_path.glob("*.parquet")) if not p.name.startswith(".")]
    subdirs = (p for p in run_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    for sub in sorted(p for p in subdirs if not (p / MANIFEST).exists()):  # nested runs are runs
        parts = sorted(p for p in sub.glob("*.parquet") if not p.name.startswith("."))
        if parts:
            out.append(table_info(f"{sub.name}/", parts))
    return out


def _first(columns, names) -> str | None:
    return next((c for c in names if c in columns), None)


@dataclass(frozen=True)
class ContextColumns:
    """The columns of a table that hold tokens in context, and what groups them."""

    before: str
    token: str
    after: str
    cluster: str | None
    kind: str | None
    curve: tuple[str, str] | None = None
    size: str | None = None
    rank: str | None = None
    unit: str | None = None  # what a cluster summary counts: the planted task when the table has one, else the token


#: Columns naming the planted unit a context belongs to (``quanta qdg parity``: the task, whose label y is the
#: "token"): a cluster's summary counts these, not the tokens.
UNIT_COLUMNS = ("task",)


def context_columns(columns) -> ContextColumns | None:
    """The context columns of a table with these ``columns``, or None when it holds no contexts.

    A context table needs a token column and at least one of the before/after columns.
    """
    columns = set(columns)
    token = _first(columns, TOKEN_COLUMNS)
    before = _first(columns, BEFORE_COLUMNS)
    after = _first(columns, AFTER_COLUMNS)
    if token is None or (before is None and after is None):
        return None
    curve = next((pair for pair in CURVE_COLUMNS if set(pair) <= columns), None)
    return ContextColumns(before=before or "", token=token, after=after or "",
                          cluster=_first(columns, CLUSTER_COLUMNS), kind=_first(columns, KIND_COLUMNS), curve=curve,
                          size=_first(columns, SIZE_COLUMNS), rank=_first(columns, RANK_COLUMNS),
                          unit=_first(columns, UNIT_COLUMNS))

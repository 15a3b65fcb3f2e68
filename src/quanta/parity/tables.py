"""The tables of a parity run, checked against their schema (docs/tables.md): from a run directory or in memory.

:func:`load_parity_run` opens a finished ``quanta parity run`` directory; :func:`parity_tables` wraps the
tables :func:`quanta.parity.train.train_sweep` returns, so a sweep trained in a notebook is analysed as its
run directory would be (:func:`quanta.parity.analyze.analyze_parity` takes either).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quanta.errors import check
from quanta.store import Run

#: Columns each table of a parity run must have (docs/tables.md, ``quanta parity run``).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "tasks": ("alpha", "task", "p"),
    "models": ("model", "width", "n_params", "seed", "D", "alpha", "final_loss", "best_loss", "best_step",
               "steps"),
    "eval": ("model", "step", "task", "loss"),
    "eval_mean": ("model", "step", "loss"),
}


@dataclass
class ParityTables:
    """The tables of a parity run, checked against the documented schema."""

    path: Path
    config: dict
    tasks: pd.DataFrame
    models: pd.DataFrame
    eval: pd.DataFrame
    eval_mean: pd.DataFrame


def load_parity_run(run_dir: str | os.PathLike) -> ParityTables:
    """Open a finished ``quanta parity run`` directory and read its tables.

    Raises
    ------
    QuantaError
        When ``run_dir`` is not a run directory, holds another command's run, is unfinished,
        or lacks a table or a documented column.
    """
    run = Run.open(run_dir, command="parity run")
    tables = {}
    for name, cols in REQUIRED_COLUMNS.items():
        df = run.read_table(name)
        missing = [c for c in cols if c not in df.columns]
        check(not missing, f"{run.table_path(name)} lacks the column(s) {', '.join(missing)}",
              "the run was made by an incompatible version; re-run `quanta parity run`")
        tables[name] = df
    check(len(tables["models"]) > 0 and len(tables["eval"]) > 0 and len(tables["tasks"]) > 0,
          f"{run.path} holds empty tables (models: {len(tables['models'])}, eval: {len(tables['eval'])}, "
          f"tasks: {len(tables['tasks'])} rows)", "re-run `quanta parity run`")
    return ParityTables(path=run.path, config=run.config, **tables)

"""The tables of a parity run, checked against their schema (docs/tables.md): from a run directory or in memory.

:func:`load_parity_run` opens a finished ``quanta parity run`` directory; :func:`parity_tables` wraps the
tables :func:`quanta.parity.train.train_sweep` returns, so a sweep trained in a notebook is analysed as its
run directory would be (:func:`quanta.parity.analyze.analyze_parity` takes either).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    """The tables of a parity run, checked against the documented schema.

    ``path`` is the run directory, or None for tables held only in memory (:func:`parity_tables`).
    """

    path: Path | None
    config: dict
    tasks: pd.DataFrame
    models: pd.DataFrame
    eval: pd.DataFrame
    eval_mean: pd.DataFrame


def _check_tables(tables: Mapping[str, pd.DataFrame], where: str, name_of, hint_columns: str,
                  hint_empty: str) -> dict[str, pd.DataFrame]:
    """The four tables of REQUIRED_COLUMNS, each with its columns, none empty (``name_of(name)`` says in an
    error message where a table came from)."""
    out = {}
    for name, cols in REQUIRED_COLUMNS.items():
        check(name in tables, f"{where} lacks the table {name!r}", hint_columns)
        df = tables[name]
        missing = [c for c in cols if c not in df.columns]
        check(not missing, f"{name_of(name)} lacks the column(s) {', '.join(missing)}", hint_columns)
        out[name] = df
    check(len(out["models"]) > 0 and len(out["eval"]) > 0 and len(out["tasks"]) > 0,
          f"{where} holds empty tables (models: {len(out['models'])}, eval: {len(out['eval'])}, "
          f"tasks: {len(out['tasks'])} rows)", hint_empty)
    return out


def load_parity_run(run_dir: str | os.PathLike) -> ParityTables:
    """Open a finished ``quanta parity run`` directory and read its tables.

    Raises
    ------
    QuantaError
        When ``run_dir`` is not a run directory, holds another command's run, is unfinished,
        or lacks a table or a documented column.
    """
    run = Run.open(run_dir, command="parity run")
    tables = _check_tables({name: run.read_table(name) for name in REQUIRED_COLUMNS}, str(run.path),
                           run.table_path, "the run was made by an incompatible version; re-run `quanta parity run`",
                           "re-run `quanta parity run`")
    return ParityTables(path=run.path, config=run.config, **tables)


def parity_tables(tables: Mapping[str, pd.DataFrame], *, config: dict | None = None) -> ParityTables:
    """The in-memory tables of a sweep, as :func:`load_parity_run` gives those of its run directory.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        ``tasks``, ``models``, ``eval`` and ``eval_mean``: what :func:`quanta.parity.train.train_sweep`
        returns (other keys are ignored).
    config : dict, optional
        The sweep's settings, e.g. ``dataclasses.asdict(parity_config)`` (kept, not read by the analysis).

    Returns
    -------
    ParityTables
        With ``path=None``; the tables are not copied.

    Raises
    ------
    QuantaError
        When a table or a documented column is missing, or a table is empty.

    Examples
    --------
    >>> from quanta.parity.train import train_sweep
    >>> from quanta.parity.presets import preset_config
    >>> tabs = parity_tables(train_sweep(preset_config("cpu-tiny", {"steps": 20})))
    >>> tabs.path is None, len(tabs.models)
    (True, 4)
    """
    hint = "pass the dict train_sweep returns (tasks, models, eval and eval_mean)"
    out = _check_tables(tables, "the in-memory tables", lambda name: f"the {name!r} table", hint, hint)
    return ParityTables(path=None, config=dict(config or {}), **out)

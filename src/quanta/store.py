"""Run directories: manifest.json, summary.json, tidy parquet tables and figures.

Every command writes one run directory::

    DIR/manifest.json   command line, resolved config, seed, versions, device, times, status
    DIR/summary.json    the headline figures (written last, when the run completes)
    DIR/*.parquet       tidy tables, one row per observation
    DIR/figures/*.png   figures

Every write is atomic: the bytes go to a temporary file in the same folder,
which is then renamed over the target, so a killed command never leaves a
half-written table. A finished run is not written into again unless ``force``;
an unfinished one is continued with ``resume`` (engines that support it).

``manifest.json`` lists the top-level names the run wrote (``files``), so that ``force`` removes those and
keeps what the user added to the folder after the run ended (notes, say).

A run that fails leaves no trap behind: one that failed before writing anything
(or, in a command that cannot resume, failed on bad input) is removed, and a
failed run without a checkpoint to continue is replaced by the next run into
the same directory.

Typical use::

    with Run.create(out, command="theory", config=asdict(cfg), seed=cfg.seed) as run:
        run.write_table("curves", df)
        run.save_figure(fig, "loss_vs_n")
        run.finish({"alpha": 0.4})
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from quanta.errors import QuantaError

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
FIGURES = "figures"
FILES = "files"  # manifest key: the top-level names the run wrote (force removes these and nothing else)
USER_FILES = "user_files"  # manifest key: names that were in the folder before the run and are not its own


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths, tuples and non-finite floats (to None) into plain JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _umask_mode() -> int:
    """The mode a plainly created file would get (0666 under the process umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())  # mkstemp makes 0600 files; give them the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    For writers that want a file name (``df.to_parquet``, ``torch.save``, ``fig.savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_out_of_inputs(out: str | os.PathLike, inputs) -> None:
    """Refuse an output directory that is one of the inputs or holds one: writing there (and ``force`` above all,
    which clears the directory's run) would destroy what the command reads."""
    o = Path(out).resolve()
    for item in inputs or ():
        if item is None or str(item) == "":
            continue
        p = Path(str(item))
        if not p.exists():
            continue
        p = p.resolve()
        if o == p or o in p.parents:
            raise QuantaError(f"out={out} {'is' if o == p else 'holds'} the input {item}: writing there would "
                              "replace what the command reads", "write to another directory")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode())


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a DataFrame as parquet, atomically."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_parquet(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """``pd.read_parquet``, with a missing, truncated or corrupted file as a one-line :class:`QuantaError`."""
    path = Path(path)
    try:
        return pd.read_parquet(path, **kwargs)
    except FileNotFoundError as exc:
        raise QuantaError(f"{path} does not exist", "check the path") from exc
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        if isinstance(exc, (MemoryError, KeyboardInterrupt)):
            raise
        first = " ".join(str(exc).split())
        raise QuantaError(f"{path} cannot be read as a table ({type(exc).__name__}: "
                          f"{first[:160]}{'…' if len(first) > 160 else ''})",
                          "the file is damaged; re-run the command that made it") from exc


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object (a manifest, a summary), with a missing, damaged or non-object file as a one-line error."""
    path = Path(path)
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QuantaError(f"{path} does not exist", "check the path") from exc
    except json.JSONDecodeError as exc:
        raise QuantaError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})",
                          "the file is damaged; re-run the command that made it") from exc
    except UnicodeDecodeError as exc:
        raise QuantaError(f"{path} is not UTF-8 text", "the file is damaged; re-run the command that made it") from exc
    if not isinstance(out, dict):
        raise QuantaError(f"{path} holds a JSON {type(out).__name__}, not an object",
                          "the file is damaged; re-run the command that made it")
    return out


@dataclass(frozen=True)
class Stage:
    """One timed stage of a run (a :meth:`Run.timer` block), as an ``on_stage`` callback of :meth:`Run.create` sees
    it: once when it starts (``state="started"``, ``seconds`` 0) and once when it ends, ``"finished"`` or, when an
    exception (a KeyboardInterrupt too) left the block, ``"cut"``, with the seconds it ran either way. The manifest's
    ``timings_s`` adds a cut stage's seconds like a finished one's; this is where the two differ."""

    name: str
    state: Literal["started", "finished", "cut"]
    seconds: float


class Run:
    """A run directory. Create with :meth:`Run.create`, open an existing one with :meth:`Run.open`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._timings: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._total_prior = 0.0  # seconds of a resumed run's earlier attempts that ended (Run.create sets it)
        self.resumed = False
        self.resumable = False
        self._made: Path | None = None
        self._foreign: set[str] = set()
        self._on_stage: Callable[[Stage], None] | None = None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, out: str | os.PathLike, *, command: str, config: dict, seed: int | None = None,
               device: str | None = None, argv: list[str] | None = None, force: bool = False,
               resume: bool | None = None, inputs=(), on_stage: Callable[[Stage], None] | None = None) -> "Run":
        """Start (or, with ``resume``, continue) a run directory at ``out``.

        Parameters
        ----------
        out : path
            The run directory. Created if missing.
        command : str
            The command's name, e.g. ``"theory"`` or ``"parity run"``.
        config : dict
            The fully resolved configuration (``dataclasses.asdict(cfg)``).
        seed : int, optional
        device : str, optional
            A description of the device used.
        argv : list of str, optional
            The command line; defaults to ``sys.argv``.
        force : bool
            Start over in a directory that holds a run (finished or not). Only what that run wrote is removed
            (the names its manifest lists as ``files``): files added after it ended, such as notes, are kept. A
            run that did not end (killed) is cleared entirely, since its list may miss what it wrote last.
        resume : bool or None
            Continue an unfinished run with the same command and config. Engines that can continue a run pass
            ``True`` or ``False``; the default ``None`` says that the command cannot, so that errors never
            advise ``resume`` for it, and a failed run of it holds no checkpoint worth keeping.
        inputs : sequence of paths
            What the command reads (run directories, model folders; names that are no local path are skipped):
            ``out`` may be none of them and hold none of them, so that ``force`` never removes an input.
        on_stage : callable, optional
            Called with a :class:`Stage` as each :meth:`timer` block starts and ends (a progress display, or a
            benchmark that must tell the stages an interrupt cut short from those that finished).

        Raises
        ------
        QuantaError
            When ``out`` holds a finished run and ``force`` is not set, holds an
            unfinished run (running, or failed with a checkpoint) and neither ``resume`` nor ``force`` is set,
            holds a run of another command or config on ``resume``, is a non-empty folder that is not a run
            directory, or cannot be written.

        A failed run without a checkpoint (nothing written, or a command that cannot resume) is replaced
        silently.
        """
        if force and resume:
            raise QuantaError("resume=True and force=True contradict each other", "pass one of them")
        path = Path(out)
        check_out_of_inputs(path, inputs)
        _check_writable(path)
        manifest_path = path / MANIFEST
        config = to_jsonable(config)
        prior = read_json(manifest_path) if manifest_path.exists() else None
        run = cls(path)
        run.resumable = resume is not None
        run._on_stage = on_stage
        if prior is not None:
            status = prior.get("status")
            prior_cmd = prior.get("command")
            same = prior_cmd == command and prior.get("config") == config
            if force:
                _clear_run_dir(path, prior)
                prior = None
            elif status == "complete":
                raise QuantaError(f"out={path} already holds a finished run",
                                  "choose a new directory or pass force=True to overwrite it")
            elif resume:
                if prior_cmd != command:
                    raise QuantaError(f"resume=True: {path} holds a {prior_cmd!r} run, not {command!r}",
                                      "pass the run to resume as out=DIR")
                if prior.get("config") != config:
                    diff = sorted(k for k in set(config) | set(prior.get("config", {}))
                                  if config.get(k) != prior.get("config", {}).get(k))
                    raise QuantaError(f"resume=True: the config differs from the run in {path} (in {', '.join(diff)})",
                                      "resume with the same settings, or start a new run")
                run.resumed = True
            elif status == "failed" and not _has_checkpoint(path, prior):
                _clear_run_dir(path, prior)  # nothing to continue: the new run takes its place
                prior = None
            elif status == "failed":
                if same and run.resumable:
                    raise QuantaError(f"out={path} holds a failed run with a checkpoint",
                                      "pass resume=True to continue it, or force=True to start over")
                raise QuantaError(f"out={path} holds a failed {prior_cmd!r} run with a checkpoint of other settings",
                                  "choose a new directory, or pass force=True to discard it")
            elif run.resumable and prior.get("resumable", True) and prior_cmd == command:
                raise QuantaError(f"out={path} holds an unfinished run (status {status!r})",
                                  "pass resume=True to continue it or force=True to start over")
            else:
                raise QuantaError(f"out={path} holds an unfinished {prior_cmd!r} run (status {status!r}); another "
                                  "process may still be writing it",
                                  "choose a new directory, or pass force=True if no process is writing it")
        elif path.exists() and any(p for p in path.iterdir() if not p.name.startswith(".")):
            if not force:
                raise QuantaError(f"out={path} is a non-empty folder that is not a quanta run directory",
                                  "pass a new or empty directory as out=DIR")
            raise QuantaError(f"out={path} is not a quanta run directory, so force=True will not empty it",
                              "pass a new or empty directory as out=DIR")
        run._made = _first_missing(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        # what is left in the folder now is not this run's: files the user added to a replaced run (kept by
        # force), or, on resume, those the run being continued recorded as the user's
        run._foreign = (set(prior.get(USER_FILES) or ()) if run.resumed
                        else {p.name for p in path.iterdir()})
        if run.resumed:
            manifest = prior
            manifest.setdefault("resumed_at", []).append(_now())
            manifest["status"] = "running"
            manifest["ended_at"] = None  # the earlier attempt's end (a pause) is no longer the run's
            # the attempts that ended (paused) count towards the run's total, as each timed block's seconds do
            run._total_prior = float((manifest.get("timings_s") or {}).get("total", 0.0))
        else:
            from quanta.utils import package_versions

            manifest = {
                "quanta_version": package_versions().get("quanta"),
                "command": command,
                "argv": shlex.join(argv if argv is not None else sys.argv),
                "config": config,
                "seed": seed,
                "device": device,
                "versions": package_versions(),
                "host": socket.gethostname(),
                "started_at": _now(),
                "ended_at": None,
                "status": "running",
                "resumable": run.resumable,
                "timings_s": {},
            }
        run._manifest = manifest
        run._timings = dict(manifest.get("timings_s") or {})
        try:
            run._write_manifest()
        except OSError as exc:
            run._remove()
            raise _unwritable(path, exc) from exc
        return run

    @classmethod
    def open(cls, path: str | os.PathLike, *, command: str | None = None, require_complete: bool = True) -> "Run":
        """Open an existing run directory for reading.

        Raises QuantaError when ``path`` is not a run directory, is a run of a
        different ``command`` (prefix match), or is unfinished and ``require_complete``.
        """
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise QuantaError(f"{path} is not a quanta run directory (no {MANIFEST})",
                              "pass a run directory a quanta command wrote (its out=DIR)")
        run = cls(path)
        run._manifest = read_json(path / MANIFEST)
        run._foreign = set(run._manifest.get(USER_FILES) or ())
        got = run._manifest.get("command", "")
        if command is not None and not str(got).startswith(command):
            raise QuantaError(f"{path} holds a {got!r} run, but a {command!r} run is needed",
                              f"pass the run directory of a `quanta {command}` run (its out=DIR)")
        status = run._manifest.get("status")
        if require_complete and status != "complete":
            if not run._manifest.get("resumable", True):
                hint = "re-run its command to write it anew"
            elif status == "failed" and not _has_checkpoint(path, run._manifest):
                hint = "re-run its command (out=DIR) to write it anew"
            else:
                hint = "finish it first: re-run its command with resume=True"
            raise QuantaError(f"{path} holds an unfinished {got!r} run (status {status!r})", hint)
        return run

    # ------------------------------------------------------------------ accessors
    @property
    def manifest(self) -> dict:
        return self._manifest

    @property
    def config(self) -> dict:
        return self._manifest.get("config", {})

    @property
    def command(self) -> str:
        return self._manifest.get("command", "")

    @property
    def summary(self) -> dict:
        return read_json(self.path / SUMMARY) if (self.path / SUMMARY).exists() else {}

    def table_path(self, name: str) -> Path:
        return self.path / (name if name.endswith(".parquet") else f"{name}.parquet")

    def has_table(self, name: str) -> bool:
        return self.table_path(name).exists()

    def read_table(self, name: str) -> pd.DataFrame:
        p = self.table_path(name)
        if not p.exists():
            raise QuantaError(f"{self.path} has no table {p.name}",
                              "the run may be from an older version or another command")
        return read_parquet(p)

    def tables(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.parquet"))

    def figures(self) -> list[Path]:
        return sorted((self.path / FIGURES).glob("*.png"))

    # ------------------------------------------------------------------ writing
    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        return write_parquet(self.table_path(name), df)

    def write_json(self, name: str, obj: Any) -> Path:
        return atomic_write_json(self.path / (name if name.endswith(".json") else f"{name}.json"), obj)

    def save_figure(self, fig, name: str, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` atomically.

        Build figures as :class:`matplotlib.figure.Figure` objects (``fig = Figure(figsize=...)``,
        ``ax = fig.subplots()``): they need neither pyplot nor a backend switch, and are freed like any
        object. A figure made with pyplot is closed here, so that pyplot's figure list does not grow.
        """
        target = self.path / FIGURES / (name if name.endswith(".png") else f"{name}.png")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None and getattr(fig.canvas, "manager", None) is not None:
            plt.close(fig)
        return target

    def subdir(self, name: str) -> Path:
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def timings(self) -> dict:
        """Wall seconds of every timed block, summed over the attempts of a resumed run."""
        return dict(self._timings)

    @contextlib.contextmanager
    def timer(self, name: str):
        """Record the wall time of a block under ``timings_s[name]`` in the manifest (added up when a name comes
        again), and tell ``on_stage`` (:meth:`create`) when it starts and ends."""
        if self._on_stage is not None:
            self._on_stage(Stage(name, "started", 0.0))
        t, state = time.perf_counter(), "cut"
        try:
            yield
            state = "finished"
        finally:
            seconds = time.perf_counter() - t
            self._timings[name] = self._timings.get(name, 0.0) + seconds
            self._manifest["timings_s"] = self._timings
            self._write_manifest()
            if self._on_stage is not None:
                self._on_stage(Stage(name, state, seconds))

    def update_manifest(self, **fields) -> None:
        self._manifest.update(to_jsonable(fields))
        self._write_manifest()

    def finish(self, summary: dict) -> dict:
        """Write ``summary.json`` and mark the run complete. Returns the summary as written."""
        summary = to_jsonable(summary)
        atomic_write_json(self.path / SUMMARY, summary)
        self._end("complete")
        return summary

    def pause(self, **fields) -> None:
        """Mark the run ``paused``: it stopped on purpose (a time limit) with a checkpoint, and ``resume`` continues
        it. Each pause is kept in the manifest's ``pauses`` with ``fields`` (e.g. the step reached) and its time."""
        self._manifest.setdefault("pauses", []).append({**to_jsonable(fields), "at": _now()})
        self._end("paused")

    def _end(self, status: str) -> None:
        """Record the total time, the end and ``status`` in the manifest, and write it."""
        self._timings["total"] = self._total_prior + time.perf_counter() - self._t0
        self._manifest["timings_s"] = self._timings
        self._manifest["ended_at"] = _now()
        self._manifest["status"] = status
        self._write_manifest()

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed, or remove it when nothing of it is worth keeping.

        A new run (not a resumed one) is removed when it wrote nothing but its manifest, or when it failed on
        bad input (a :class:`QuantaError`) and holds no checkpoint to continue (its command cannot resume, or
        it wrote nothing): bad input leaves nothing behind. Otherwise the manifest says ``failed`` and the
        error; the next run into the directory replaces it unless it holds a checkpoint.
        """
        if not self.resumed and (not _has_content(self.path, self._foreign) or
                                 (isinstance(exc, QuantaError) and not _has_checkpoint(self.path, self._manifest))):
            self._remove()
            return
        self._manifest["status"] = "failed"
        self._manifest["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:2000]
        self._manifest["ended_at"] = _now()
        with contextlib.suppress(OSError):
            self._write_manifest()

    def _remove(self) -> None:
        """Remove what this run wrote: its directory (and the parents it made), or, in a directory that existed
        before (empty, or holding a run that was replaced), everything but what was there when it started."""
        made = getattr(self, "_made", None)
        with contextlib.suppress(OSError):
            if made is not None and made.exists():
                shutil.rmtree(made)
            elif self.path.is_dir():
                for child in self.path.iterdir():
                    if child.name not in self._foreign:
                        _remove_entry(child)

    def _write_manifest(self) -> None:
        # the names this run owns, so that force removes them and nothing else (files the user adds are kept)
        if self.path.is_dir():
            foreign = getattr(self, "_foreign", set())
            self._manifest[FILES] = sorted({p.name for p in self.path.iterdir()
                                            if not p.name.startswith(".") and p.name not in foreign} | {MANIFEST})
            self._manifest[USER_FILES] = sorted(n for n in foreign if not n.startswith("."))
        atomic_write_json(self.path / MANIFEST, self._manifest)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and self._manifest.get("status") != "complete":
            self.fail(exc)
        return False


def _has_content(path: Path, ignore=()) -> bool:
    """Whether the run directory holds a file other than its manifest (hidden temporary files and the top-level
    entries named in ``ignore``, the user's, aside)."""
    if not path.is_dir():
        return False
    for root, dirs, files in os.walk(path):
        top = Path(root) == path
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (top and d in ignore)]
        if any(not f.startswith(".") and not (top and (f == MANIFEST or f in ignore)) for f in files):
            return True
    return False


def _has_checkpoint(path: Path, manifest: dict) -> bool:
    """Whether an unfinished run holds work a resumed run would continue from: its command can resume (runs
    written before this was recorded are assumed to) and it wrote something besides its manifest."""
    return bool(manifest.get("resumable", True)) and _has_content(path, set(manifest.get(USER_FILES) or ()))


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself or a parent) that does not exist yet, or None."""
    missing = None
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing = p
    return missing


def _unwritable(path: Path, exc: OSError) -> QuantaError:
    reason = exc.strerror or type(exc).__name__
    return QuantaError(f"out={path} cannot be written ({reason})",
                       "choose a directory you can write to as out=DIR")


def _check_writable(path: Path) -> None:
    """Refuse ``out`` when it is a file, or lies where no run can be written (a file on the way, /proc, /sys,
    a read-only or unwritable folder), before anything is created."""
    if path.exists() and not path.is_dir():
        raise QuantaError(f"out={path} is a file, not a directory", "choose a new directory (out=DIR)")
    resolved = path.resolve()
    if resolved.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise QuantaError(f"out={path} lies in /{resolved.parts[1]}, which holds no files of yours",
                          "choose a directory you can write to as out=DIR")
    base = resolved
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise QuantaError(f"out={path} lies under the file {base}", "choose a new directory (out=DIR)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise QuantaError(f"out={path} cannot be written (no write permission on {base})",
                          "choose a directory you can write to as out=DIR")


def _clear_run_dir(path: Path, manifest: dict) -> None:
    """Remove what the run in ``path`` wrote (only called when it holds a manifest), keeping files the user added.

    A run that ended (complete, failed, or paused at a time limit) lists the names it owns in its manifest
    (``files``, recorded at each manifest write and when it ends); only those, its manifest and summary go. A run
    that did not end (killed, so its list may miss what it wrote last) or one written before the list was kept is
    cleared entirely.
    """
    owned = manifest.get(FILES)
    if manifest.get("status") not in ("complete", "failed", "paused") or not isinstance(owned, list):
        for child in path.iterdir():
            _remove_entry(child)
        return
    for name in {*(n for n in owned if isinstance(n, str)), MANIFEST, SUMMARY}:
        child = path / name
        if name and "/" not in name and name not in (".", "..") and (child.exists() or child.is_symlink()):
            _remove_entry(child)


def _remove_entry(child: Path) -> None:
    if child.is_dir() and not child.is_symlink():
        shutil.rmtree(child)
    else:
        child.unlink()

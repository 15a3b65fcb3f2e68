"""Sweeps of MLPs on multitask sparse parity: online or fixed-D data, log-spaced evaluation,
early stopping, checkpoints and resume.

A sweep is the product ``alphas × data_sizes × seeds × widths``. Every ``(alpha, D, seed)``
triple is a *group*: its members (one per width) see the same batches. All groups train as one
:class:`~quanta.parity.ensemble.BatchedMLP` with one AdamW.

What a member's ``seed`` means: it fixes the member's initialisation (from ``(seed, width)``)
and its group's data (the online batches, or the fixed training set of size D and its epoch
order, from ``(seed, alpha, D)``). The task subsets and the held-out test set come from the
run's ``task_seed`` and are shared by every member, so all models are scored on the same samples.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from quanta.errors import QuantaError
from quanta.parity.config import ParityConfig, _is_int, _is_num  # noqa: F401  (ParityConfig lives here too)
from quanta.parity.data import DataStream, ParityTasks, draw_subsets, task_tables
from quanta.parity.ensemble import BatchedMLP, ParityMLP, n_params, parity_ce

log = logging.getLogger(__name__)

LEARNED_NATS = 0.1 * math.log(2)  # "learned" threshold of the papers: 0.1 bits
CHECKPOINT = "checkpoint.pt"
FINAL_STATE = "final_state.pt"
_clock = time.monotonic  # the clock of run_parity's max_seconds (a test steps it)


# ====================================================================== the trainer
class SweepTrainer:
    """Trains every member of a :class:`ParityConfig` sweep as one batched model.

    Parameters
    ----------
    cfg : ParityConfig
    device : str or torch.device

    Use :meth:`train` then :meth:`tables`; :meth:`save_checkpoint` / :meth:`load_checkpoint`
    hold the whole training state (parameters, optimiser, generators, step, evaluations so far).
    """

    def __init__(self, cfg: ParityConfig, device="cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.subsets = draw_subsets(cfg.n_tasks, cfg.n, cfg.k, cfg.task_seed)
        self.tasks = {a: ParityTasks(self.subsets, cfg.n, a, dist=cfg.task_dist, device=self.device) for a in cfg.alphas}
        self.groups = cfg.groups
        G, M = len(self.groups), len(cfg.widths)
        self.G, self.M = G, M
        self.model = BatchedMLP(cfg.n_tasks, cfg.n, cfg.widths, G, cfg.depth,
                                seeds=[s for _, _, s in self.groups]).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                     weight_decay=cfg.weight_decay)
        self.streams = [DataStream(self.tasks[a], D, s, cfg.batch_size, self.device) for a, D, s in self.groups]
        sizes = [st.batch_size for st in self.streams]
        self.B = max(sizes)
        wts = torch.zeros(G, self.B)
        for g, b in enumerate(sizes):
            wts[g, :b] = 1.0 / b
        self.row_weight = wts.to(self.device)  # (G, B): 1/b_g on real rows, 0 on padding
        self.padded = any(b != self.B for b in sizes)
        self.probs = torch.as_tensor(np.stack([self.tasks[a].probs_np for a, _, _ in self.groups]))  # (G, T) f64
        self.test = self.tasks[cfg.alphas[0]].test_set(cfg.n_test_per_task, seed=cfg.task_seed)
        self.fixed = torch.tensor([D > 0 for _, D, _ in self.groups], device=self.device)[:, None].expand(G, M)
        # training state
        self.step = 0
        self.records: list[dict[str, torch.Tensor]] = []
        self.best_loss = torch.full((G, M), math.inf, dtype=torch.float64)
        self.best_step = torch.zeros(G, M, dtype=torch.int64)
        self.bad = torch.zeros(G, M, dtype=torch.int64)
        self.stopped_step = torch.full((G, M), -1, dtype=torch.int64)
        self.snapshot: dict[str, torch.Tensor] | None = None
        self._forward = self.model
        if cfg.compile:
            self._forward = torch.compile(self.model)
        from quanta.parity.fused import FusedStep, resolve_kernel

        triton = resolve_kernel(cfg.kernel, self.device, depth=cfg.depth, bf16=cfg.bf16, n=cfg.n) == "triton"
        self._fused = FusedStep(self.model, tf32=cfg.tf32, ctrl=cfg.fused_ctrl) if triton else None

    # ------------------------------------------------------------------ one step
    def _batch(self):
        parts = [s.next() for s in self.streams]
        if not self.padded:
            task = torch.stack([p[0] for p in parts])
            bits = torch.stack([p[1] for p in parts])
            y = torch.stack([p[2] for p in parts])
        else:
            task = torch.zeros(self.G, self.B, dtype=torch.int64, device=self.device)
            bits = torch.zeros(self.G, self.B, self.cfg.n, dtype=torch.uint8, device=self.device)
            y = torch.zeros(self.G, self.B, dtype=torch.int64, device=self.device)
            for g, (t, b, yy) in enumerate(parts):
                task[g, :t.shape[0]], bits[g, :t.shape[0]], y[g, :t.shape[0]] = t, b, yy
        return task, bits, y

    def member_losses(self, task, bits, y) -> torch.Tensor:
        """Each member's mean training loss on a batch: (G, M)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            logits = self._forward(task, bits.to(torch.float32))  # (G, B, M, 2)
        ce, _ = parity_ce(logits, y)  # (G, B, M)
        return torch.einsum("gbm,gb->gm", ce, self.row_weight)

    def train_step(self) -> None:
        task, bits, y = self._batch()
        frozen = self.stopped_step >= 0
        if self._fused is not None:  # the same loss and gradients from the fused kernels
            self.opt.zero_grad(set_to_none=True)
            self._fused(task, bits, y, self.row_weight, (~frozen).to(self.device, torch.float32))
        else:
            losses = self.member_losses(task, bits, y)
            if bool(frozen.any()):
                losses = losses * (~frozen).to(self.device, losses.dtype)
            self.opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # Σ over members of each member's own mean loss
        self.opt.step()
        if self.snapshot is not None:
            self._restore_frozen()
        self.step += 1

    # ------------------------------------------------------------------ freezing
    def _named_params(self):
        return dict(self.model.named_parameters())

    def _freeze(self, newly: torch.Tensor) -> None:
        """Snapshot the parameters of the ``newly`` stopped members (G, M) bool."""
        masks = self.model.param_masks(newly.to(self.device))
        params = self._named_params()
        if self.snapshot is None:
            self.snapshot = {k: p.detach().clone() for k, p in params.items()}
        else:
            for k, p in params.items():
                self.snapshot[k] = torch.where(masks[k], p.detach(), self.snapshot[k])

    @torch.no_grad()
    def _restore_frozen(self) -> None:
        masks = self.model.param_masks((self.stopped_step >= 0).to(self.device))
        for k, p in self._named_params().items():
            p.copy_(torch.where(masks[k], self.snapshot[k], p))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Test loss and accuracy per task of every member: ``loss``, ``acc`` (G, M, T), ``mean_loss``,
        ``mean_acc`` (G, M) weighted by each group's task probabilities. One batched pass over the
        test set (in chunks of ``eval_batch`` rows), grouped by task afterwards."""
        cfg, G, M, T = self.cfg, self.G, self.M, self.cfg.n_tasks
        task, bits, y = self.test
        loss_sum = torch.zeros(G, M, T, dtype=torch.float64, device=self.device)
        acc_sum = torch.zeros(G, M, T, dtype=torch.float64, device=self.device)
        for i in range(0, task.shape[0], cfg.eval_batch):
            t, b, yy = task[i:i + cfg.eval_batch], bits[i:i + cfg.eval_batch], y[i:i + cfg.eval_batch]
            c = t.shape[0]
            logits = self.model(t.expand(G, c), b.to(torch.float32).expand(G, c, cfg.n))  # (G, c, M, 2)
            ce, correct = parity_ce(logits, yy.expand(G, c))  # (G, c, M)
            loss_sum.index_add_(2, t, ce.permute(0, 2, 1).double())
            acc_sum.index_add_(2, t, correct.permute(0, 2, 1).double())
        loss = (loss_sum / cfg.n_test_per_task).cpu()
        # divided on the CPU, as _unpacked divides a checkpoint's counts: CUDA divides by a scalar as a product with
        # its reciprocal, a last bit off for some counts, so a resumed run's earlier accuracies would differ
        acc = acc_sum.cpu() / cfg.n_test_per_task
        probs = self.probs.cpu()[:, None, :]
        return {"loss": loss, "acc": acc, "mean_loss": (loss * probs).sum(-1), "mean_acc": (acc * probs).sum(-1)}

    def _record_eval(self) -> None:
        ev = self.evaluate()
        active = self.stopped_step < 0
        ev["step"] = torch.tensor(self.step)
        ev["active"] = active.clone()
        self.records.append(ev)
        better = (ev["mean_loss"] < self.best_loss) & active
        self.best_loss = torch.where(better, ev["mean_loss"], self.best_loss)
        self.best_step = torch.where(better, torch.tensor(self.step), self.best_step)
        self.bad = torch.where(better, torch.zeros_like(self.bad), self.bad + active.long())
        if self.cfg.patience is not None and self.step < self.cfg.steps:
            newly = active & self.fixed.cpu() & (self.bad >= self.cfg.patience)
            if bool(newly.any()):
                self.stopped_step = torch.where(newly, torch.tensor(self.step), self.stopped_step)
                self._freeze(newly)

    # ------------------------------------------------------------------ the loop
    def train(self, *, until: int | None = None, checkpoint_path: str | Path | None = None,
              progress_bar=None, deadline: float | None = None) -> None:
        """Train to ``cfg.steps`` (or ``until``, or until every member has stopped, or until the monotonic clock
        reaches ``deadline``), evaluating and checkpointing."""
        cfg = self.cfg
        last = cfg.steps if until is None else min(int(until), cfg.steps)
        evals = cfg.eval_steps()
        done_evals = {int(r["step"]) for r in self.records}
        prior = _set_tf32(cfg.tf32) if self.device.type == "cuda" else None
        try:
            if 0 in evals and 0 not in done_evals and self.step == 0:
                self._record_eval()
            while self.step < last and bool((self.stopped_step < 0).any()) and \
                    (deadline is None or _clock() < deadline):
                self.train_step()
                if progress_bar is not None:
                    progress_bar.update(1)
                if self.step in evals:
                    self._record_eval()
                if checkpoint_path is not None and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 \
                        and self.step < cfg.steps:
                    self.save_checkpoint(checkpoint_path)
        finally:
            if prior is not None:
                _set_tf32(prior)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "config": _jsonable_config(self.cfg),
            "step": self.step,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optim": _to_cpu(self.opt.state_dict()),
            "streams": [s.state_dict() for s in self.streams],
            "records": [self._packed(r) for r in self.records],
            "best_loss": self.best_loss, "best_step": self.best_step, "bad": self.bad,
            "stopped_step": self.stopped_step,
            # the frozen members' parameters equal their snapshot after every step (_restore_frozen), and the rest of
            # the snapshot is never read, so a checkpoint marks it (True) instead of storing a second copy of the
            # model: 14 MB less for paper-fig2-data, whose checkpoint must fit what a GPU call carries
            "snapshot": None if self.snapshot is None else True,
        }

    def _packed(self, ev: dict) -> dict:
        """An evaluation as a checkpoint keeps it: each accuracy as its count of correct test samples (int16), which
        :meth:`_unpacked` divides again to the same float64; the records of paper-fig2-data would otherwise add
        21 MiB to a checkpoint that must fit what a GPU call carries."""
        n = self.cfg.n_test_per_task
        dtype = torch.int16 if n <= torch.iinfo(torch.int16).max else torch.int32
        out = {k: v for k, v in ev.items() if k != "acc"}
        out["acc_count"] = torch.round(ev["acc"] * n).to(dtype)
        return out

    def _unpacked(self, ev: dict) -> dict:
        if "acc" in ev:  # a checkpoint of an earlier quanta kept the accuracies themselves
            return dict(ev)
        out = {k: v for k, v in ev.items() if k != "acc_count"}
        out["acc"] = ev["acc_count"].double() / self.cfg.n_test_per_task
        return out

    def load_state_dict(self, st: dict[str, Any]) -> None:
        if st.get("config") != _jsonable_config(self.cfg):
            raise QuantaError("the checkpoint was written for another config", "resume with the run's own settings")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optim"])
        for s, ss in zip(self.streams, st["streams"]):
            s.load_state_dict(ss)
        self.step = int(st["step"])
        self.records = [self._unpacked(r) for r in st["records"]]
        self.best_loss, self.best_step, self.bad = st["best_loss"], st["best_step"], st["bad"]
        self.stopped_step = st["stopped_step"]
        snap = st["snapshot"]
        if snap is True:  # rebuilt from the parameters just loaded (state_dict)
            self.snapshot = {k: p.detach().clone() for k, p in self._named_params().items()}
        else:  # None, or the tensors a checkpoint of an earlier quanta stored
            self.snapshot = None if snap is None else {k: v.to(self.device) for k, v in snap.items()}

    def save_checkpoint(self, path: str | Path) -> None:
        """Write the whole training state atomically."""
        from quanta.store import atomic_path

        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)

    def load_checkpoint(self, path: str | Path) -> None:
        try:
            st = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file is bad input, not a bug
            raise QuantaError(f"cannot read checkpoint {path}: {type(exc).__name__}",
                              "start over with force=True") from exc
        self.load_state_dict(st)

    # ------------------------------------------------------------------ results
    def members(self) -> pd.DataFrame:
        """One row per member: model id, group index g, width index m, width, seed, D, alpha, n_params."""
        rows = []
        n_in = self.cfg.n_tasks + self.cfg.n
        for g, (a, D, s) in enumerate(self.groups):
            for m, w in enumerate(self.cfg.widths):
                rows.append({"model": g * self.M + m, "g": g, "m": m, "width": w, "depth": self.cfg.depth,
                             "n_params": n_params(n_in, w, self.cfg.depth), "seed": s, "D": D, "alpha": a})
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``tasks``, ``models``, ``eval`` and ``eval_mean`` tables (see docs/tables.md)."""
        mem = self.members()
        T = self.cfg.n_tasks
        key_cols = ["model", "width", "seed", "D", "alpha"]
        ev_parts, mean_parts = [], []
        for r in self.records:
            active = r["active"].reshape(-1).numpy()
            sel = mem[active]
            idx = sel["g"].to_numpy() * self.M + sel["m"].to_numpy()
            loss = r["loss"].reshape(self.G * self.M, T).numpy()[idx]
            acc = r["acc"].reshape(self.G * self.M, T).numpy()[idx]
            base = sel[key_cols].reset_index(drop=True)
            part = base.loc[base.index.repeat(T)].reset_index(drop=True)
            part["step"] = int(r["step"])
            part["task"] = np.tile(np.arange(T, dtype=np.int64), len(sel))
            part["loss"] = loss.reshape(-1)
            part["acc"] = acc.reshape(-1)
            ev_parts.append(part)
            mp = base.copy()
            mp["step"] = int(r["step"])
            mp["loss"] = r["mean_loss"].reshape(-1).numpy()[idx]
            mp["acc"] = r["mean_acc"].reshape(-1).numpy()[idx]
            mean_parts.append(mp)
        cols = key_cols + ["step", "task", "loss", "acc"]
        ev = pd.concat(ev_parts, ignore_index=True)[cols] if ev_parts else pd.DataFrame(columns=cols)
        ev_mean = pd.concat(mean_parts, ignore_index=True) if mean_parts else pd.DataFrame(
            columns=key_cols + ["step", "loss", "acc"])
        last = ev_mean.sort_values("step").groupby("model").tail(1).set_index("model")
        models = mem.drop(columns=["g", "m"]).copy()
        models["final_loss"] = last.loc[models["model"], "loss"].to_numpy()
        models["final_acc"] = last.loc[models["model"], "acc"].to_numpy()
        models["best_loss"] = self.best_loss.reshape(-1).numpy()
        models["best_step"] = self.best_step.reshape(-1).numpy()
        stopped = self.stopped_step.reshape(-1).numpy()
        models["stopped_step"] = np.where(stopped >= 0, stopped, self.cfg.steps)
        models["steps"] = self.cfg.steps
        final = ev[ev["step"] == ev["model"].map(last["step"])]
        learned = (final["loss"] < LEARNED_NATS).groupby(final["model"]).sum()
        models["n_learned"] = learned.reindex(models["model"]).fillna(0).astype(int).to_numpy()
        tasks = task_tables(self.subsets, self.cfg.n, self.cfg.alphas, self.cfg.task_dist)
        return {"tasks": tasks, "models": models, "eval": ev, "eval_mean": ev_mean}

    def final_state(self) -> dict[str, Any]:
        """What ``final_state.pt`` holds: the config and each member's ParityMLP state dict by model id."""
        return {"format": 1, "config": _jsonable_config(self.cfg),
                "models": [self.model.member_state(g, m) for g in range(self.G) for m in range(self.M)]}


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _jsonable_config(cfg: ParityConfig) -> dict:
    from quanta.store import to_jsonable

    return to_jsonable(asdict(cfg))


def _set_tf32(flag: bool) -> bool:
    prior = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = bool(flag)
    torch.backends.cudnn.allow_tf32 = bool(flag)
    return prior


# ====================================================================== public entry points
def train_sweep(cfg: ParityConfig, *, device="cpu") -> dict[str, pd.DataFrame]:
    """Train a sweep in memory and return its tables (``tasks``, ``models``, ``eval``, ``eval_mean``).

    Examples
    --------
    >>> from quanta.parity.presets import preset_config
    >>> tables = train_sweep(preset_config("cpu-tiny", {"steps": 20}))
    >>> sorted(tables)
    ['eval', 'eval_mean', 'models', 'tasks']
    """
    trainer = SweepTrainer(cfg, device=device)
    trainer.train()
    return trainer.tables()


def check_sweep_memory(cfg: ParityConfig, device) -> None:
    """Refuse a sweep whose estimated memory (:meth:`ParityConfig.memory_bytes`) exceeds the device's, before
    anything is allocated or written."""
    from quanta.utils import check_memory

    dev = torch.device(device)
    if dev.type == "cuda":
        total = torch.cuda.get_device_properties(dev).total_memory
        where = f"memory on {dev}"
    else:
        total, where = None, "memory"
    check_memory(cfg.memory_bytes(), f"the sweep (widths up to {max(cfg.widths)}, {len(cfg.groups)} group(s))",
                 "lower widths=..., batch_size=... or eval_batch=...", available=total, where=where)


def _refuse_paused_without_checkpoint(out: Path) -> None:
    """A paused run always holds the checkpoint of the step it reached; without it, resuming would quietly start
    again from step 0 (e.g. after copying only its manifest elsewhere), so that is refused before anything is
    written."""
    import json

    from quanta.store import MANIFEST

    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return  # no run there (or not readable): Run.create says what is wrong
    if isinstance(manifest, dict) and manifest.get("status") == "paused" and not (out / CHECKPOINT).exists():
        step = ((manifest.get("pauses") or [{}])[-1] or {}).get("step", "?")
        raise QuantaError(f"{out} was paused at step {step}, but its {CHECKPOINT} is missing, so resuming would "
                          "start again from step 0",
                          f"put the run's {CHECKPOINT} back, or pass force=True to start over")


def _test_seen(cfg: ParityConfig) -> list[dict]:
    """Per α and training-set size D > 0: the expected share of the task-weighted test set among its inputs."""
    from quanta.parity.data import task_probs, test_seen_in_training

    return [{"alpha": float(a), "D": int(D), "share": test_seen_in_training(task_probs(a, cfg.n_tasks, cfg.task_dist),
                                                                          cfg.n, int(D))}
            for a in cfg.alphas for D in cfg.data_sizes if int(D) > 0]


def run_parity(cfg: ParityConfig, out, *, device: str | None = None, force: bool = False, resume: bool = False,
               argv: list[str] | None = None, max_seconds: float | None = None) -> dict:
    """Train a sweep and write its run directory (tables, ``final_state.pt``, a figure, summary).

    Checkpoints go to ``out/checkpoint.pt`` every ``cfg.checkpoint_every`` steps; with ``resume``
    an unfinished run continues from its last checkpoint (or from the start if it has none).

    ``max_seconds`` bounds a session of a long run (a GPU lease, a batch-queue slot): once that many seconds have
    passed since the call began, training stops after the current step, a checkpoint of that step is written and
    the run is left ``paused`` (writing the checkpoint comes on top of the limit); ``resume=True`` continues it,
    and the finished run equals one trained without a pause.

    Returns
    -------
    dict
        The summary written to ``summary.json``; for a paused run ``{"status": "paused", "step": ..., "steps":
        ...}`` instead (no summary is written).
    """
    from quanta.progress import progress
    from quanta.store import Run, atomic_path
    from quanta.utils import device_description, resolve_device

    t_call = _clock()
    if max_seconds is not None and not (_is_num(max_seconds) and max_seconds >= 0):
        raise QuantaError(f"max_seconds must be a number >= 0, got {max_seconds!r}", "e.g. max_seconds=3600")
    deadline = None if max_seconds is None else t_call + float(max_seconds)
    dev = resolve_device(device)
    check_sweep_memory(cfg, dev)
    if resume:
        _refuse_paused_without_checkpoint(Path(out))
    seen = _test_seen(cfg)
    for r in seen:
        if r["share"] > 0.05 and not resume:
            log.warning("alpha %g, D = %d: %.0f%% of the task-weighted test inputs are among the training samples "
                        "(n = %d bits): its test loss partly measures memorisation", r["alpha"], r["D"],
                        100 * r["share"], cfg.n)
    run = Run.create(out, command="parity run", config=asdict(cfg), seed=cfg.task_seed,
                     device=device_description(dev), force=force, resume=resume, argv=argv)
    with run:
        trainer = SweepTrainer(cfg, device=dev)
        ckpt = run.path / CHECKPOINT
        if run.resumed and ckpt.exists():
            trainer.load_checkpoint(ckpt)
            log.info("resumed %s at step %d", run.path, trainer.step)
        start_step, t0 = trainer.step, time.perf_counter()
        with run.timer("train"), progress(total=cfg.steps, desc="parity run", unit="step") as bar:
            bar.update(trainer.step)
            trainer.train(checkpoint_path=ckpt, progress_bar=bar, deadline=deadline)
        train_s = time.perf_counter() - t0
        if trainer.step < cfg.steps and bool((trainer.stopped_step < 0).any()):  # the deadline came first
            trainer.save_checkpoint(ckpt)
            run.pause(step=trainer.step)
            log.info("paused %s at step %d of %d after %.0f s", run.path, trainer.step, cfg.steps, train_s)
            return {"status": "paused", "step": trainer.step, "steps": cfg.steps, "train_s": train_s}
        with run.timer("write"):
            tables = trainer.tables()
            for name, df in tables.items():
                run.write_table(name, df)
            with atomic_path(run.path / FINAL_STATE) as tmp:
                torch.save(trainer.final_state(), tmp)
            _plot_mean_loss(run, tables["eval_mean"])
        models = tables["models"]
        widest = models[models["width"] == models["width"].max()]
        summary = {
            "n_models": len(models),
            "n_groups": trainer.G,
            "n_tasks": cfg.n_tasks,
            "steps": cfg.steps,
            "final_loss_min": float(models["final_loss"].min()),
            "final_loss_max": float(models["final_loss"].max()),
            "n_learned_widest": int(widest["n_learned"].max()),
            "learned_threshold_nats": LEARNED_NATS,
            "train_s": train_s,
            "model_steps_per_s": (trainer.step - start_step) * len(models) / max(train_s, 1e-9),
            "resumed_from_step": start_step if run.resumed else None,
        }
        if seen:
            summary["test_seen_in_training"] = seen
        summary = run.finish(summary)
        if ckpt.exists():
            ckpt.unlink()
    return summary


def _plot_mean_loss(run, ev_mean: pd.DataFrame) -> None:
    run.save_figure(plot_mean_loss(ev_mean), "mean_loss_vs_step")


def plot_mean_loss(ev_mean: pd.DataFrame):
    """Mean test loss against step, one line per model, coloured by width with a colourbar as its key (line
    style by training-set size when the sweep has several)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    keys = ev_mean[["width", "seed", "D", "alpha"]].drop_duplicates()
    cmap = colormaps["viridis"]
    widths = sorted(ev_mean["width"].unique())
    norm = LogNorm(vmin=min(widths), vmax=max(max(widths), min(widths) * 1.01))
    Ds = sorted(ev_mean["D"].unique())
    styles = ["-", "--", ":", "-."]
    for _, k in keys.iterrows():
        d = ev_mean[(ev_mean["width"] == k["width"]) & (ev_mean["seed"] == k["seed"]) & (ev_mean["D"] == k["D"])
                    & (ev_mean["alpha"] == k["alpha"]) & (ev_mean["step"] > 0)]
        ax.plot(d["step"], d["loss"], color=cmap(norm(k["width"])), lw=1, ls=styles[Ds.index(k["D"]) % 4])
    if len(Ds) > 1:  # the line styles' key; online training (D = 0) reads "online"
        from matplotlib.lines import Line2D

        ax.legend([Line2D([], [], color="0.3", ls=styles[i % 4]) for i in range(len(Ds))],
                  ["online" if D == 0 else f"D = {D:g}" for D in Ds], fontsize=7, title="training samples",
                  title_fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("mean test loss (nats)")
    ax.set_title("parity sweep: mean test loss, every model")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="width (hidden units)")
    fig.tight_layout()
    return fig


def load_member(run_dir, model: int, device="cpu") -> ParityMLP:
    """One trained member of a finished ``quanta parity run`` as a plain module.

    Parameters
    ----------
    run_dir : path
        The run directory.
    model : int
        The model id (``models.parquet``'s ``model`` column).
    device : str or torch.device, default "cpu"

    Returns
    -------
    ParityMLP
        In eval mode; inputs (B, n_tasks + n) float 0/1 (one-hot control bits then data bits),
        outputs logits (B, 2).
    """
    from quanta.store import Run

    run = Run.open(run_dir, command="parity run")
    path = Path(run_dir) / FINAL_STATE
    if not path.exists():
        raise QuantaError(f"{run_dir} has no {FINAL_STATE}", "re-run `quanta parity run` to produce it")
    st = torch.load(path, map_location="cpu", weights_only=True)
    n_models = len(st["models"])
    if not _is_int(model) or not 0 <= int(model) < n_models:
        raise QuantaError(f"model must be a model id in 0..{n_models - 1}, got {model!r}",
                          "see the run's models.parquet")
    cfg = run.config
    state = st["models"][int(model)]
    width = int(state["layers.0.bias"].shape[0])
    net = ParityMLP(int(cfg["n_tasks"]) + int(cfg["n"]), width, int(cfg["depth"]))
    net.load_state_dict(state)
    return net.to(device).eval()

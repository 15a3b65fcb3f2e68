"""Multitask sparse parity data: tasks, Zipf task frequencies, batches generated on the device.

An input is ``n_tasks`` control bits (a one-hot code of the task) followed by ``n`` data bits.
Task ``i`` (``i = 0 .. n_tasks-1``) owns a fixed subset ``S_i`` of ``k`` data bits; all subsets
are distinct. The label is the parity of the data bits in ``S_i``. Task ``i`` is drawn with
probability ``p_i ∝ (i+1)^-(α+1)``: :func:`quanta.theory.zipf_probs` ``(alpha, n_tasks)``.

``alpha`` everywhere in quanta is the paper's α (the exponent of the scaling law). The
reference code's config field ``alpha`` is the Zipf exponent α+1: its ``alpha=1.4`` is our
``alpha=0.4``.

Batches are kept compact, as ``(task, bits, y)``: ``task`` (B,) int64, ``bits`` (B, n) uint8,
``y`` (B,) int64. The engine never builds the one-hot control bits: the first layer is a row
lookup (``x·W = W[task] + bits·W_bits``). :meth:`ParityTasks.to_inputs` builds the full input
``x`` (B, n_tasks + n) for plain models. :class:`DataStream` is one training group's stream of batches:
fresh ones (online) or epochs over a fixed training set of D samples.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from quanta.errors import QuantaError
from quanta.parity.config import TASK_DISTS, check_task_shape, task_probs  # noqa: F401
from quanta.theory import zipf_probs  # noqa: F401  (the task frequencies are theory's; kept importable here)

log = logging.getLogger(__name__)
PERM_HEAD = 16  # entries of an epoch order a checkpoint keeps, to check the order drawn again on resume
#: tasks are drawn with float32 uniforms while every task's probability is at least this (2^-24 is about 6e-8, so the
#: rarest task's frequency is off by at most 0.1%), else with float64 ones
FLOAT32_MIN_P = 1000 * 2.0 ** -24


def derive_seed(*parts) -> int:
    """A 63-bit seed derived deterministically from integers, floats and strings.

    Floats are rounded to 1e-9 first; strings are hashed by their UTF-8 bytes (not Python's
    salted ``hash``), so the result is the same in every process and on every platform.
    """
    words: list[int] = []
    for part in parts:
        if isinstance(part, (bool, np.bool_)):
            words.append(int(part))
        elif isinstance(part, (int, np.integer)):
            v = int(part)
            words.extend([v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF, 1 if v < 0 else 0])
        elif isinstance(part, (float, np.floating)):
            v = int(round(float(part) * 1e9))
            words.extend([v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF, 2 if v < 0 else 3])
        elif isinstance(part, str):
            words.extend(part.encode("utf-8"))
            words.append(0x10000)
        else:
            raise TypeError(f"derive_seed: cannot use {type(part).__name__}")
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def draw_subsets(n_tasks: int, n: int, k: int, seed: int) -> np.ndarray:
    """Draw ``n_tasks`` distinct k-subsets of ``range(n)`` from ``seed``.

    Returns
    -------
    numpy.ndarray of int64, shape (n_tasks, k)
        Row ``i`` holds task ``i``'s bit indices, sorted.
    """
    check_task_shape(n_tasks, n, k)
    rng = np.random.default_rng(derive_seed(seed, "parity-subsets"))
    total = math.comb(n, k)
    if n_tasks * 2 > total:
        # Dense regime: enumerate every subset (small, since total < 2 * n_tasks) and pick without replacement.
        import itertools

        every = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
        return every[np.sort(rng.choice(total, size=n_tasks, replace=False))][rng.permutation(n_tasks)]
    seen: set[tuple[int, ...]] = set()
    rows: list[tuple[int, ...]] = []
    while len(rows) < n_tasks:
        s = tuple(sorted(int(v) for v in rng.choice(n, size=k, replace=False)))
        if s not in seen:
            seen.add(s)
            rows.append(s)
    return np.array(rows, dtype=np.int64).reshape(n_tasks, k)


class ParityTasks:
    """The tasks of a multitask sparse parity problem and their sampling distribution.

    Parameters
    ----------
    subsets : array-like of int, shape (n_tasks, k)
        Task ``i``'s data-bit indices.
    n : int
        Number of data bits.
    alpha : float
        The paper's α; task ``i`` is drawn with probability ∝ (i+1)^-(α+1).
    dist : str, default "zipf"
        The task frequencies (:func:`task_probs`); anything but ``zipf`` plants a world that is not a power law.
    device : str or torch.device
        Where batches are generated.

    Examples
    --------
    >>> tasks = ParityTasks.from_config({"n_tasks": 20, "n": 12, "k": 3, "alphas": [0.4], "task_seed": 0})
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y, task = tasks.sample(5, generator=g)
    >>> tuple(x.shape), tuple(y.shape), tuple(task.shape)
    ((5, 32), (5,), (5,))
    """

    def __init__(self, subsets, n: int, alpha: float, *, dist: str = "zipf", device="cpu"):
        subsets = np.asarray(subsets, dtype=np.int64)
        if subsets.ndim != 2:
            raise QuantaError(f"subsets must be a (n_tasks, k) array, got shape {subsets.shape}",
                              "pass one row of bit indices per task")
        check_task_shape(int(subsets.shape[0]), int(n), int(subsets.shape[1]))
        if not (isinstance(alpha, (int, float, np.floating)) and math.isfinite(alpha) and alpha > 0):
            raise QuantaError(f"alpha must be a number > 0 (the paper's α), got {alpha!r}", "e.g. alphas=[0.4]")
        if len({tuple(sorted(r)) for r in subsets.tolist()}) != len(subsets) or subsets.min() < 0 or subsets.max() >= n:
            raise QuantaError("subsets must be distinct k-subsets of range(n)", "draw them with draw_subsets")
        self.device = torch.device(device)
        self.n = int(n)
        self.k = int(subsets.shape[1])
        self.n_tasks = int(subsets.shape[0])
        self.alpha = float(alpha)
        self.subsets_np = subsets
        self.dist = str(dist)
        self.probs_np = task_probs(self.alpha, self.n_tasks, self.dist)
        self.subsets = torch.as_tensor(subsets, device=self.device)  # (T, k) int64
        cdf = np.cumsum(self.probs_np)
        cdf[-1] = 1.0
        # float32 uniforms are multiples of 2^-24, so each task's probability is drawn to within about 6e-8: exact
        # enough while every task has p >= FLOAT32_MIN_P (relative error <= 0.1%); rarer tasks (thousands of tasks,
        # steep laws) are drawn in float64, where a float32 draw would skip them or miss their frequency
        self.sample_dtype = torch.float32 if float(self.probs_np.min()) >= FLOAT32_MIN_P else torch.float64
        self.cdf = torch.as_tensor(cdf, dtype=self.sample_dtype, device=self.device)  # (T,)

    @classmethod
    def from_config(cls, cfg: dict, *, alpha: float | None = None, device="cpu") -> "ParityTasks":
        """Rebuild the tasks of a run from its config (``Run.open(dir).config`` or ``asdict(ParityConfig)``).

        Parameters
        ----------
        cfg : dict
            Needs ``n_tasks``, ``n``, ``k``, ``task_seed`` and ``alphas`` (or ``alpha``); ``task_dist`` if not Zipf.
        alpha : float, optional
            Which α to sample with; default the config's first.
        device : str or torch.device
        """
        missing = [key for key in ("n_tasks", "n", "k", "task_seed") if key not in cfg]
        if missing:
            raise QuantaError(f"the config lacks {', '.join(missing)}", "pass the config of a `quanta parity run`")
        if alpha is None:
            alphas = cfg.get("alphas", cfg.get("alpha"))
            alpha = alphas[0] if isinstance(alphas, (list, tuple)) else alphas
        subsets = draw_subsets(int(cfg["n_tasks"]), int(cfg["n"]), int(cfg["k"]), int(cfg["task_seed"]))
        return cls(subsets, int(cfg["n"]), float(alpha), dist=cfg.get("task_dist") or "zipf", device=device)

    @property
    def probs(self) -> torch.Tensor:
        """Task probabilities, shape (n_tasks,), float32 on the device."""
        return torch.as_tensor(self.probs_np, dtype=torch.float32, device=self.device)

    # ------------------------------------------------------------------ sampling
    def labels(self, task: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Parity labels: ``y = Σ_{j ∈ S_task} bits_j mod 2``; shapes (...,) and (..., n) -> (...,) int64."""
        idx = self.subsets[task]  # (..., k)
        return bits.gather(-1, idx).sum(-1, dtype=torch.int64) % 2

    def sample_tasks(self, n_samples: int, *, generator: torch.Generator) -> torch.Tensor:
        """Draw task ids from the Zipf distribution: (n_samples,) int64 (inverse CDF, no loop over tasks)."""
        u = torch.rand(n_samples, generator=generator, device=self.device, dtype=self.sample_dtype)
        return torch.searchsorted(self.cdf, u, right=True).clamp_(max=self.n_tasks - 1)

    def sample_raw(self, n_samples: int, *, generator: torch.Generator, tasks=None):
        """Compact samples ``(task, bits, y)``.

        Parameters
        ----------
        n_samples : int
            With ``tasks=None``: the number of samples, tasks drawn from the Zipf distribution.
            Otherwise: the number of samples of each listed task.
        generator : torch.Generator
            On the same device as the tasks.
        tasks : int or sequence of int, optional
            Sample these tasks, ``n_samples`` each, task-major order.

        Returns
        -------
        task : torch.Tensor (B,) int64
        bits : torch.Tensor (B, n) uint8
        y : torch.Tensor (B,) int64
        """
        if tasks is None:
            task = self.sample_tasks(int(n_samples), generator=generator)
        else:
            tasks_t = torch.as_tensor(np.atleast_1d(np.asarray(tasks, dtype=np.int64)), device=self.device)
            if tasks_t.numel() and (int(tasks_t.min()) < 0 or int(tasks_t.max()) >= self.n_tasks):
                raise QuantaError(f"tasks must lie in 0..{self.n_tasks - 1}", "pass valid task ids")
            task = tasks_t.repeat_interleave(int(n_samples))
        bits = torch.randint(0, 2, (task.shape[0], self.n), generator=generator, device=self.device,
                             dtype=torch.uint8)
        return task, bits, self.labels(task, bits)

    def to_inputs(self, task: torch.Tensor, bits: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """The full input: one-hot control bits then data bits, shape (B, n_tasks + n), 0/1 floats."""
        x = torch.zeros(task.shape[0], self.n_tasks + self.n, dtype=dtype, device=task.device)
        x[torch.arange(task.shape[0], device=task.device), task] = 1
        x[:, self.n_tasks:] = bits.to(dtype)
        return x

    def sample(self, n_samples: int, *, generator: torch.Generator, tasks=None):
        """Samples as full inputs ``(x, y, task)``.

        Same arguments as :meth:`sample_raw`. Returns ``x`` (B, n_tasks + n) float32 0/1,
        ``y`` (B,) int64 and ``task`` (B,) int64.
        """
        task, bits, y = self.sample_raw(n_samples, generator=generator, tasks=tasks)
        return self.to_inputs(task, bits), y, task

    def test_set(self, n_per_task: int, *, seed: int):
        """The held-out test set: ``n_per_task`` samples of every task, task-major, from ``seed``.

        It is drawn from its own generator (on the CPU, then moved), so it is the same on every device.
        Training data come from other generators (see :mod:`quanta.parity.train`), so test samples are
        held out in the sense of independent draws; with ``n`` data bits a test sample coincides with a
        given training sample of its task with probability 2^-n.
        """
        g = torch.Generator().manual_seed(derive_seed(seed, "parity-test"))
        task = torch.arange(self.n_tasks).repeat_interleave(int(n_per_task))
        bits = torch.randint(0, 2, (task.shape[0], self.n), generator=g, dtype=torch.uint8)
        task, bits = task.to(self.device), bits.to(self.device)
        return task, bits, self.labels(task, bits)

    def table(self) -> pd.DataFrame:
        """One row per task: ``alpha``, ``task``, ``p``, ``bits`` (list of k indices), ``n`` (data bits)."""
        return pd.DataFrame({
            "alpha": np.full(self.n_tasks, self.alpha),
            "task": np.arange(self.n_tasks, dtype=np.int64),
            "p": self.probs_np,
            "bits": [list(map(int, r)) for r in self.subsets_np],
            "n": np.full(self.n_tasks, self.n, dtype=np.int64),
        })


def test_seen_in_training(probs, n: int, D: int) -> float:
    """The share of the task-weighted test set whose input a training set of ``D`` samples holds, in expectation.

    The test set is drawn independently of the training data, so with ``n`` data bits a test sample of task k is
    one of the D training samples' inputs with probability ``1 - (1 - p_k·2^-n)^D``; weighted by ``p_k``, as the
    mean test loss is. Near 0 at the paper's n = 100; with few bits and a large D the loss of a data-sweep model
    partly measures memorisation (0.56 for the cpu-small tasks, n = 13, at D = 1e5).

    >>> round(test_seen_in_training(np.array([0.5, 0.5]), 10, 1024), 3)
    0.394
    """
    p = np.asarray(probs, dtype=float)
    if D <= 0:
        return 0.0
    return float((p * -np.expm1(D * np.log1p(-p * 2.0 ** -n))).sum())


def task_tables(subsets, n: int, alphas: Sequence[float], dist: str = "zipf") -> pd.DataFrame:
    """``tasks.parquet`` for a run: the task table of every α, stacked."""
    return pd.concat([ParityTasks(subsets, n, a, dist=dist).table() for a in alphas], ignore_index=True)


# ====================================================================== data streams
class DataStream:
    """The training batches of one group, generated on the device.

    ``D == 0``: every batch is fresh (tasks by inverse CDF, bits by ``randint``, labels by a
    gather: no Python loop over tasks). ``D > 0``: a fixed training set of D samples, drawn once
    from its own generator (``(seed, alpha, D)``), visited in a fresh random order every epoch;
    batches run across epoch boundaries. The batch generator's state (and the epoch order and
    position) is the stream's whole state.
    """

    def __init__(self, tasks: ParityTasks, D: int, seed: int, batch_size: int, device):
        self.tasks, self.D, self.seed = tasks, int(D), int(seed)
        self.device = torch.device(device)
        self.batch_size = min(int(batch_size), self.D) if self.D else int(batch_size)
        self.gen = torch.Generator(self.device).manual_seed(derive_seed(seed, tasks.alpha, self.D, "parity-batches"))
        self.train = None
        self.perm: torch.Tensor | None = None
        self.epoch_gen: torch.Tensor | None = None  # the generator's state just before the epoch order was drawn
        self.pos = 0
        if self.D:
            tg = torch.Generator(self.device).manual_seed(derive_seed(seed, tasks.alpha, self.D, "parity-train"))
            self.train = tasks.sample_raw(self.D, generator=tg)

    def next(self):
        """The next batch ``(task (b,), bits (b, n) uint8, y (b,))``."""
        if not self.D:
            return self.tasks.sample_raw(self.batch_size, generator=self.gen)
        need, parts = self.batch_size, []
        while need:
            if self.perm is None or self.pos >= self.D:
                self.epoch_gen = self.gen.get_state()
                self.perm = torch.randperm(self.D, generator=self.gen, device=self.device)
                self.pos = 0
            take = min(need, self.D - self.pos)
            parts.append(self.perm[self.pos:self.pos + take])
            self.pos += take
            need -= take
        idx = parts[0] if len(parts) == 1 else torch.cat(parts)
        task, bits, y = self.train
        return task[idx], bits[idx], y[idx]

    def state_dict(self) -> dict:
        """The generator's state, and the epoch order as the state it was drawn from (it is drawn again on load):
        paper-fig2-data's orders would take 88 MiB, more than a checkpoint can carry between GPU calls. The order's
        first entries are kept too, to tell when another device or torch draws it otherwise."""
        st = {"gen": self.gen.get_state(), "epoch_gen": self.epoch_gen, "pos": self.pos}
        if self.perm is not None:
            st["perm_head"] = self.perm[:PERM_HEAD].cpu()
        if self.epoch_gen is None and self.perm is not None:  # an order loaded from an older checkpoint, kept as is
            st["perm"] = self.perm.cpu()
        return st

    def load_state_dict(self, st: dict) -> None:
        if st.get("perm") is not None:  # a checkpoint of an earlier quanta stored the order itself
            self.perm, self.epoch_gen = st["perm"].to(self.device), None
        elif st.get("epoch_gen") is not None:
            self.gen.set_state(st["epoch_gen"])
            self.epoch_gen = st["epoch_gen"]
            self.perm = torch.randperm(self.D, generator=self.gen, device=self.device)
            head = st.get("perm_head")
            if head is not None and not torch.equal(self.perm[:PERM_HEAD].cpu(), head):
                log.warning("the epoch order of D=%d was drawn otherwise here than where the checkpoint was written "
                            "(another device kind or torch version?): the rest of this epoch repeats some samples "
                            "and skips others, so the run is no longer identical to one trained in one go; resume "
                            "on the machine kind and torch version that wrote it to keep it exact", self.D)
        else:
            self.perm = self.epoch_gen = None
        self.gen.set_state(st["gen"])
        self.pos = int(st["pos"])

"""The configuration of a parity sweep, and the checks on it: no torch, so that bad input is refused at once.

:class:`ParityConfig` (also importable from :mod:`quanta.parity.train`), the task frequencies
(:func:`task_probs`) and the task-shape check (:func:`check_task_shape`, both also in :mod:`quanta.parity.data`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np

from quanta.errors import QuantaError
from quanta.theory import zipf_probs
from quanta.validation import MAX_SEED

#: The largest count a sweep takes (steps, training-set size, ...): beyond any sweep, and within int64 arithmetic.
MAX_COUNT = 10 ** 12
#: The largest α: beyond it every task but the first has a frequency below 2^-51 of the first's.
MAX_ALPHA = 50.0

KERNELS = ("torch", "triton", "auto")
#: How the fused backward adds the gradient of the control-bit rows (quanta.parity.fused): see ParityConfig.
FUSED_CTRL = ("segments", "rows")


TASK_DISTS = ("zipf", "exp:RATE", "broken:RANK:STEEPER")


def task_probs(alpha: float, n_tasks: int, dist: str = "zipf") -> np.ndarray:
    """Task frequencies, ``p_i`` for ``i = 0 .. n_tasks-1``, summing to 1.

    ``dist`` is ``"zipf"`` (the quantization model's ``p_i ∝ (i+1)^-(α+1)``, :func:`quanta.theory.zipf_probs`) or
    one of two worlds that are *not* a power law, which the calibration (:mod:`quanta.calibrate`) plants to check
    that the test notices:

    ``"exp:RATE"``
        ``p_i ∝ exp(-RATE·i)``; ``alpha`` is only a label.
    ``"broken:RANK:STEEPER"``
        Zipf with exponent ``α+1`` up to rank ``RANK``, then ``α+1+STEEPER`` beyond it (continuous at ``RANK``).

    Examples
    --------
    >>> task_probs(0.4, 4, "exp:1.0").round(3)
    array([0.644, 0.237, 0.087, 0.032])
    >>> bool(np.allclose(task_probs(0.4, 50, "broken:50:2"), task_probs(0.4, 50)))
    True
    """
    kind, *args = str(dist).split(":")
    hint = "use zipf, exp:RATE (e.g. exp:0.1) or broken:RANK:STEEPER (e.g. broken:10:2)"
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise QuantaError(f"task_dist {dist!r} has a value that is not a number", hint) from None
    rank = np.arange(1, n_tasks + 1, dtype=np.float64)
    if kind == "zipf" and not values:
        return zipf_probs(alpha, n_tasks)
    if kind == "exp" and len(values) == 1 and math.isfinite(values[0]) and values[0] > 0:
        logp = -values[0] * (rank - 1)
    elif (kind == "broken" and len(values) == 2 and math.isfinite(values[0]) and values[0] >= 1
          and values[0] == int(values[0])
          and math.isfinite(values[1]) and values[1] > 0):
        r, extra = values
        logp = -(alpha + 1) * np.log(rank) - extra * np.log(np.maximum(rank / r, 1.0))
    else:
        raise QuantaError(f"task_dist must be zipf, exp:RATE (RATE > 0) or broken:RANK:STEEPER (RANK >= 1 an "
                          f"integer, STEEPER > 0), got {dist!r}", hint)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def check_task_shape(n_tasks: int, n: int, k: int) -> None:
    """Raise QuantaError unless ``n_tasks`` distinct k-subsets of ``n`` bits exist."""
    for name, value, low in (("n_tasks", n_tasks, 1), ("n", n, 1), ("k", k, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise QuantaError(f"{name} must be an integer >= {low}, got {value!r}", f"pass e.g. {name}=3")
    if k > n:
        raise QuantaError(f"k must be <= n (a task's bits are a k-subset of the n data bits), got k={k}, n={n}",
                          "lower k or raise n")
    if n_tasks > math.comb(n, k):
        raise QuantaError(f"n_tasks={n_tasks} is more than the {math.comb(n, k)} distinct {k}-subsets of n={n} bits",
                          "lower n_tasks or raise n")



def _is_int(v) -> bool:
    return (isinstance(v, (int, np.integer)) and not isinstance(v, bool)) or (
        isinstance(v, float) and math.isfinite(v) and v == int(v))


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class ParityConfig:
    """A multitask sparse parity sweep. Defaults are the paper's parameter sweep (Fig. 2).

    Sweep axes (lists; a scalar is taken as a one-element list): ``widths``, ``seeds``,
    ``data_sizes`` (``0`` = online sampling, a fresh batch every step; ``D > 0`` = a fixed
    training set of D samples, reshuffled every epoch), ``alphas`` (the paper's α: task ``i`` has
    probability ∝ (i+1)^-(α+1); the reference code's ``alpha`` is our α+1).
    """

    n_tasks: int = 500
    n: int = 100  # data bits
    k: int = 3  # bits per task
    alphas: tuple = (0.4,)
    widths: tuple = tuple(int(w) for w in np.unique(np.round(np.geomspace(10, 500, 30)).astype(int)))
    seeds: tuple = (0,)
    data_sizes: tuple = (0,)
    depth: int = 1  # hidden layers
    task_seed: int = 0  # draws the task subsets and the test set
    batch_size: int = 20000  # per group; a fixed-D group uses min(batch_size, D)
    steps: int = 200000
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    n_evals: int = 40  # log-spaced evaluation steps (plus step 0 and the last step)
    eval_every: int | None = None  # also evaluate every this many steps
    n_test_per_task: int = 1000
    eval_batch: int = 50000  # test rows per forward pass
    patience: int | None = None  # fixed-D members stop after this many evaluations without a better test loss
    checkpoint_every: int | None = None  # steps between checkpoints (None: none)
    tf32: bool = False  # CUDA TF32 matmuls (changes numerics: ~1e-3 relative)
    bf16: bool = False  # bf16 autocast for training forward/backward (changes numerics)
    compile: bool = False  # torch.compile the batched forward (same maths, different fusion order)
    task_dist: str = "zipf"  # task frequencies: zipf, or a planted non-power-law world (parity.data.task_probs)
    kernel: str = "torch"  # training step: "torch" (autograd), "triton" (fused, quanta.parity.fused) or "auto"
    # with the fused step, how ∂W_ctrl is added: "segments" (each batch sorted by task, one atomic add per run of
    # equal tasks in a batch tile) or "rows" (one atomic add per row); the same sums in another order
    fused_ctrl: str = "segments"

    def __post_init__(self):
        for key in ("alphas", "widths", "seeds", "data_sizes", "betas"):
            value = getattr(self, key)
            if not isinstance(value, (list, tuple)):
                value = (value,)
            object.__setattr__(self, key, tuple(value))
        for key in ("n_tasks", "n", "k", "depth", "task_seed", "batch_size", "steps", "n_evals", "n_test_per_task",
                    "eval_batch", "eval_every", "patience", "checkpoint_every"):
            value = getattr(self, key)
            if value is None and key in ("eval_every", "patience", "checkpoint_every"):
                continue
            if not _is_int(value):
                raise QuantaError(f"{key} must be an integer, got {value!r}", f"e.g. {key}=10")
            object.__setattr__(self, key, int(value))
        lows = {"n_tasks": 1, "n": 1, "k": 1, "depth": 1, "batch_size": 1, "steps": 1, "n_evals": 1,
                "n_test_per_task": 1, "eval_batch": 1, "eval_every": 1, "patience": 1, "checkpoint_every": 1,
                "task_seed": 0}
        for key, low in lows.items():
            value = getattr(self, key)
            if value is not None and value < low:
                raise QuantaError(f"{key} must be >= {low}, got {value}", f"e.g. {key}={max(low, 1)}")
            if value is not None and value > MAX_COUNT:  # beyond any sweep, and beyond what int64 steps can count
                raise QuantaError(f"{key} must be <= {MAX_COUNT:g}, got {value:g}", f"e.g. {key}={max(low, 1)}")
        check_task_shape(self.n_tasks, self.n, self.k)
        task_probs(1.0, self.n_tasks, self.task_dist)  # refuses a bad spec up front

        def _list(key, ok, what, conv):
            values = getattr(self, key)
            if not values:
                raise QuantaError(f"{key} must list at least one value, got []", f"e.g. {key}=[...]")
            bad = [v for v in values if not ok(v)]
            if bad:
                raise QuantaError(f"{key} must hold {what}, got {bad[0]!r}", f"fix {key}=...")
            values = tuple(conv(v) for v in values)
            if len(set(values)) != len(values):
                raise QuantaError(f"{key} must not repeat a value, got {list(values)}", "list each value once")
            object.__setattr__(self, key, values)

        _list("widths", lambda v: _is_int(v) and v >= 1, "integers >= 1 (width < 1 is impossible)", int)
        _list("seeds", lambda v: _is_int(v) and 0 <= v <= MAX_SEED, f"integers in [0, {MAX_SEED}]", int)
        _list("data_sizes", lambda v: _is_int(v) and 0 <= v <= MAX_COUNT,
              f"integers in [0, {MAX_COUNT:g}] (0 = online sampling)", int)
        _list("alphas", lambda v: _is_num(v) and 0 < v <= MAX_ALPHA,
              f"numbers in (0, {MAX_ALPHA:g}] (the paper's α; α <= 0 is impossible, and beyond {MAX_ALPHA:g} all but "
              "the first task have vanishing frequency)", float)
        if len(self.betas) != 2 or not all(_is_num(b) and 0 <= b < 1 for b in self.betas):
            raise QuantaError(f"betas must be two numbers in [0, 1), got {list(self.betas)}", "e.g. betas=[0.9,0.999]")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        for key, low in (("lr", 0.0), ("weight_decay", 0.0), ("eps", 0.0)):
            value = getattr(self, key)
            if not _is_num(value) or value < low or (key != "weight_decay" and value == 0) or value > 1e3:
                raise QuantaError(f"{key} must be a number in {'[' if key == 'weight_decay' else '('}0, 1000], got "
                                  f"{value!r}", f"e.g. {key}=0.001")
            object.__setattr__(self, key, float(value))
        for key in ("tf32", "bf16", "compile"):
            if not isinstance(getattr(self, key), bool):
                raise QuantaError(f"{key} must be true or false, got {getattr(self, key)!r}", f"pass e.g. {key}=True")
        if self.kernel not in KERNELS:
            raise QuantaError(f"kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}", "pass e.g. kernel='torch'")
        if self.fused_ctrl not in FUSED_CTRL:
            raise QuantaError(f"fused_ctrl must be one of {', '.join(FUSED_CTRL)}, got {self.fused_ctrl!r}",
                              "pass e.g. fused_ctrl='segments'")

    @classmethod
    def from_dict(cls, values: dict) -> "ParityConfig":
        """Build a config from a dict, refusing unknown keys (one-line QuantaError)."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise QuantaError(f"unknown parity config key {unknown[0]!r}", f"known keys: {', '.join(known)}")
        return cls(**values)

    # ------------------------------------------------------------------ derived
    def memory_bytes(self) -> int:
        """A rough upper estimate of the memory (bytes) training the sweep takes on its device: parameters,
        gradients and AdamW's moments of every member, a batch's activations for every group (forward and
        backward), and the test set."""
        G, sw, d_in = len(self.groups), sum(self.widths), self.n_tasks + self.n
        params = G * sum((d_in + 1) * w + (self.depth - 1) * (w * w + w) + 2 * w + 2 for w in self.widths)
        rows = min(self.batch_size, max(self.data_sizes) or self.batch_size)
        act = 4 * G * rows * (4 * self.depth * sw + 8)
        evals = 4 * G * self.eval_batch * (2 * self.depth * sw + 8)
        test = self.n_tasks * self.n_test_per_task * (self.n + 16)
        train_sets = sum(D * (self.n + 16) for _, D, _ in self.groups)  # fixed training sets: bits, task, label
        return int(16 * params + max(act, evals) + test + train_sets)

    @property
    def groups(self) -> list[tuple[float, int, int]]:
        """The (alpha, D, seed) of every group, in order."""
        return list(itertools.product(self.alphas, self.data_sizes, self.seeds))

    def eval_steps(self) -> list[int]:
        """Steps after which the test set is evaluated: 0, log-spaced points, every ``eval_every``, the last."""
        pts = set(np.unique(np.round(np.geomspace(1, self.steps, self.n_evals)).astype(int)).tolist())
        pts |= {0, self.steps}
        if self.eval_every:
            pts |= set(range(self.eval_every, self.steps + 1, self.eval_every))
        return sorted(int(p) for p in pts)

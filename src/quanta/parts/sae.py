"""A TopK sparse autoencoder (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"), torch only.

``x̂ = W_dec · TopK(ReLU(W_enc (x - b_dec) + b_enc)) + b_dec``: the decoder bias is tied (subtracted before the
encoder, added after the decoder), every decoder column has unit norm (renormalised after each step, and the
gradient's component along the column removed before it), exactly ``k`` latents are kept per row, and the loss
is the mean squared reconstruction error plus the AuxK term: latents that have not fired for ``dead_steps``
steps try to reconstruct the residual with their own top ``k_aux`` (their share of the loss ``aux_coef``). Adam,
seeded by an explicit torch Generator; no global random state is touched.

The loop is written here (about 100 lines) rather than taken from SAELens or EleutherAI's sparsify: sae-lens
6.x requires transformer-lens < 4 plus plotly, datasets, nltk and more, and sparsify's trainer is built around
hooking a Hugging Face model and streaming a ``datasets`` corpus; quanta needs neither, trains on an
activation matrix it already holds (parity's hidden layer, an LM site) and must stay CPU-testable in seconds.
docs/parts.md compares this loop with sparsify's SparseCoder on the planted toy (benchmarks/sae_library.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from quanta.validation import Interval, Options, seed_range, validate_config

__all__ = ["SAEConfig", "TopKSAE", "train_sae"]


@dataclass(frozen=True)
class SAEConfig:
    """Settings of a TopK SAE and its training.

    Attributes
    ----------
    n_latents : int, default 128
        Latents (dictionary size).
    k : float, default 4
        Latents kept per row (``topk``: a whole number), or per row on average (``batchtopk``: any positive
        number; the batch keeps ``round(k·B)`` codes).
    sparsity : str, default "batchtopk"
        ``topk`` keeps exactly k latents on every row (Gao et al. 2024); ``batchtopk`` keeps the top k·B codes of
        a batch of B rows, and at inference every code above a threshold (the mean of the smallest code
        kept per batch over the second half of training; Bussmann et al. 2024, "BatchTopK sparse autoencoders"). Use counts need batchtopk: with
        plain TopK every row fires exactly k latents however many parts it uses, which flattens the
        frequencies (measured on the tuning toy, docs/parts.md).
    n_steps : int, default 3000
        Adam steps.
    batch_size : int, default 256
        Rows per step (sampled with replacement by the seeded generator).
    lr : float, default 2e-3
        Adam learning rate (linearly decayed to 0 over the last fifth of the steps).
    dead_steps : int, default 200
        A latent that has not fired for this many steps is dead for the AuxK loss.
    k_aux : int, default 32
        Dead latents used by the AuxK loss per row (the paper: d/2).
    aux_coef : float, default 1/32
        Weight of the AuxK loss (the paper's).
    seed : int, default 0

    The defaults are generic starting points for LM activations (not tuned on anything here). The planted toy's
    settings (tests/test_parts_sae.py, ``TOY_SAE``) were chosen on its tuning configuration ``TUNE`` (alpha 0.8,
    seed 100), which the planted-exponent assertions never use; docs/parts.md names both sets.
    """

    n_latents: int = 128
    k: float = 4
    sparsity: str = "batchtopk"
    n_steps: int = 3000
    batch_size: int = 256
    lr: float = 2e-3
    dead_steps: int = 200
    k_aux: int = 32
    aux_coef: float = 1 / 32
    seed: int = 0

    def __post_init__(self):
        validate_config(self, {
            "n_latents": [Interval(int, 2, None)],
            "k": [Interval(float, 0, None, closed="neither")],
            "n_steps": [Interval(int, 1, None)],
            "batch_size": [Interval(int, 1, None)],
            "lr": [Interval(float, 0, 1e3, closed="neither")],
            "dead_steps": [Interval(int, 1, None)],
            "k_aux": [Interval(int, 1, None)],
            "aux_coef": [Interval(float, 0, None)],
            "seed": [seed_range()],
            "sparsity": [Options(("topk", "batchtopk"))],
        })
        if self.sparsity == "topk" and (not float(self.k).is_integer() or self.k < 1):
            from quanta.errors import QuantaError

            raise QuantaError(f"SAEConfig: k must be a whole number >= 1 for sparsity='topk', got {self.k}",
                              "pass an integer k, or sparsity='batchtopk' (k is then a mean per row)")
        if self.k >= self.n_latents:
            from quanta.errors import QuantaError

            raise QuantaError(f"SAEConfig: k must be below n_latents ({self.n_latents}), got {self.k}",
                              "pass a smaller k or more n_latents")


class TopKSAE(torch.nn.Module):
    """The autoencoder: ``encode`` gives the sparse codes (rows × latents), ``forward`` the reconstruction.

    ``scale`` divides the inputs (the mean row norm of the training matrix after centring, so that the learning
    rate means the same at every activation scale); codes are in those scaled units.
    """

    def __init__(self, d: int, n_latents: int, k: int, *, generator: torch.Generator, scale: float = 1.0,
                 sparsity: str = "batchtopk"):
        super().__init__()
        self.sparsity = sparsity
        self.threshold = 0.0  # batchtopk: the inference threshold (running mean of the smallest kept code)
        w = torch.randn(d, n_latents, generator=generator)
        w = w / w.norm(dim=0, keepdim=True)
        self.W_dec = torch.nn.Parameter(w.clone())  # (d, n_latents), unit columns
        self.W_enc = torch.nn.Parameter(w.t().clone())  # (n_latents, d), initialised as the transpose
        self.b_enc = torch.nn.Parameter(torch.zeros(n_latents))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))
        self.k = float(k)
        self.scale = float(scale)

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x / self.scale - self.b_dec) @ self.W_enc.t() + self.b_enc)  # (B, n_latents)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse codes. ``topk``: the top ``k`` (positive) pre-activations of each row, zeros elsewhere;
        ``batchtopk``: every pre-activation above the learned ``threshold`` (k per row on average)."""
        a = self.pre_acts(x)
        if self.sparsity == "batchtopk":
            return a * (a > self.threshold)
        top = a.topk(int(self.k), dim=1)
        return torch.zeros_like(a).scatter_(1, top.indices, top.values)  # (B, n_latents)

    def train_codes(self, a: torch.Tensor) -> torch.Tensor:
        """Codes during training from pre-activations ``a`` (B, n_latents): per row, or the top k·B of the batch."""
        if self.sparsity == "batchtopk":
            flat = a.flatten()
            top = flat.topk(max(1, round(self.k * a.shape[0])))
            return torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(a)
        top = a.topk(int(self.k), dim=1)
        return torch.zeros_like(a).scatter(1, top.indices, top.values)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.W_dec.t() + self.b_dec) * self.scale  # (B, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Drop the gradient's component along each (unit) decoder column, which renormalising would undo."""
        if self.W_dec.grad is not None:
            g = self.W_dec.grad
            g.sub_(self.W_dec * (g * self.W_dec).sum(dim=0, keepdim=True))


def geometric_median(X: torch.Tensor, *, n_iter: int = 50, eps: float = 1e-8) -> torch.Tensor:
    """The point minimising the summed Euclidean distance to the rows of ``X`` (Weiszfeld's iterations)."""
    y = X.median(dim=0).values
    for _ in range(n_iter):
        w = 1.0 / (X - y).norm(dim=1).clamp_min(eps)  # (n,)
        y_new = (w[:, None] * X).sum(dim=0) / w.sum()
        if float((y_new - y).norm()) < eps * (1.0 + float(y.norm())):
            return y_new
        y = y_new
    return y


def fraction_unexplained(X: torch.Tensor, x_hat: torch.Tensor) -> float | None:
    """Fraction of variance unexplained of the reconstruction ``x_hat`` of the rows ``X``:
    sum |x − x̂|² / sum |x − mean(x)|² (None when not finite)."""
    X = torch.as_tensor(X, dtype=torch.float32)
    x_hat = torch.as_tensor(x_hat, dtype=torch.float32).to(X.device)
    fvu = float((X - x_hat).pow(2).sum() / (X - X.mean(dim=0)).pow(2).sum().clamp_min(1e-30))
    return fvu if math.isfinite(fvu) else None


def train_sae(X, config: SAEConfig = SAEConfig(), *, device=None, progress=None) -> tuple[TopKSAE, dict]:
    """Train a TopK SAE on the rows of ``X``.

    Parameters
    ----------
    X : array or tensor, shape (n_rows, d)
        Activations, one row per sample or token.
    config : SAEConfig
    device : str or torch.device, optional
        Where to train (default CPU).
    progress : callable, optional
        Called with the number of steps done (for a progress bar).

    Returns
    -------
    (sae, info) : the trained :class:`TopKSAE` (on the CPU, eval mode) and ``info`` with ``fvu`` (fraction of
    variance unexplained on all rows, after training), ``loss_curve`` (mean MSE of each tenth of the steps) and
    ``n_dead_at_end`` (latents that had not fired in the last ``dead_steps`` steps).
    """
    from quanta.errors import QuantaError

    dev = torch.device(device or "cpu")
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not torch.is_tensor(X) else X, dtype=torch.float32)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise QuantaError(f"activations must be a matrix of at least 2 rows, got shape {tuple(X.shape)}",
                          "pass one row per sample or token")
    if not torch.isfinite(X).all():
        raise QuantaError("activations contain NaN or inf", "check the model or the layer the activations come from")
    n, d = X.shape
    cfg = config
    gen = torch.Generator().manual_seed(cfg.seed)
    center = geometric_median(X)
    scale = float((X - center).norm(dim=1).mean()) or 1.0
    sae = TopKSAE(d, cfg.n_latents, cfg.k, generator=gen, scale=scale, sparsity=cfg.sparsity)
    with torch.no_grad():
        # the tied bias starts at the geometric median (as Gao et al. and Bricken et al.), not the mean: on sparse
        # data the mean carries the frequent parts, and a latent then learns the *absence* of the commonest part
        # (measured on the tuning toy: the top latent was minus part 1, firing on every row without it)
        sae.b_dec.copy_(center / scale)
    sae.to(dev)
    Xd = X.to(dev)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    decay_from = int(0.8 * cfg.n_steps)
    since_fired = torch.zeros(cfg.n_latents, dtype=torch.long, device=dev)
    k_aux = min(cfg.k_aux, cfg.n_latents - 1)
    curve, chunk = [], []
    thr_sum, thr_n = 0.0, 0
    for step in range(cfg.n_steps):
        if step >= decay_from:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * (cfg.n_steps - step) / max(1, cfg.n_steps - decay_from)
        idx = torch.randint(0, n, (cfg.batch_size,), generator=gen).to(dev)
        x = Xd[idx] / scale  # (B, d), the target in the SAE's scaled units
        a = sae.pre_acts(x * scale)  # (B, n_latents); pre_acts takes raw units (kept so: the record used it)
        z = sae.train_codes(a)  # (B, n_latents)
        if cfg.sparsity == "batchtopk":
            kept = z[z > 0]
            if kept.numel() and step >= cfg.n_steps // 2:  # the threshold of the trained half
                thr_sum += float(kept.min().detach())
                thr_n += 1
        x_hat = z @ sae.W_dec.t() + sae.b_dec
        err = x - x_hat
        var = (x - x.mean(dim=0)).pow(2).sum(dim=1).mean().clamp_min(1e-12)
        loss = err.pow(2).sum(dim=1).mean() / var  # normalised MSE
        fired = (z > 0).any(dim=0)
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
        dead = since_fired >= cfg.dead_steps
        if cfg.aux_coef > 0 and bool(dead.any()):
            a_dead = a.masked_fill(~dead, 0.0)
            kk = min(k_aux, int(dead.sum()))
            t = a_dead.topk(kk, dim=1)
            z_aux = torch.zeros_like(a).scatter(1, t.indices, t.values)
            e_hat = z_aux @ sae.W_dec.t()
            e = err.detach()
            aux = (e - e_hat).pow(2).sum(dim=1).mean() / e.pow(2).sum(dim=1).mean().clamp_min(1e-12)
            loss = loss + cfg.aux_coef * torch.nan_to_num(aux, nan=0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_grad()
        opt.step()
        sae.normalize_decoder()
        chunk.append(float(loss.detach()))
        if len(chunk) >= max(1, cfg.n_steps // 10):
            curve.append(float(np.mean(chunk)))
            chunk = []
        if progress is not None:
            progress(1)
    sae.threshold = thr_sum / thr_n if thr_n else 0.0
    sae.cpu().eval()
    with torch.no_grad():
        fvu = fraction_unexplained(X, torch.cat([sae(X[i:i + 4096]) for i in range(0, n, 4096)]))
    info = {"fvu": fvu, "loss_curve": curve,
            "n_dead_at_end": int((since_fired >= cfg.dead_steps).sum()), "scale": scale}
    return sae, info

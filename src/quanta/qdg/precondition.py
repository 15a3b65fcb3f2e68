"""Preconditioning of gradients by the diagonal of their own empirical Fisher (``precondition="diag"``).

Influence-function methods (TRAK, Kronfluence) compare gradients under a Fisher / Gauss-Newton metric, not the
Euclidean one. ``"diag"`` uses the diagonal of the empirical Fisher of the examples themselves: every coordinate
``c`` is divided by its root-mean-square over the examples, ``g_c / sqrt(mean_s g_c² + λ)``, so a coordinate
that is large for every example (a shared, dominant block) stops dominating the cosines, and a coordinate that
only few examples touch (a rare feature) counts as much as any other. ``λ`` is ``damping`` (1e-8) times the
mean of ``mean_s g_c²`` over all coordinates, so the result does not depend on the gradients' overall scale and
coordinates that are zero for every example stay zero. With exact gradients the scaling is applied to the
finished matrix (:func:`precondition_gradients`); with a sketch it must come before sketching, which
:mod:`quanta.qdg.grads` does with :func:`diag_scale` (see its docstring).
"""

from __future__ import annotations

import torch

from quanta.errors import QuantaError


PRECONDITIONERS = ("none", "diag")


def check_precondition(precondition: str) -> None:
    """Raise a QuantaError unless ``precondition`` is one of :data:`PRECONDITIONERS`."""
    if precondition not in PRECONDITIONERS:
        raise QuantaError(f"precondition: must be one of {', '.join(PRECONDITIONERS)}, got {precondition!r}",
                          "none: raw gradients; diag: every coordinate divided by its RMS over the examples")


def diag_scale(mean_sq: torch.Tensor, *, damping: float = 1e-8) -> torch.Tensor:
    """Per-coordinate factors ``1 / sqrt(m_c + damping · mean_c m_c)`` from the mean squares ``m`` (any shape).

    Coordinates with ``m_c = 0`` get 0. ``damping = 0`` standardises every other coordinate to unit RMS exactly.
    """
    m = mean_sq.to(torch.float64)
    floor = damping * float(m.mean()) if m.numel() else 0.0
    # a coordinate that is zero for every example stays zero (factor 0, not 1/sqrt(0))
    return torch.where(m > 0, (m + floor).rsqrt(), torch.zeros_like(m)).to(torch.float32)


def precondition_gradients(G, precondition: str = "diag", *, damping: float = 1e-8) -> torch.Tensor:
    """Gradients (n, D) preconditioned by the diagonal empirical Fisher of their own rows.

    Parameters
    ----------
    G : array-like of shape (n, D)
        One exact (unsketched) gradient per row.
    precondition : {"diag", "none"}, default "diag"
        ``diag``: column ``c`` divided by ``sqrt(mean_s G[s, c]² + λ)`` with ``λ = damping · mean_c mean_s G²``;
        ``none``: ``G`` unchanged.
    damping : float, default 1e-8
        Relative: coordinates whose RMS is below about ``sqrt(damping)`` (1e-4) times the typical RMS are damped
        rather than standardised. 0 standardises every non-zero coordinate.

    Returns
    -------
    torch.Tensor (n, D) float32: a new tensor for ``diag`` (``G`` itself for ``none``). Invariant to a positive
    rescaling of any column of ``G`` (exactly for ``damping=0``).
    """
    check_precondition(precondition)
    G = torch.as_tensor(G, dtype=torch.float32)
    if precondition == "none":
        return G
    mean_sq = torch.zeros(G.shape[1], dtype=torch.float64)
    for s in range(0, G.shape[0], 4096):  # chunked so no float64 copy of G exists
        mean_sq += G[s:s + 4096].to(torch.float64).pow(2).sum(0)
    return G * diag_scale(mean_sq / max(1, G.shape[0]), damping=damping)

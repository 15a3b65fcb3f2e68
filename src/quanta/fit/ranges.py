"""Fit-range rules for a loss-against-budget sweep that read only the mean loss (no labels)."""

from __future__ import annotations

import numpy as np


def plateau_fit_range(x, loss, *, chance_loss: float | None = None, plateau_fraction: float = 0.99) -> np.ndarray:
    """The fit-range rule for a loss-against-budget sweep that needs no labels, as a boolean mask.

    A point is in the range when (1) its loss is below ``plateau_fraction`` of the chance loss (the model has left
    the plateau where it has learned nothing; without ``chance_loss``, below the sweep's largest loss) and (2) its
    budget is not beyond that of the lowest loss (past it the curve is flat or rising, limited by something
    else). Both read only the mean loss a user measures, never per-quantum losses or task ids.

    Examples
    --------
    >>> plateau_fit_range([1, 2, 4, 8, 16], [0.693, 0.6, 0.4, 0.3, 0.31], chance_loss=np.log(2)).tolist()
    [False, True, True, True, False]
    """
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    ok = (x > 0) & np.isfinite(loss)
    if not ok.any():
        return ok
    top = chance_loss if chance_loss is not None else float(loss[ok].max())
    ok &= loss < plateau_fraction * top
    return ok & upto_lowest_loss(x, loss) if ok.any() else ok


def upto_lowest_loss(x, loss) -> np.ndarray:
    """Points whose budget is not beyond that of the lowest finite loss (past it the curve is flat or rising)."""
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    finite = np.isfinite(loss) & (x > 0)
    return x <= x[finite][np.argmin(loss[finite])]

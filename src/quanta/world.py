"""Which world a run measures: the corpus and the models behind an LM analysis, and whether two runs share them.

The closing test (:mod:`quanta.falsify`) and the formation tests (:mod:`quanta.formation`) compare a run that
measured a scaling law or learning steps with a run that decomposed a model. Comparing runs of different worlds (a
model outside the analyzed suite, another corpus) gives a number that means nothing, so both refuse it unless the
user says so (``allow_mismatch``). This module reads what each run recorded; it never loads a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from quanta.errors import QuantaError

__all__ = ["LMWorld", "lm_world", "base_corpus", "check_same_lm_world"]

_SPLITS = (":train", ":test")


class LMWorld(NamedTuple):
    """The corpus spec an LM analysis's losses read, and the models they scored."""

    corpus: str | None
    suite: list[str]


def base_corpus(spec: str | None) -> str | None:
    """The corpus spec without its ``:train``/``:test`` split (both splits are one world)."""
    if spec is None:
        return None
    s = str(spec)
    for suffix in _SPLITS:
        if s.endswith(suffix):
            return s[: -len(suffix)]
    return s


def lm_world(analyze_run) -> LMWorld:
    """The corpus and models behind a ``quanta lm analyze`` run, read from the losses run it analyzed.

    Returns ``LMWorld(None, [])`` when the losses run is gone or unreadable (nothing can be checked then).
    """
    from quanta.store import Run

    losses_dir = analyze_run.config.get("losses_dir")
    if not losses_dir:
        return LMWorld(None, [])
    try:
        lrun = Run.open(losses_dir, command="lm losses")
    except QuantaError:
        return LMWorld(None, [])
    return LMWorld(lrun.config.get("corpus"), [str(s) for s in lrun.config.get("suite") or []])


def _resolved(path) -> str:
    p = Path(str(path))
    return str(p.resolve()) if p.exists() else str(path)


def _model_in_suite(model: str, suite: list[str]) -> bool:
    m = _resolved(model)
    for s in suite:
        r = _resolved(s)
        if m == r or str(model) == str(s):
            return True
        if Path(m).is_absolute() and Path(r).is_absolute():
            try:
                Path(m).relative_to(r)
                return True
            except ValueError:
                pass
    return False


def check_same_lm_world(parts_summary: dict, world: LMWorld, *, parts_dir, other_dir, what: str,
                        same_split: bool = False) -> bool:
    """Refuse a decomposition whose corpus or model is not the analyzed world's.

    Parameters
    ----------
    parts_summary : dict
        The ``summary.json`` of a ``quanta qdg --model`` (or parts) run: its ``model`` and ``corpus``.
    world : LMWorld
        From :func:`lm_world` of the other run.
    parts_dir, other_dir : path
        For the message.
    what : str
        What the other run gives ("the scaling law", "the learning steps").
    same_split : bool
        Also require the same split (``:train``/``:test``): needed when tokens are matched by position.

    Returns
    -------
    bool
        Whether anything could be checked (False when neither run recorded its world).

    Raises
    ------
    QuantaError
        When the corpora or the models differ.
    """
    model, corpus = parts_summary.get("model"), parts_summary.get("corpus")
    checked = False
    if model is not None and world.suite:
        checked = True
        if not _model_in_suite(str(model), world.suite):
            raise QuantaError(f"the parts come from {model}, a model of another suite than the one {what} of "
                              f"{other_dir} comes from ({', '.join(world.suite)})",
                              "decompose a model of the analyzed suite, or pass allow_mismatch (--allow-mismatch)")
    if world.corpus is not None and corpus is not None:
        checked = True
        if not _same_corpus(str(corpus), str(world.corpus), same_split=same_split):
            planted = _planted(str(corpus)) is not None and _planted(str(world.corpus)) is not None
            raise QuantaError(f"the parts of {parts_dir} come from {corpus!r} but {what} of {other_dir} from "
                              f"{world.corpus!r}" + (": another planted world" if planted else ": another corpus"),
                              "use runs on the same corpus, or pass allow_mismatch (--allow-mismatch)")
    return checked


def _planted(spec: str):
    """The parsed planted spec and its split, or None for other corpora."""
    from quanta.lm.planted import is_planted_spec, parse_planted_spec

    if not is_planted_spec(spec):
        return None
    try:
        return parse_planted_spec(spec)
    except QuantaError:
        return None


def _same_corpus(a: str, b: str, *, same_split: bool) -> bool:
    """Two corpus specs name the same text (planted specs compared by their parsed fields)."""
    pa, pb = _planted(a), _planted(b)
    if pa is not None and pb is not None:
        return pa[0] == pb[0] and (not same_split or pa[1] == pb[1])
    if same_split:
        return a == b
    return base_corpus(a) == base_corpus(b)

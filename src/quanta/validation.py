"""Parameter validation: what each parameter allows, declared once, checked by one function.

Modelled on scikit-learn's ``_parameter_constraints``. A config (or a function) declares
``{name: [constraint, ...]}``; a value is valid when it satisfies any one of its constraints.
:func:`validate_params` checks every declared parameter and raises :class:`~quanta.errors.QuantaError`
naming the first bad one as the library call spells it (``n_boot=``), with the value received, what is allowed
and, as the hint, a valid example (by default the parameter's default). The CLI prints ``name=VALUE`` of a
parameter that is one of its options as ``--flag VALUE`` (:func:`quanta.cli.cli_message`).

Constraints:

* :class:`Interval` ``(type, left, right, closed=...)``: a number of ``type`` (:class:`numbers.Integral` or
  :class:`numbers.Real`; never a bool, never NaN or inf) in the interval; ``None`` as an end leaves that side open.
* :class:`Options` ``(values)``: one of a fixed set of values.
* ``"boolean"``: True or False. ``None``: the value None.
* :class:`Satisfies` ``(predicate, description)``: anything else, described in words.

>>> from quanta.validation import Interval, Options, validate_params
>>> rules = {"n_boot": [Interval(int, 0, None)], "mode": [Options({"auto", "suite"})]}
>>> validate_params({"n_boot": 200, "mode": "auto"}, rules, where="AnalyzeConfig")
>>> validate_params({"n_boot": -1, "mode": "auto"}, rules, where="AnalyzeConfig", examples={"n_boot": 200})
Traceback (most recent call last):
...
quanta.errors.QuantaError: AnalyzeConfig: n_boot must be an integer >= 0, got -1 (pass e.g. n_boot=200)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from quanta.errors import QuantaError

__all__ = ["Constraint", "Interval", "Options", "Satisfies", "validate_params", "validate_config", "is_int", "is_real"]


def is_int(value) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A finite real number (int or float, Python or numpy), not a bool."""
    return (isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(float(value)))


class Constraint:
    """What one parameter may be: :meth:`is_satisfied_by` tests a value, ``str()`` says it in words."""

    def is_satisfied_by(self, value) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


#: The largest seed a command takes: every generator quanta seeds (numpy, torch, derived seeds) accepts it.
MAX_SEED = 2 ** 32 - 1


def seed_range():
    """The constraint of a seed: an integer in [0, 2^32 - 1]."""
    return Interval(int, 0, MAX_SEED)


class Interval(Constraint):
    """A number of ``type`` between ``left`` and ``right``.

    Parameters
    ----------
    type : int, float, numbers.Integral or numbers.Real
        ``int``/``Integral``: integers only; ``float``/``Real``: any finite real number (ints too).
    left, right : float or None
        The ends; None leaves that side unbounded.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which ends belong to the interval.
    """

    def __init__(self, type, left, right, *, closed: str = "both"):
        if type not in (int, float, numbers.Integral, numbers.Real):
            raise ValueError(f"Interval type must be int or float, got {type!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither, got {closed!r}")
        self.integral = type in (int, numbers.Integral)
        self.left, self.right, self.closed = left, right, closed

    def is_satisfied_by(self, value) -> bool:
        if not (is_int(value) if self.integral else is_real(value)):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        kind = "an integer" if self.integral else "a number"

        def num(v):  # an integral bound in full (a seed's 4294967295, not 4.29497e+09)
            return str(int(v)) if self.integral and float(v).is_integer() else f"{v:g}"

        lo = None if self.left is None else (">=" if self.closed in ("both", "left") else ">") + f" {num(self.left)}"
        hi = None if self.right is None else ("<=" if self.closed in ("both", "right") else "<") + f" {num(self.right)}"
        if lo and hi:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{kind} in {left}{num(self.left)}, {num(self.right)}{right}"
        return " ".join(p for p in (kind, lo or hi) if p)


class Options(Constraint):
    """One of a fixed set of values (compared with ``==``; a bool never matches a number)."""

    def __init__(self, values: Iterable):
        self.values = tuple(values)

    def is_satisfied_by(self, value) -> bool:
        if isinstance(value, np.ndarray):
            return False
        return any(isinstance(value, (bool, np.bool_)) == isinstance(v, bool) and value == v for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)


class Satisfies(Constraint):
    """Any value for which ``predicate(value)`` is true; ``description`` says which, e.g. ``"a pair (lo, hi)"``."""

    def __init__(self, predicate: Callable[[object], bool], description: str):
        self.predicate, self.description = predicate, description

    def is_satisfied_by(self, value) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.description


class _Boolean(Constraint):
    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "true or false"


class _NoneValue(Constraint):
    def is_satisfied_by(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


def _constraint(c) -> Constraint:
    if isinstance(c, Constraint):
        return c
    if c == "boolean":
        return _Boolean()
    if c is None:
        return _NoneValue()
    raise ValueError(f"unknown constraint {c!r}")


def _example(value) -> str:
    return value if isinstance(value, str) else repr(value)


def validate_params(params: Mapping, constraints: Mapping[str, list], where: str, *,
                    examples: Mapping | None = None) -> None:
    """Raise :class:`~quanta.errors.QuantaError` for the first parameter that satisfies none of its constraints.

    Parameters
    ----------
    params : mapping
        ``{name: value}``, e.g. ``dataclasses.asdict(config)`` or a function's keyword arguments.
    constraints : mapping
        ``{name: [constraint, ...]}``; a constraint is a :class:`Constraint`, ``"boolean"`` or ``None``.
        Parameters without an entry are not checked.
    where : str
        What is being configured (``"AnalyzeConfig"``, ``"fit_power_law"``); the message starts with it.
    examples : mapping, optional
        ``{name: value}``: a valid value to suggest in the hint (``pass e.g. name=value``), typically the default.

    Raises
    ------
    QuantaError
        ``"<where>: <name> must be <what is allowed>, got <value>"`` with the hint ``"pass e.g. <name>=<example>"``.
    """
    examples = examples or {}
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        allowed = [_constraint(c) for c in allowed]
        if any(c.is_satisfied_by(value) for c in allowed):
            continue
        words = " or ".join(str(c) for c in allowed)
        hint = f"pass e.g. {name}={_example(examples[name])}" if name in examples else None
        raise QuantaError(f"{where}: {name} must be {words}, got {value!r}", hint)


def validate_config(config, constraints: Mapping[str, list], *, examples: Mapping | None = None) -> None:
    """:func:`validate_params` for a dataclass ``config``: its fields, named after its class, with its defaults
    (those that are not None) as the examples, updated by ``examples``."""
    import dataclasses

    fields = dataclasses.fields(config)
    defaults = {f.name: f.default for f in fields
                if f.default is not dataclasses.MISSING and f.default is not None}
    validate_params({f.name: getattr(config, f.name) for f in fields}, constraints, type(config).__name__,
                    examples={**defaults, **(examples or {})})

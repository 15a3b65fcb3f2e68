"""Lazy public names for a package: its ``__getattr__`` and ``__dir__``, so importing it stays light.

A package lists ``{name: module}`` once; ``pkg.name`` imports ``module`` on first use, and ``dir(pkg)``, tab
completion and ``help(pkg)`` show every name before any is loaded.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose names ``exports`` maps to their modules.

    ``namespace`` is the package's ``globals()``; ``__dir__`` lists it together with the exported names.
    """

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, sorted(exports)

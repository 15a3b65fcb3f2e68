"""quanta: the quantization model of neural scaling, put to work and to the test.

Modules follow the paper's concepts: :mod:`quanta.theory`, :mod:`quanta.fit`,
:mod:`quanta.parity`, :mod:`quanta.lm`, :mod:`quanta.qdg`, :mod:`quanta.falsify`
and :mod:`quanta.report`. Importing the package has no side effects.
"""

__version__ = "0.1.0"

from quanta.errors import QuantaError  # noqa: E402

__all__ = ["QuantaError", "__version__"]

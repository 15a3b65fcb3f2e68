"""Every docstring example in src/quanta runs (``>>>`` lines), so the examples cannot drift from the code."""

import doctest
import importlib
from pathlib import Path

import pytest

import quanta

ROOT = Path(quanta.__file__).parent
# modules whose docstrings hold examples; a test below keeps this list complete
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in ROOT.rglob("*.py") if ">>>" in p.read_text())


def test_examples_are_found():
    assert "quanta.fit" in WITH_EXAMPLES and "quanta" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    if result.attempted == 0:  # only examples marked to be skipped (they need run directories on disk)
        source = Path(module.__file__).read_text()
        assert all("doctest: +SKIP" in line for line in source.splitlines() if ">>>" in line), name
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see the output)"

"""One writer of a doc page's recorded block, for every benchmark that renders its record into docs/, and the
check that a record made in another venv (a library quanta compares itself with) ran this checkout's quanta.

A block runs from its start marker to its end marker (``<!-- name:start -->`` ... ``<!-- name:end -->``), both
included; the page outside it is kept byte for byte. Benchmarks are run as scripts (``python benchmarks/x.py``), so
this module is imported by its bare name; ``tests/conftest.load_benchmark`` puts benchmarks/ on the path as well.
"""

from __future__ import annotations

import json
from pathlib import Path

from quanta.store import atomic_write_bytes


def write_block(doc: Path, block: str, start: str, end: str) -> None:
    """Replace the marked block of ``doc`` by ``block`` (which carries the same markers), atomically."""
    if not (block.startswith(start) and block.endswith(end)):
        raise ValueError(f"the new block must begin with {start!r} and end with {end!r}")
    doc = Path(doc)
    text = doc.read_text()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{doc} must hold exactly one {start} ... {end} block; add the markers where it belongs")
    i, j = text.index(start), text.index(end) + len(end)
    atomic_write_bytes(doc, (text[:i] + block + text[j:]).encode())


def publish(record: dict, data: Path, doc: Path, block: str, start: str, end: str, *, write_docs: bool) -> None:
    """Save a benchmark's ``record`` as JSON at ``data``, with ``write_docs`` also put its rendered ``block`` into
    ``doc`` (:func:`write_block`), and print the block."""
    Path(data).write_text(json.dumps(record, indent=1) + "\n")
    if write_docs:
        write_block(doc, block, start, end)
    print(block)


def checkout_quanta(root: Path) -> str:
    """The path, relative to ``root``, of the quanta module imported; exits when it is not this checkout's (a venv's
    own installed quanta would record another checkout's code)."""
    import quanta

    here = Path(quanta.__file__).resolve()
    if Path(root).resolve() not in here.parents:
        raise SystemExit(f"quanta is imported from {here}, not this checkout: run with PYTHONPATH=src")
    return str(here.relative_to(Path(root).resolve()))

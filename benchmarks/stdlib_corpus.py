"""The stdlib corpus's sizes on the running Python, recorded for docs/lm.md.

    python benchmarks/stdlib_corpus.py          # writes docs/data/stdlib_corpus.json

The standard library differs between builds of one Python version (Debian splits distutils, lib2to3, tkinter and
idlelib into packages of their own; a patch release adds or moves files), so the record holds a fingerprint of the
file list with the sizes; tests/test_docs_lm_pages.py checks the page against the record always, and the record
against the running Python where its version and file list are the recorded ones (elsewhere it says why it cannot).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "data" / "stdlib_corpus.json"


def fingerprint() -> str:
    """sha256 of the sorted relative paths of the stdlib's .py files (the corpus's candidates)."""
    from quanta.lm.corpus import stdlib_files, stdlib_root

    root = stdlib_root()
    names = "\n".join(str(p.relative_to(root)) for p in stdlib_files("all"))
    return hashlib.sha256(names.encode()).hexdigest()


def measure() -> dict:
    from quanta.lm.corpus import load_corpus, stdlib_root

    root = stdlib_root()
    out = {"date": dt.date.today().isoformat(), "python": platform.python_version(),
           "version": f"{sys.version_info.major}.{sys.version_info.minor}", "files_sha256": fingerprint()}
    for spec, key in (("stdlib", "all"), ("stdlib:test", "test")):
        docs = load_corpus(spec)
        out[f"{key}_documents"] = len(docs)
        out[f"{key}_mb"] = round(sum((root / d.source).stat().st_size for d in docs) / 1e6, 3)
    return out


def main() -> int:
    from quanta.store import atomic_write_json

    rec = measure()
    atomic_write_json(RECORD, rec)
    print(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

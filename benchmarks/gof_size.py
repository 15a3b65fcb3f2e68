"""The size of the power-law goodness-of-fit test (``quanta.plausibility.power_law_check``) on true Zipf parts.

    PYTHONPATH=src python benchmarks/gof_size.py [--sets 200] [--write-docs]

For each setting (parts, exponent, members), ``--sets`` data sets are drawn from the Zipf law itself (members
multinomial over the ranks; an empty part is dropped, as a decomposition reports none) and checked with 200
bootstrap replicates. The share with p <= 0.1 is the test's size at the 0.1 level the check uses (nominal 10%),
given with its 95% Wilson interval. The record goes to docs/data/gof_size.json and, with --write-docs, into
docs/falsify.md between the gof-size markers; tests/test_docs_figures.py checks that the two agree.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from docblock import publish

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "gof_size.json"
DOC = ROOT / "docs" / "falsify.md"
START, END = "<!-- gof-size:start -->", "<!-- gof-size:end -->"
#: (parts, Zipf exponent, members): a CPU-scale decomposition's head, a larger one, and many thin parts
SETTINGS = ((13, 1.4, 1300), (20, 1.4, 2000), (40, 1.4, 300))
LEVEL = 0.1


def measure(n_parts: int, exponent: float, n_members: int, n_sets: int, n_boot: int = 200) -> dict:
    from quanta.plausibility import power_law_check

    r = np.arange(1, n_parts + 1, dtype=float)
    p = r ** -exponent
    p /= p.sum()
    ps = []
    for s in range(n_sets):
        sizes = np.random.default_rng(s).multinomial(n_members, p)
        ps.append(power_law_check(sizes[sizes > 0], n_boot=n_boot, seed=s).gof_p)
    k = int((np.asarray(ps) <= LEVEL).sum())
    return {"n_parts": n_parts, "exponent": exponent, "n_members": n_members, "n_sets": n_sets, "n_boot": n_boot,
            "n_rejected": k, "median_p": float(np.median(ps))}


def sentence(record: dict) -> str:
    from quanta.calibrate.rates import wilson

    parts = []
    for r in record["rows"]:
        lo, hi = wilson(r["n_rejected"], r["n_sets"])
        parts.append(f"{r['n_rejected']}/{r['n_sets']} = {r['n_rejected'] / r['n_sets']:.0%} [{lo:.0%}, {hi:.0%}] "
                     f"with {r['n_parts']} parts of {r['n_members']:,} members (median p {r['median_p']:.2f})")
    return (f"{START}\nMeasured size of the goodness-of-fit test on true Zipf parts (exponent 1.4, "
            f"{record['rows'][0]['n_boot']} replicates each; `benchmarks/gof_size.py`, {record['date']}): p ≤ 0.1 in "
            + "; ".join(parts) + " (nominal 10%; 95% Wilson intervals).\n" + END)


def check_docs() -> bool:
    """Whether docs/falsify.md shows exactly the recorded sentence (used by tests/test_docs_figures.py)."""
    return sentence(json.loads(DATA.read_text())) in DOC.read_text()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = [measure(*s, n_sets=args.sets) for s in SETTINGS]
    record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.system()}",
              "seconds": round(time.time() - t0, 1), "rows": rows}
    publish(record, DATA, DOC, sentence(record), START, END, write_docs=args.write_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Record a ``quanta calibrate`` run in the docs: its summary into docs/data, its tables into docs/calibration.md.

    quanta calibrate --preset cpu --out runs/calibrate --ship
    python benchmarks/calibration_doc.py runs/calibrate

``tests/test_docs_figures.py`` regenerates the tables from the recorded summary and compares them with the page,
and compares the package's shipped table with the same summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from docblock import write_block

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "calibration_cpu.json"
DOC = ROOT / "docs" / "calibration.md"
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"


def block(summary: dict) -> str:
    from quanta.calibrate.rates import markdown_tables

    minutes = summary.get("minutes")
    head = (f"Recorded run: preset `{summary['preset']}`, {summary['n_verdicts']} verdicts "
            f"({summary['seeds_per_verdict']} training seeds each), {summary['n_samples']} samples per "
            f"decomposition, {minutes:.0f} minutes on the machine that recorded it.\n\n" if minutes else "")
    return START + "\n" + head + markdown_tables(summary) + "\n" + END


def check_docs() -> bool:
    summary = json.loads(DATA.read_text())
    return block(summary) in DOC.read_text()


def main(run_dir: str) -> None:
    from quanta.store import Run

    summary = Run.open(run_dir, command="calibrate").summary
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    write_block(DOC, block(summary), START, END)
    print(f"wrote {DATA} and the tables of {DOC}")


if __name__ == "__main__":
    main(sys.argv[1])

"""Figures are plain matplotlib Figure objects: no pyplot state, no backend switch, PNGs still written."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from quanta.store import Run

SRC = Path(__file__).resolve().parents[1] / "src" / "quanta"
# the lead engineer rewrites this file; it still uses pyplot until then
PENDING = {"falsify.py"}


def test_no_source_file_switches_the_backend_or_uses_pyplot():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name in PENDING and path.parent == SRC:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib import pyplot", line):
                offenders.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_save_figure_writes_a_png_of_a_plain_figure(tmp_path):
    from matplotlib.figure import Figure

    run = Run.create(tmp_path / "r", command="test", config={})
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([1, 2, 3])
    path = run.save_figure(fig, "plain")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in run.figures()] == ["plain.png"]


def test_save_figure_still_closes_a_pyplot_figure(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from quanta.store import Run
run = Run.create({str(tmp_path / "r")!r}, command="test", config={{}})
fig, ax = plt.subplots()
ax.plot([1, 2])
run.save_figure(fig, "f")
assert plt.get_fignums() == [], plt.get_fignums()
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plotting_leaves_pyplot_and_the_backend_alone(tmp_path):
    """Drawing and saving the theory and QDG figures imports no pyplot and keeps the backend as it was."""
    code = f"""
import sys
import matplotlib
backend = matplotlib.get_backend()
import numpy as np
from quanta.store import Run
from quanta.theory import SimulatorConfig, fit_curves, plot_curves, plot_samples, simulate_curves, simulate_samples
from quanta.qdg.cluster import plot_rank_frequency, plot_sorted_similarity
cfg = SimulatorConfig(alpha=0.5, n_quanta=500, n_max=200)
curves = simulate_curves(cfg)
run = Run.create({str(tmp_path / "r")!r}, command="test", config={{}})
run.save_figure(plot_curves(curves, fit_curves(curves, cfg, n_boot=5), cfg), "curves")
run.save_figure(plot_samples(simulate_samples(cfg), cfg), "samples")
run.save_figure(plot_rank_frequency({{2: [5, 3], 3: [4, 2, 2]}}, [5, 3, 2]), "rank")
labels = np.array([0, 0, 1, 1, 2])
run.save_figure(plot_sorted_similarity(np.eye(5) * 0.5 + 0.5, labels), "sim")
assert "matplotlib.pyplot" not in sys.modules
assert matplotlib.get_backend() == backend, (backend, matplotlib.get_backend())
assert len(run.figures()) == 4
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert np.all([p.stat().st_size > 1000 for p in (tmp_path / "r" / "figures").glob("*.png")])

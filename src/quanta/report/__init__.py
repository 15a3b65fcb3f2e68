"""``quanta report``: one self-contained static HTML file from any run directories.

The page holds everything inline (figures as base64 PNG, CSS, a small script; no network): per run its
headline figures with intervals, config, figures and tables (sortable), and for each kind of run its own
part: the predicted exponents (theory), task distribution (parity), suite and tokens in context (lm),
a cluster browser (qdg) and the verdict table (falsify).

Examples
--------
>>> from quanta.report import build_report                                   # doctest: +SKIP
>>> build_report(["runs/theory", "runs/qdg", "runs/falsify"], "report.html")  # doctest: +SKIP
"""

from quanta.report.build import REPORT_FILE, Report, build_report, open_runs, render_report, run_report
from quanta.report.sections import Options

__all__ = ["REPORT_FILE", "Options", "Report", "build_report", "open_runs", "render_report", "run_report"]

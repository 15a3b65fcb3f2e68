"""Assemble the report from run directories: validate them, order them by the chain, render one page."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from quanta.errors import QuantaError
from quanta.report import html as H
from quanta.report.sections import INTROS, SECTIONS, Options, RunBlock, headline, render_run, section_of
from quanta.store import MANIFEST, Run, atomic_write_bytes

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"


@dataclass
class Report:
    """A rendered report: the HTML text and what went into it."""

    html: str
    sections: list[str]
    runs: list[dict] = field(default_factory=list)

    def write(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` atomically, readable by all (it is for sharing)."""
        path = atomic_write_bytes(path, self.html.encode("utf-8"))
        path.chmod(0o644)  # the temporary file behind the atomic write is private
        return path


def open_runs(run_dirs: Iterable[str | os.PathLike]) -> list[Run]:
    """Open every run directory (unfinished ones too), in the order given, each once.

    Run directories nested one level inside a given one (``quanta falsify RUN`` keeps its ``scaling/`` and
    ``parts/`` runs there) are opened too, right after it.

    Raises
    ------
    QuantaError
        When no directory is given, or one is missing, not a directory, or not a run directory.
    """
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise QuantaError("no run directory given", "pass one or more directories written by quanta commands")
    runs, seen = [], set()
    for p in paths:
        if not p.exists():
            raise QuantaError(f"run directory {p} does not exist", "check the path")
        if not p.is_dir():
            raise QuantaError(f"{p} is a file, not a run directory", "pass a directory written by a quanta command")
        run = Run.open(p, require_complete=False)
        nested = sorted(c for c in p.iterdir() if c.is_dir() and (c / MANIFEST).is_file())
        for r in [run, *(Run.open(c, require_complete=False) for c in nested)]:
            key = r.path.resolve()
            if key in seen:
                continue
            seen.add(key)
            if r.manifest.get("status") != "complete":
                log.warning("%s holds an unfinished run (status %r); reporting what it has", r.path,
                            r.manifest.get("status"))
            runs.append(r)
    return runs


def render_report(run_dirs: Iterable[str | os.PathLike], *, title: str | None = None,
                  options: Options | None = None) -> Report:
    """Render the report of ``run_dirs`` as HTML text, without writing anything.

    Runs are grouped by section in the order of the chain (theory, parity, lm, qdg, falsify, other);
    within a section they keep the order given.

    Parameters
    ----------
    run_dirs : iterable of path
        Run directories written by quanta commands.
    title : str, optional
        The page title (default ``"quanta report"``).
    options : Options, optional
        Limits on table rows, previews, contexts per cluster and clusters shown.

    Returns
    -------
    Report
        ``html``, the section keys rendered, and one dict per run (path, command, section, status).
    """
    opts = options or Options()
    runs = open_runs(run_dirs)
    blocks = [RunBlock(index=i, run=r, section=section_of(r.command), summary=r.summary) for i, r in enumerate(runs)]
    order = list(SECTIONS)
    blocks.sort(key=lambda b: (order.index(b.section), b.index))
    sections = [s for s in order if any(b.section == s for b in blocks)]

    overview_rows = []
    for b in blocks:
        link = f'<a href="#{H.esc(b.anchor)}">{H.esc(b.run.path.name)}</a>'
        status = str(b.run.manifest.get("status", "unknown"))
        overview_rows.append(
            f'<tr><td>{H.esc(b.section)}</td><td><code>{H.esc(b.run.command)}</code></td><td>{link}</td>'
            f'<td><span class="badge {H.esc(status)}">{H.esc(status)}</span></td>'
            f"<td>{H.esc(b.run.manifest.get('ended_at') or b.run.manifest.get('started_at') or '')}</td>"
            f"<td>{H.esc(headline(b.summary))}</td></tr>")
    head = "".join(f'<th scope="col">{h}</th>' for h in ("section", "command", "run", "status", "time",
                                                          "headline figures"))
    body = ['<nav class="toc"><h2 id="overview">Runs</h2>',
            f'<div class="table-wrap"><table id="overview-table" class="data sortable"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(overview_rows)}</tbody></table></div>",
            "<ul>" + "".join(f'<li><a href="#section-{s}">{H.esc(SECTIONS[s])}</a></li>' for s in sections)
            + "</ul></nav>"]
    for s in sections:
        body.append(f'<section id="section-{s}" class="section" data-section="{s}">'
                    f"<h2>{H.esc(SECTIONS[s])}</h2>{H.paragraph(INTROS[s])}")
        for b in blocks:
            if b.section == s:
                body.append(render_run(b, opts))
        body.append("</section>")
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = H.page(title or "quanta report", "".join(body), generated=generated)
    runs_info = [{"path": str(b.run.path), "command": b.run.command, "section": b.section,
                  "status": b.run.manifest.get("status")} for b in blocks]
    return Report(html=text, sections=sections, runs=runs_info)


def build_report(run_dirs: Iterable[str | os.PathLike], out_path: str | os.PathLike, *,
                 title: str | None = None, options: Options | None = None) -> Path:
    """Write one self-contained HTML report of ``run_dirs`` to ``out_path`` (atomically).

    Parameters
    ----------
    run_dirs : iterable of path
        Run directories written by quanta commands (``manifest.json`` required; unfinished runs are
        shown with a warning).
    out_path : path
        The HTML file to write. An existing directory gets ``report.html`` inside it.
    title : str, optional
        The page title.
    options : Options, optional
        Limits that keep the page small (see :class:`quanta.report.Options`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    QuantaError
        When a directory is missing or not a run directory.
    """
    out = Path(out_path)
    if out.is_dir():
        out = out / REPORT_FILE
    return render_report(run_dirs, title=title, options=options).write(out)


def run_report(run_dirs: Iterable[str | os.PathLike], out: str | os.PathLike, *, title: str | None = None,
               options: Options | None = None, force: bool = False, argv: list[str] | None = None) -> dict:
    """Write the report of ``run_dirs`` as a run directory ``out`` (``report.html``, manifest, summary).

    This is ``quanta report DIR... --out OUT``. The run directories are read and checked before ``out`` is
    made; ``out`` may not lie inside one of them or hold one.

    Returns
    -------
    dict
        The summary: ``report`` (the file), ``n_runs``, ``sections``, ``size_bytes`` and ``runs``.
    """
    options = options or Options()
    out = Path(out)
    target = out.resolve()
    # `quanta report runs/* --out runs/report` run again: the glob now names the earlier report, which is left out
    run_dirs = [Path(d) for d in run_dirs if not (Path(d).resolve() == target and _is_report_run(d))]
    if not run_dirs:
        raise QuantaError(f"out={out} is the only run directory given", "name the run directories to report")
    for d in run_dirs:
        p = d.resolve()
        if p == target or target in p.parents or p in target.parents:
            raise QuantaError(f"out={out} overlaps the run directory {d} that is to be reported",
                              "pass a new directory outside the runs as out=DIR")
    rendered = render_report(run_dirs, title=title, options=options)  # validates run_dirs before out is made
    config = {"run_dirs": [str(d.resolve()) for d in run_dirs], "title": title, **asdict(options)}
    with Run.create(out, command="report", config=config, force=force, argv=argv) as run:
        path = rendered.write(run.path / REPORT_FILE)
        return run.finish({"report": str(path.resolve()), "n_runs": len(rendered.runs),
                           "sections": rendered.sections, "size_bytes": path.stat().st_size,
                           "runs": rendered.runs})


def _is_report_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run of ``quanta report`` (by its manifest)."""
    try:
        return json.loads((Path(path) / MANIFEST).read_text()).get("command") == "report"
    except (OSError, ValueError, AttributeError):
        return False

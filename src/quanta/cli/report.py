"""``quanta report DIR... --out OUT``: one self-contained HTML file from run directories."""

from __future__ import annotations

from pathlib import Path

import click

from quanta.cli.common import echo_summary, force_option, out_option


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, metavar="DIR...", type=click.Path(path_type=Path))
@out_option()
@force_option
@click.option("--title", type=str, default=None, help="Page title (default: quanta report).")
@click.option("--max-rows", type=click.IntRange(min=1), default=200, show_default=True,
              help="Tables with at most this many rows are shown whole (sortable); larger ones as a preview.")
@click.option("--max-contexts", type=click.IntRange(min=1), default=10, show_default=True,
              help="Contexts shown per cluster in the cluster browser.")
@click.option("--max-clusters", type=click.IntRange(min=1), default=500, show_default=True,
              help="Largest clusters shown per number of clusters.")
@click.option("--max-cluster-counts", type=click.IntRange(min=1), default=8, show_default=True,
              help="Cluster counts of a QDG sweep shown in the browser (spread over the sweep).")
def report(run_dirs, out, force, title, max_rows, max_contexts, max_clusters, max_cluster_counts):
    """Write OUT/report.html: every DIR's figures, tables, config and headline figures, plus a theory,
    parity, LM, QDG (cluster browser) and falsify (verdict) section for each kind of run present.

    The file is self-contained (no network): open it in any browser.
    """
    from quanta.report.build import run_report
    from quanta.report.sections import Options

    options = Options(max_rows=max_rows, max_contexts=max_contexts, max_clusters=max_clusters,
                      max_cluster_counts=max_cluster_counts)
    summary = run_report(run_dirs, out, title=title, options=options, force=force)
    click.echo(f"sections: {', '.join(summary['sections'])}")
    echo_summary(summary, out, keys=("n_runs", "size_bytes", "report"))

"""``quanta demo``: the whole chain, offline, on small built-in defaults.

Steps (each its own run directory under ``OUT``):

1. ``theory``            the model's predicted and simulated exponents (α = 0.4);
2. ``parity``            a multitask sparse parity width sweep (preset ``cpu-small``), then
   ``parity-analyze``    its scaling fits, emergence and learning order;
3. ``qdg-parity``        QDG on the widest parity model, scored against the true tasks;
4. ``lm-suite``          a GPT-NeoX suite trained on the Python standard library, then
   ``lm-losses``         its per-token losses on held-out files, then
   ``lm-analyze``        loss distributions, mean-loss scaling, monogenic/polygenic tokens;
5. ``qdg-lm``            QDG on the largest model of the suite;
6. ``falsify-parity``, ``falsify-lm``  α_N+1 against the Zipf exponent of the QDG parts;
7. ``report``            one HTML file with all of it.

Every step calls the same command a user would type (in-process), so the demo is also
an end-to-end check of the CLI. With ``resume``, finished steps are skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from quanta.errors import QuantaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults finish in about 10 minutes on 2 CPU cores.

    Attributes
    ----------
    seed : int, default 0
    alpha : float, default 0.4
        The theory step's α (the parity preset has its own).
    parity_preset : str, default "cpu-small"
    suite_preset : str, default "cpu"
    suite_steps : int, optional
        Training steps of the LM suite (default: the preset's).
    lm_max_docs : int, default 120
        Held-out standard-library files whose per-token losses are computed.
    qdg_tokens : int, default 600
        Tokens clustered by QDG on the language model.
    qdg_parity_samples : int, default 1500
        Samples clustered by QDG on the parity model.
    qdg_threshold : float, default 1.0
        QDG's token-selection threshold in nats on the LM. The paper's 0.1 nats suits a real model; the demo's
        suite, trained for three minutes on a CPU, predicts few tokens that well (0.3% of held-out tokens).
    device : str, optional
    """

    seed: int = 0
    alpha: float = 0.4
    parity_preset: str = "cpu-small"
    suite_preset: str = "cpu"
    suite_steps: int | None = None
    lm_max_docs: int = 120
    qdg_tokens: int = 600
    qdg_parity_samples: int = 1500
    qdg_threshold: float = 1.0
    device: str | None = None

    def __post_init__(self):
        for name in ("lm_max_docs", "qdg_tokens", "qdg_parity_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 20:
                raise QuantaError(f"{name} must be an integer >= 20, got {v!r}", f"raise {name}")
        if not (isinstance(self.qdg_threshold, (int, float)) and self.qdg_threshold > 0):
            raise QuantaError(f"qdg_threshold must be > 0 nats, got {self.qdg_threshold!r}",
                              "e.g. --set qdg_threshold=1.0")
        if self.suite_steps is not None and (not isinstance(self.suite_steps, int) or self.suite_steps < 1):
            raise QuantaError(f"suite_steps must be a positive integer, got {self.suite_steps!r}",
                              "e.g. --set suite_steps=200")


def steps(out: Path, cfg: DemoConfig, *, largest: str | None = None) -> list[tuple[str, list[str]]]:
    """The demo's steps as (name, argv of the `quanta` command).

    ``largest`` is the directory of the suite's largest model, known once the suite is trained (until then the
    qdg-lm step names the suite directory).
    """
    d = {name: str(out / name) for name in ("theory", "parity", "parity-analyze", "qdg-parity", "lm-suite",
                                            "lm-losses", "lm-analyze", "qdg-lm", "falsify-parity", "falsify-lm",
                                            "report")}
    dev = ["--device", cfg.device] if cfg.device else []
    seed = ["--seed", str(cfg.seed)]
    suite = ["lm", "train-suite", "--corpus", "stdlib", "--preset", cfg.suite_preset, "--out", d["lm-suite"], *seed,
             *dev]
    if cfg.suite_steps is not None:
        suite += ["--set", f"steps={cfg.suite_steps}"]
    largest = largest or d["lm-suite"]
    return [
        ("theory", ["theory", "--alpha", str(cfg.alpha), "--out", d["theory"], *seed]),
        ("parity", ["parity", "run", "--preset", cfg.parity_preset, "--out", d["parity"], "--set",
                    f"seeds=[{cfg.seed}]", *dev]),
        ("parity-analyze", ["parity", "analyze", d["parity"], "--out", d["parity-analyze"]]),
        ("qdg-parity", ["qdg", "parity", d["parity"], "--out", d["qdg-parity"], "--n-samples",
                        str(cfg.qdg_parity_samples), *seed, *dev]),
        ("lm-suite", suite),
        ("lm-losses", ["lm", "losses", "--suite", d["lm-suite"], "--corpus", "stdlib:test", "--max-docs",
                       str(cfg.lm_max_docs), "--out", d["lm-losses"], *dev]),
        ("lm-analyze", ["lm", "analyze", d["lm-losses"], "--out", d["lm-analyze"]]),
        ("qdg-lm", ["qdg", "--model", largest, "--corpus", "stdlib:test", "--n-tokens", str(cfg.qdg_tokens),
                    "--threshold", str(cfg.qdg_threshold), "--max-docs", "300",
                    "--out", d["qdg-lm"], *seed, *dev]),
        ("falsify-parity", ["falsify", "--scaling", d["parity-analyze"], "--parts", d["qdg-parity"], "--out",
                            d["falsify-parity"], *seed]),
        ("falsify-lm", ["falsify", "--scaling", d["lm-analyze"], "--parts", d["qdg-lm"], "--out", d["falsify-lm"],
                        *seed]),
        ("report", ["report", *[d[k] for k in ("theory", "parity", "parity-analyze", "qdg-parity", "lm-suite",
                                               "lm-losses", "lm-analyze", "qdg-lm", "falsify-parity",
                                               "falsify-lm")],
                    "--out", d["report"], "--title", "quanta demo"]),
    ]


def _largest_member(suite_dir: Path) -> str:
    """The directory of the largest model of a trained suite."""
    from quanta.lm.models import resolve_suite

    members = resolve_suite([str(suite_dir)])
    return str(members[-1].path)


def _complete(path: Path) -> bool:
    from quanta.store import Run

    try:
        return Run.open(path).manifest.get("status") == "complete"
    except QuantaError:
        return False


def run_demo(out, cfg: DemoConfig | None = None, *, force: bool = False, resume: bool = False, echo=None,
             argv=None) -> dict:
    """Run every step into ``out`` and return the demo's summary (the headline figures of each step).

    ``echo`` (a callable taking a string) receives one line per step as it starts and finishes.
    """
    from quanta.cli import cli
    from quanta.store import Run

    cfg = cfg or DemoConfig()
    out = Path(out)
    echo = echo or (lambda s: None)
    plan = steps(out, cfg)
    with Run.create(out, command="demo", config=asdict(cfg), seed=cfg.seed, argv=argv, force=force,
                    resume=resume) as run:
        for i, (name, args) in enumerate(plan, 1):
            target = out / name
            if _complete(target):
                echo(f"[{i}/{len(plan)}] {name}: already done, kept")
                continue
            if name == "qdg-lm":
                args = dict(steps(out, cfg, largest=_largest_member(out / "lm-suite")))[name]
            if target.exists():
                args = [*args, "--force"]
            echo(f"[{i}/{len(plan)}] {name}: quanta {' '.join(args)}")
            t = time.perf_counter()
            with run.timer(name):
                cli.main(args=args, prog_name="quanta", standalone_mode=False)
            echo(f"[{i}/{len(plan)}] {name}: done in {time.perf_counter() - t:.0f} s")
        return run.finish(headline(out))


def headline(out: Path) -> dict:
    """The demo's headline figures, read back from the steps' summaries."""
    from quanta.store import Run

    def s(name):
        return Run.open(out / name).summary

    th, pa, qp, fp, fl, la = (s(n) for n in ("theory", "parity-analyze", "qdg-parity", "falsify-parity",
                                             "falsify-lm", "lm-analyze"))
    return {
        "report": str(out / "report" / "report.html"),
        "theory_alpha": th.get("alpha"), "theory_alpha_N_sim": th.get("alpha_N_sim"),
        "parity_alpha": pa.get("alpha"), "parity_alpha_N": pa.get("alpha_N"), "parity_alpha_N_ci": pa.get("alpha_N_ci"),
        "parity_alpha_N_pred": pa.get("alpha_N_predicted"),
        "qdg_parity_ari": qp.get("ari"), "qdg_parity_purity": qp.get("purity"),
        "qdg_parity_zipf_exponent": qp.get("zipf_exponent"), "qdg_parity_zipf_true": qp.get("zipf_true"),
        "lm_alpha_N": la.get("alpha_N"), "lm_alpha_N_ci": la.get("alpha_N_ci"),
        "falsify_parity_verdict": fp.get("verdict"), "falsify_parity_zipf_pred": fp.get("zipf_pred"),
        "falsify_parity_zipf_measured": fp.get("zipf_measured"),
        "falsify_lm_verdict": fl.get("verdict"), "falsify_lm_zipf_pred": fl.get("zipf_pred"),
        "falsify_lm_zipf_measured": fl.get("zipf_measured"),
    }


def headline_lines(summary: dict) -> list[str]:
    """The three lines the demo ends with."""
    def f(v, fmt=".3f"):
        return "n/a" if v is None else format(v, fmt)

    ci = summary.get("parity_alpha_N_ci") or [None, None]
    return [
        f"α_N (parity, fitted) = {f(summary.get('parity_alpha_N'))} [{f(ci[0])}, {f(ci[1])}] "
        f"against theory α = {f(summary.get('parity_alpha_N_pred'))}",
        f"QDG on parity: ARI = {f(summary.get('qdg_parity_ari'))}, purity = {f(summary.get('qdg_parity_purity'))}, "
        f"Zipf exponent {f(summary.get('qdg_parity_zipf_exponent'))} (planted {f(summary.get('qdg_parity_zipf_true'))})",
        f"falsify: parity {summary.get('falsify_parity_verdict')} (α_N+1 = {f(summary.get('falsify_parity_zipf_pred'))}"
        f" vs parts {f(summary.get('falsify_parity_zipf_measured'))}); LM {summary.get('falsify_lm_verdict')} "
        f"(α_N+1 = {f(summary.get('falsify_lm_zipf_pred'))} vs parts {f(summary.get('falsify_lm_zipf_measured'))})",
    ]

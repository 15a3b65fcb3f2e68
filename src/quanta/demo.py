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

Every step calls the library function that its `quanta` command calls, with the same config
(tests/test_demo.py checks that the two agree); the step's manifest records that command line.
With ``resume``, finished steps are skipped.
"""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from quanta.errors import QuantaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The defaults aim at 10 minutes on 2 CPU cores, a target: the measured times are in
    docs/benchmarks.md (whose figure predates the current defaults).

    Attributes
    ----------
    seed : int, default 0
    alpha : float, default 0.4
        The theory step's α (the parity preset has its own).
    parity_preset : str, default "cpu-small"
    parity_steps : int, optional
        Training steps of the parity sweep (default: the preset's). Fewer steps give a quick, rougher chain, e.g.
        for a smoke test of the whole demo (tests/test_demo_resume.py).
    suite_preset : str, default "cpu"
    suite_steps : int, optional
        Training steps of the LM suite (default: the preset's).
    lm_max_docs : int, default 120
        Held-out standard-library files whose per-token losses are computed.
    qdg_tokens : int, default 600
        Tokens clustered by QDG on the language model.
    parity_seeds : int, default 3
        Training seeds of the parity sweep (``seed``, ``seed + 1``, ...): each is a replicate of both sides of the
        verdict.
    qdg_parity_samples : int, default 2000
        Samples clustered by QDG on the parity model.
    qdg_threshold : float, default 1.0
        QDG's token-selection threshold in nats on the LM. The paper's 0.1 nats suits a real model; the demo's
        suite, trained for three minutes on a CPU, predicts few tokens that well (0.3% of held-out tokens).
    device : str, optional
    """

    seed: int = 0
    alpha: float = 0.4
    parity_preset: str = "cpu-small"
    parity_steps: int | None = None
    suite_preset: str = "cpu"
    suite_steps: int | None = None
    lm_max_docs: int = 120
    qdg_tokens: int = 600
    qdg_parity_samples: int = 2000
    parity_seeds: int = 3
    qdg_threshold: float = 1.0
    device: str | None = None

    def __post_init__(self):
        from quanta.lm.train import PRESETS as SUITE_PRESETS
        from quanta.parity.presets import PRESETS as PARITY_PRESETS
        from quanta.validation import Interval, Options, seed_range, validate_config

        validate_config(self, {
            "parity_preset": [Options(set(PARITY_PRESETS))], "suite_preset": [Options(set(SUITE_PRESETS))],
            "seed": [seed_range()], "parity_seeds": [Interval(int, 1, None)],
            "lm_max_docs": [Interval(int, 20, None)],
            "qdg_tokens": [Interval(int, 20, None)], "qdg_parity_samples": [Interval(int, 20, None)],
            "qdg_threshold": [Interval(float, 0, None, closed="neither")],
            "suite_steps": [None, Interval(int, 1, None)], "parity_steps": [None, Interval(int, 1, None)],
        }, examples={"suite_steps": 200, "parity_steps": 800})
        from quanta.validation import MAX_SEED

        if self.seed + self.parity_seeds - 1 > MAX_SEED:  # the sweep trains seeds seed .. seed + parity_seeds - 1
            raise QuantaError(f"seed {self.seed} with parity_seeds {self.parity_seeds} reaches past the largest seed, "
                              f"{MAX_SEED}", f"use a seed <= {MAX_SEED - self.parity_seeds + 1}")


@dataclass(frozen=True)
class Step:
    """One step of the demo: its run directory's name, the equivalent `quanta` command (without the program
    name) and the library call, ``call(force=..., argv=...)``, that the command would make."""

    name: str
    argv: list[str]
    call: Callable[..., object]


def steps(out: Path, cfg: DemoConfig, *, largest: str | None = None) -> list[Step]:
    """The demo's steps, in order.

    ``largest`` is the directory of the suite's largest model, known once the suite is trained (until then the
    qdg-lm step names the suite directory).
    """
    d = {name: str(out / name) for name in ("theory", "parity", "parity-analyze", "qdg-parity", "lm-suite",
                                            "lm-losses", "lm-analyze", "qdg-lm", "falsify-parity", "falsify-lm",
                                            "report")}
    dev = ["--device", cfg.device] if cfg.device else []
    seed = ["--seed", str(cfg.seed)]
    parity_seeds = [cfg.seed + i for i in range(cfg.parity_seeds)]
    suite = ["lm", "train-suite", "--corpus", "stdlib", "--preset", cfg.suite_preset, "--out", d["lm-suite"], *seed,
             *dev]
    if cfg.suite_steps is not None:
        suite += ["--set", f"steps={cfg.suite_steps}"]
    largest = largest or d["lm-suite"]
    # QDG reads as many positions as the suite's models have, at most its own default (the suite's tiny preset has 32)
    from quanta.lm.train import PRESETS as SUITE_PRESETS
    from quanta.qdg.pipeline import QDGConfig

    qdg_context = min(QDGConfig.__dataclass_fields__["context_length"].default,
                      int(SUITE_PRESETS[cfg.suite_preset]["context_length"]))
    ctx_flag = ([] if qdg_context == QDGConfig.__dataclass_fields__["context_length"].default
                else ["--context-length", str(qdg_context)])
    report_dirs = [d[k] for k in ("theory", "parity", "parity-analyze", "qdg-parity", "lm-suite", "lm-losses",
                                  "lm-analyze", "qdg-lm", "falsify-parity", "falsify-lm")]

    # Each call imports its function when it runs, builds the config the command builds from these flags
    # (the CLI turns numbers given as text back into floats, hence float()), and returns the run's summary.
    def theory(**kw):
        from quanta.theory import SimulatorConfig, run_theory

        return run_theory(SimulatorConfig(alpha=float(cfg.alpha), n_quanta=None, seed=cfg.seed), d["theory"], **kw)

    def parity(**kw):
        from quanta.parity.presets import preset_config
        from quanta.parity.train import run_parity

        extra = {} if cfg.parity_steps is None else {"steps": cfg.parity_steps}
        return run_parity(preset_config(cfg.parity_preset, {"seeds": parity_seeds, **extra}), d["parity"],
                          device=cfg.device, resume=False, **kw)

    def parity_analyze(**kw):
        from quanta.parity.analyze import AnalyzeConfig, run_parity_analysis

        return run_parity_analysis(d["parity"], d["parity-analyze"], AnalyzeConfig(seed=0), **kw)

    def qdg_parity(**kw):
        from quanta.qdg.parity import ParityQDGConfig, run_qdg_parity

        qcfg = ParityQDGConfig(run_dir=d["parity"], n_samples=cfg.qdg_parity_samples, seed=cfg.seed)
        return run_qdg_parity(qcfg, d["qdg-parity"], device=cfg.device, **kw)

    def lm_suite(**kw):
        from quanta.lm.train import SuiteConfig, train_suite

        extra = {} if cfg.suite_steps is None else {"steps": cfg.suite_steps}
        scfg = SuiteConfig(corpus="stdlib", preset=cfg.suite_preset, seed=cfg.seed, **extra)
        return train_suite(scfg, d["lm-suite"], device=cfg.device, resume=False, **kw)

    def lm_losses(**kw):
        from quanta.lm.losses import LossesConfig, compute_losses

        lcfg = LossesConfig(suite=(d["lm-suite"],), corpus="stdlib:test", max_docs=cfg.lm_max_docs)
        return compute_losses(lcfg, d["lm-losses"], device=cfg.device, resume=False, **kw)

    def lm_analyze(**kw):
        from quanta.lm.analyze import AnalyzeConfig, analyze_losses

        return analyze_losses(d["lm-losses"], d["lm-analyze"], AnalyzeConfig(), **kw)

    def qdg_lm(**kw):
        from quanta.qdg.pipeline import QDGConfig, run_qdg_lm

        qcfg = QDGConfig(model=largest, corpus="stdlib:test", n_tokens=cfg.qdg_tokens,
                         threshold=float(cfg.qdg_threshold), max_docs=300, seed=cfg.seed,
                         **({"context_length": qdg_context} if ctx_flag else {}))
        return run_qdg_lm(qcfg, d["qdg-lm"], device=cfg.device, **kw)

    def falsify(scaling, parts, target):
        def call(**kw):
            from quanta.falsify import FalsifyConfig, falsify as falsify_runs

            return falsify_runs(d[scaling], d[parts], d[target], FalsifyConfig(seed=cfg.seed), allow_mismatch=False,
                                **kw)[0]

        return call

    def falsify_parity(**kw):
        from quanta.falsify import FalsifyConfig, falsify_parity_run

        fcfg = FalsifyConfig(n_samples=cfg.qdg_parity_samples, seed=cfg.seed)
        return falsify_parity_run(d["parity"], d["falsify-parity"], fcfg, device=cfg.device, resume=False, **kw)[0]

    def report(**kw):
        from quanta.report.build import run_report
        from quanta.report.sections import Options

        return run_report(report_dirs, d["report"], title="quanta demo", options=Options(), **kw)

    return [
        Step("theory", ["theory", "--alpha", str(cfg.alpha), "--out", d["theory"], *seed], theory),
        Step("parity", ["parity", "run", "--preset", cfg.parity_preset, "--out", d["parity"], "--set",
                        f"seeds=[{','.join(map(str, parity_seeds))}]",
                        *([] if cfg.parity_steps is None else ["--set", f"steps={cfg.parity_steps}"]), *dev], parity),
        Step("parity-analyze", ["parity", "analyze", d["parity"], "--out", d["parity-analyze"]], parity_analyze),
        Step("qdg-parity", ["qdg", "parity", d["parity"], "--out", d["qdg-parity"], "--n-samples",
                            str(cfg.qdg_parity_samples), *seed, *dev], qdg_parity),
        Step("lm-suite", suite, lm_suite),
        Step("lm-losses", ["lm", "losses", "--suite", d["lm-suite"], "--corpus", "stdlib:test", "--max-docs",
                           str(cfg.lm_max_docs), "--out", d["lm-losses"], *dev], lm_losses),
        Step("lm-analyze", ["lm", "analyze", d["lm-losses"], "--out", d["lm-analyze"]], lm_analyze),
        Step("qdg-lm", ["qdg", "--model", largest, "--corpus", "stdlib:test", "--n-tokens", str(cfg.qdg_tokens),
                        "--threshold", str(cfg.qdg_threshold), "--max-docs", "300", *ctx_flag, "--out", d["qdg-lm"],
                        *seed, *dev], qdg_lm),
        Step("falsify-parity", ["falsify", d["parity"], "--n-samples", str(cfg.qdg_parity_samples), "--out",
                                d["falsify-parity"], *seed, *dev], falsify_parity),
        Step("falsify-lm", ["falsify", "--scaling", d["lm-analyze"], "--parts", d["qdg-lm"], "--out", d["falsify-lm"],
                            *seed], falsify("lm-analyze", "qdg-lm", "falsify-lm")),
        Step("report", ["report", *report_dirs, "--out", d["report"], "--title", "quanta demo"], report),
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
    from quanta.store import Run

    cfg = cfg or DemoConfig()
    out = Path(out)
    echo = echo or (lambda s: None)
    plan = steps(out, cfg)
    with Run.create(out, command="demo", config=asdict(cfg), seed=cfg.seed, argv=argv, force=force,
                    resume=resume) as run:
        for i, step in enumerate(plan, 1):
            target = out / step.name
            if _complete(target):
                echo(f"[{i}/{len(plan)}] {step.name}: already done, kept")
                continue
            if step.name == "qdg-lm":
                step = next(s for s in steps(out, cfg, largest=_largest_member(out / "lm-suite"))
                            if s.name == step.name)
            redo = target.exists()
            args = [*step.argv, "--force"] if redo else step.argv
            echo(f"[{i}/{len(plan)}] {step.name}: quanta {shlex.join(args)}")
            t = time.perf_counter()
            with run.timer(step.name):
                step.call(force=redo, argv=["quanta", *args])
            echo(f"[{i}/{len(plan)}] {step.name}: done in {time.perf_counter() - t:.0f} s")
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
        "qdg_parity_ari": qp.get("ari"), "qdg_parity_purity": qp.get("purity"), "qdg_parity_n_clusters": qp.get("n_clusters"),
        "qdg_parity_zipf_exponent": qp.get("zipf_exponent"), "qdg_parity_zipf_true": qp.get("zipf_true"),
        "lm_alpha_N": la.get("alpha_N"), "lm_alpha_N_ci": la.get("alpha_N_ci"),
        "falsify_parity_verdict": fp.get("verdict"), "falsify_parity_zipf_pred": fp.get("zipf_pred"),
        "falsify_parity_zipf_measured": fp.get("zipf_measured"), "falsify_parity_p_value": fp.get("p_value"),
        "falsify_parity_zipf_pred_ci": fp.get("zipf_pred_ci"), "falsify_parity_zipf_measured_ci": fp.get("zipf_measured_ci"),
        "falsify_parity_ari": fp.get("parts_ari"), "falsify_parity_n_train_seeds": fp.get("n_train_seeds"),
        "falsify_parity_n_clusters": fp.get("n_clusters_by_replicate"), "falsify_lm_p_value": fl.get("p_value"),
        "falsify_lm_verdict": fl.get("verdict"), "falsify_lm_zipf_pred": fl.get("zipf_pred"),
        "falsify_lm_zipf_measured": fl.get("zipf_measured"),
        "falsify_calibration": fp.get("calibration"), "falsify_lm_calibration": fl.get("calibration"),
    }


def _ci(ci, f) -> str:
    return "[n/a]" if not ci else f"[{f(ci[0])}, {f(ci[1])}]"


def headline_lines(summary: dict) -> list[str]:
    """The lines the demo ends with."""
    def f(v, fmt=".3f"):
        return "n/a" if v is None else format(v, fmt)

    ci = summary.get("parity_alpha_N_ci") or [None, None]
    return [
        f"α_N (parity, fitted) = {f(summary.get('parity_alpha_N'))} [{f(ci[0])}, {f(ci[1])}] "
        f"against theory α = {f(summary.get('parity_alpha_N_pred'))}",
        f"QDG on parity (label-free, k = {summary.get('qdg_parity_n_clusters')} by rule): ARI = {f(summary.get('qdg_parity_ari'))}, purity = {f(summary.get('qdg_parity_purity'))}, "
        f"Zipf exponent {f(summary.get('qdg_parity_zipf_exponent'))} (planted {f(summary.get('qdg_parity_zipf_true'))})",
        f"falsify, parity ({summary.get('falsify_parity_n_train_seeds')} training seeds): "
        f"{summary.get('falsify_parity_verdict')} (p = {f(summary.get('falsify_parity_p_value'), '.3g')}; "
        f"α_N+1 = {f(summary.get('falsify_parity_zipf_pred'))} {_ci(summary.get('falsify_parity_zipf_pred_ci'), f)} "
        f"vs parts {f(summary.get('falsify_parity_zipf_measured'))} "
        f"{_ci(summary.get('falsify_parity_zipf_measured_ci'), f)}; label-free ARI "
        f"{f(summary.get('falsify_parity_ari'), '.2f')}, counts {summary.get('falsify_parity_n_clusters')})",
        f"  its error rates: {summary.get('falsify_calibration') or 'none shipped'}",
        f"falsify, LM: {summary.get('falsify_lm_verdict')} (p = {f(summary.get('falsify_lm_p_value'), '.3g')}; "
        f"α_N+1 = {f(summary.get('falsify_lm_zipf_pred'))} vs parts {f(summary.get('falsify_lm_zipf_measured'))})",
        f"  its error rates: {summary.get('falsify_lm_calibration') or 'none shipped'}",
    ]

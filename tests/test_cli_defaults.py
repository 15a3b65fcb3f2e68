"""Every CLI option's default is its config's default: a command given only its required arguments builds the
config dataclass with nothing set (the CLI restates the defaults for --help, and they must not drift)."""

import importlib
import inspect

import pytest


class _Called(Exception):
    pass


def _captured(monkeypatch, module, name, argv):
    """The (args, kwargs) with which ``quanta ARGV`` calls ``module.name`` (stopped there), and its signature."""
    from quanta.cli import cli

    signature = inspect.signature(getattr(importlib.import_module(module), name))
    seen = []

    def record(*args, **kwargs):
        seen.append((args, kwargs))
        raise _Called

    monkeypatch.setattr(importlib.import_module(module), name, record)
    with pytest.raises(_Called):
        cli.main(args=[str(a) for a in argv], prog_name="quanta", standalone_mode=False)
    return (*seen[0], signature)


def _config(args, kwargs, cls):
    found = [a for a in (*args, *kwargs.values()) if isinstance(a, cls)]
    assert len(found) == 1, (cls, args, kwargs)
    return found[0]


def _cases(tmp):
    from quanta.calibrate import CalibrationConfig
    from quanta.demo import DemoConfig
    from quanta.falsify import FalsifyConfig
    from quanta.lm.analyze import AnalyzeConfig as LMAnalyzeConfig
    from quanta.lm.losses import LossesConfig
    from quanta.lm.train import SuiteConfig
    from quanta.parity.analyze import AnalyzeConfig as ParityAnalyzeConfig
    from quanta.parts.bench import BenchConfig
    from quanta.parts.run import ActsParityConfig, ActsPartsConfig, SAEParityConfig, SAEPartsConfig
    from quanta.qdg.parity import ParityQDGConfig
    from quanta.qdg.pipeline import QDGConfig
    from quanta.report.sections import Options
    from quanta.theory import SimulatorConfig

    out, run = str(tmp / "out"), str(tmp / "run")
    return {
        "qdg": (["qdg", "--model", "m", "--out", out], "quanta.qdg.pipeline", "run_qdg_lm", QDGConfig(model="m")),
        "qdg parity": (["qdg", "parity", run, "--out", out], "quanta.qdg.parity", "run_qdg_parity",
                       ParityQDGConfig(run_dir=run)),
        "parts sae": (["parts", "sae", "--model", "m", "--out", out], "quanta.parts.run", "run_parts_sae_lm",
                      SAEPartsConfig(model="m")),
        "parts acts": (["parts", "acts", "--model", "m", "--out", out], "quanta.parts.run", "run_parts_acts_lm",
                       ActsPartsConfig(model="m")),
        "parts sae --parity": (["parts", "sae", "--parity", run, "--out", out], "quanta.parts.run",
                               "run_parts_sae_parity", SAEParityConfig(run_dir=run)),
        "parts acts --parity": (["parts", "acts", "--parity", run, "--out", out], "quanta.parts.run",
                                "run_parts_acts_parity", ActsParityConfig(run_dir=run)),
        "parts bench": (["parts", "bench", "--world", run, "--out", out], "quanta.parts.bench", "run_bench",
                        BenchConfig(worlds=(run,))),
        "falsify": (["falsify", "--scaling", run, "--parts", run, "--out", out], "quanta.falsify", "falsify",
                    FalsifyConfig()),
        "falsify RUN_DIR": (["falsify", run, "--out", out], "quanta.falsify", "falsify_parity_run", FalsifyConfig()),
        "parity analyze": (["parity", "analyze", run, "--out", out], "quanta.parity.analyze", "run_parity_analysis",
                           ParityAnalyzeConfig()),
        "lm losses": (["lm", "losses", "--suite", "s", "--out", out], "quanta.lm.losses", "compute_losses",
                      LossesConfig(suite=("s",))),
        "lm analyze": (["lm", "analyze", run, "--out", out], "quanta.lm.analyze", "analyze_losses", LMAnalyzeConfig()),
        "lm train-suite": (["lm", "train-suite", "--out", out], "quanta.lm.train", "train_suite", SuiteConfig()),
        "theory": (["theory", "--out", out], "quanta.theory", "run_theory", SimulatorConfig()),
        "report": (["report", run, "--out", out], "quanta.report.build", "run_report", Options()),
        "demo": (["demo", "--out", out], "quanta.demo", "run_demo", DemoConfig()),
        "calibrate": (["calibrate", "--out", out], "quanta.calibrate.run", "run_calibration", CalibrationConfig()),
    }


CASES = ["qdg", "qdg parity", "parts sae", "parts sae --parity", "parts acts", "parts acts --parity", "parts bench",
         "falsify", "falsify RUN_DIR", "parity analyze", "lm losses", "lm analyze",
         "lm train-suite", "theory", "report", "demo", "calibrate"]


@pytest.mark.parametrize("case", CASES)
def test_cli_defaults_are_the_config_defaults(case, monkeypatch, tmp_path):
    argv, module, name, expected = _cases(tmp_path)[case]
    args, kwargs, signature = _captured(monkeypatch, module, name, argv)
    assert _config(args, kwargs, type(expected)) == expected
    # keyword defaults of the library call that the command restates (e.g. falsify --qdg-samples)
    for key, value in kwargs.items():
        p = signature.parameters.get(key)
        if p is not None and p.default is not inspect.Parameter.empty and isinstance(value, (int, float, str)):
            assert value == p.default, (case, key, value, p.default)


def test_every_command_is_checked():
    """Every leaf command of `quanta` has a case above, or builds no config dataclass of its own."""
    import click

    from quanta.cli import cli

    ctx = click.Context(cli)

    def leaves(group, prefix):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            path = f"{prefix} {name}".strip()
            if isinstance(cmd, click.Group):
                if cmd.invoke_without_command:  # `quanta qdg` runs on its own options too
                    yield path
                yield from leaves(cmd, path)
            else:
                yield path

    no_config = {"parity run",  # a preset name and --set overrides (preset_config), no option defaults
                 "formation"}  # keyword arguments, checked by test_formation_defaults_are_the_library_defaults
    assert set(leaves(cli, "")) == {c.split(" RUN_DIR")[0].split(" --")[0] for c in CASES} | no_config


def test_formation_defaults_are_the_library_defaults(monkeypatch, tmp_path):
    args, kwargs, signature = _captured(monkeypatch, "quanta.formation", "run_formation",
                                        ["formation", "--parts", tmp_path, "--dynamics", tmp_path, "--out",
                                         tmp_path / "out"])
    checked = 0
    for key, value in kwargs.items():
        p = signature.parameters[key]
        if p.default is not inspect.Parameter.empty:
            assert value == p.default, (key, value, p.default)
            checked += 1
    assert checked >= 6

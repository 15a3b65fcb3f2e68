from pathlib import Path

import pytest

from quanta.demo import DemoConfig, headline_lines, steps
from quanta.errors import QuantaError


def test_steps_follow_the_issue_order_and_name_the_largest_model():
    plan = steps(Path("/o"), DemoConfig(), largest="/o/lm-suite/models/big")
    assert [s.name for s in plan] == ["theory", "parity", "parity-analyze", "qdg-parity", "lm-suite", "lm-losses",
                                      "lm-analyze", "qdg-lm", "falsify-parity", "falsify-lm", "report"]
    args = {s.name: s.argv for s in plan}
    assert args["qdg-lm"][:3] == ["qdg", "--model", "/o/lm-suite/models/big"]
    assert args["report"][-4:] == ["--out", "/o/report", "--title", "quanta demo"]
    assert all("--out" in a for a in args.values())


def test_config_and_cli_reject_bad_settings(tmp_path, cli_run):
    with pytest.raises(QuantaError, match="qdg_threshold"):
        DemoConfig(qdg_threshold=0)
    with pytest.raises(QuantaError, match="qdg_tokens"):
        DemoConfig(qdg_tokens=5)
    code, _, err = cli_run("demo", "--out", tmp_path / "d", "--set", "bogus=1")
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "d").exists()


def test_headline_lines_handle_missing_figures():
    lines = headline_lines({"parity_alpha_N": 0.45, "parity_alpha_N_ci": [0.4, 0.5], "parity_alpha_N_pred": 0.4})
    assert len(lines) == 6 and "0.450 [0.400, 0.500]" in lines[0] and "n/a" in lines[1]
    full = headline_lines({"falsify_parity_verdict": "undetermined", "falsify_parity_p_value": 0.31,
                           "falsify_parity_ari": 0.62, "falsify_parity_n_train_seeds": 3,
                           "falsify_calibration": "parity rates", "falsify_lm_calibration": "LM rates"})
    # the closing lines give the parity verdict with its p-value and the label-free ARI
    assert "undetermined (p = 0.31" in full[2] and "label-free ARI 0.62" in full[2] and "3 training seeds" in full[2]
    # each verdict is followed by its own error rates (the parity rates are not the LM verdict's)
    assert full[3] == "  its error rates: parity rates" and full[4].startswith("falsify, LM")
    assert full[5] == "  its error rates: LM rates"


# the library function each step calls, as the module it lives in and its name
CALLS = {"theory": ("quanta.theory", "run_theory"), "parity": ("quanta.parity.train", "run_parity"),
         "parity-analyze": ("quanta.parity.analyze", "run_parity_analysis"),
         "qdg-parity": ("quanta.qdg.parity", "run_qdg_parity"), "lm-suite": ("quanta.lm.train", "train_suite"),
         "lm-losses": ("quanta.lm.losses", "compute_losses"), "lm-analyze": ("quanta.lm.analyze", "analyze_losses"),
         "qdg-lm": ("quanta.qdg.pipeline", "run_qdg_lm"), "falsify-parity": ("quanta.falsify", "falsify_parity_run"),
         "falsify-lm": ("quanta.falsify", "falsify"), "report": ("quanta.report.build", "run_report")}


class _Called(Exception):
    pass


@pytest.mark.parametrize("cfg", [DemoConfig(), DemoConfig(seed=3, alpha=0.5, suite_steps=200, qdg_threshold=2,
                                                           device="cpu", lm_max_docs=30),
                                 DemoConfig(suite_preset="tiny", qdg_threshold=6, parity_steps=400, parity_seeds=1)])
def test_every_step_calls_what_its_command_calls(cfg, monkeypatch, tmp_path):
    """Each step's library call gets the same arguments (configs included) as its `quanta` command line."""
    import importlib

    from quanta.cli import cli

    plan = steps(tmp_path, cfg, largest=str(tmp_path / "lm-suite" / "models" / "big"))
    assert [s.name for s in plan] == list(CALLS)
    for step in plan:
        module, name = CALLS[step.name]
        seen = []

        def record(*args, **kwargs):
            kwargs.pop("argv", None)
            seen.append((args, kwargs))
            raise _Called

        monkeypatch.setattr(importlib.import_module(module), name, record)
        with pytest.raises(_Called):
            step.call(force=True, argv=["quanta", *step.argv])
        with pytest.raises(_Called):
            cli.main(args=[*step.argv, "--force"], prog_name="quanta", standalone_mode=False)
        (demo_args, demo_kw), (cli_args, cli_kw) = seen
        norm = [str(a) if isinstance(a, Path) else a for a in cli_args]
        if step.name == "report":  # the CLI passes the directories as Paths
            norm[0] = [str(p) for p in norm[0]]
        assert (demo_args, demo_kw) == (tuple(norm), cli_kw), step.name
        monkeypatch.undo()


def test_qdg_reads_no_more_positions_than_the_suite_has(tmp_path):
    """A suite preset with short contexts (tiny: 32) gives QDG that context; the cpu preset keeps QDG's default."""
    for preset, flag in (("tiny", ["--context-length", "32"]), ("cpu", [])):
        step = next(s for s in steps(tmp_path, DemoConfig(suite_preset=preset)) if s.name == "qdg-lm")
        has = "--context-length" in step.argv
        assert has == bool(flag) and (not flag or step.argv[step.argv.index("--context-length") + 1] == "32")

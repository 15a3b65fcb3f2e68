from pathlib import Path

import pytest

from quanta.demo import DemoConfig, headline_lines, steps
from quanta.errors import QuantaError


def test_steps_follow_the_issue_order_and_name_the_largest_model():
    plan = steps(Path("/o"), DemoConfig(), largest="/o/lm-suite/models/big")
    assert [n for n, _ in plan] == ["theory", "parity", "parity-analyze", "qdg-parity", "lm-suite", "lm-losses",
                                   "lm-analyze", "qdg-lm", "falsify-parity", "falsify-lm", "report"]
    args = dict(plan)
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
    assert len(lines) == 3 and "0.450 [0.400, 0.500]" in lines[0] and "n/a" in lines[1]

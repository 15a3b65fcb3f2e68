import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import quanta


def test_version_and_help(cli_run):
    code, out, _ = cli_run("--version")
    assert code == 0 and out.strip() == f"quanta {quanta.__version__}"
    code, out, _ = cli_run("--help")
    assert code == 0 and "Commands" in out


def test_unknown_option_is_one_line_exit_2(cli_run):
    code, out, err = cli_run("--bogus")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and "Traceback" not in err


def test_unknown_command_is_one_line_exit_2(cli_run):
    code, _, err = cli_run("nonsense")
    assert code == 2 and err.count("\n") == 1 and "nonsense" in err


def test_console_script_is_installed_and_fast_to_import():
    proc = subprocess.run([sys.executable, "-m", "quanta", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"quanta {quanta.__version__}"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "quanta", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "quanta.cli" in imported  # the timings were read
    assert not [m for m in imported if m.split(".")[0] in ("torch", "transformers")]


def test_bad_inputs_leave_no_run_directory(tmp_path, cli_run):
    cases = [
        ("lm", "train-suite", "--corpus", tmp_path / "missing", "--preset", "tiny", "--out", tmp_path / "a"),
        ("qdg", "--model", tmp_path / "missing", "--out", tmp_path / "b"),
        ("parity", "run", "--preset", "cpu-tiny", "--set", "k=50", "--out", tmp_path / "c"),
        ("theory", "--alpha", "-1", "--out", tmp_path / "d"),
        ("falsify", tmp_path, "--out", tmp_path / "e"),
    ]
    for args in cases:
        code, _, err = cli_run(*args)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error:"), (args, err)
        assert not (tmp_path / str(args[-1])).exists(), args


def _console_script():
    """The installed `quanta` script: next to this interpreter (a virtualenv's bin), else on PATH."""
    here = Path(sys.executable).parent / "quanta"
    return str(here) if here.is_file() else shutil.which("quanta")


def test_the_installed_console_script(tmp_path):
    script = _console_script()
    if script is None:
        pytest.skip("the quanta console script is not installed (pip install -e .)")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == f"quanta {quanta.__version__}\n" and proc.stderr == ""
    proc = subprocess.run([script, "theory", "--alpha", "-1", "--out", str(tmp_path / "t")], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "alpha" in proc.stderr
    assert not (tmp_path / "t").exists()


def test_library_errors_name_parameters_and_the_cli_prints_flags(tmp_path, cli_run):
    """The library's message names the call's parameters (out=, force=True); the CLI's, the flags."""
    import pytest

    from quanta.cli import cli_message
    from quanta.errors import QuantaError
    from quanta.theory import SimulatorConfig, run_theory

    assert cli_message("pass n_tokens=1000, or force=True (out=DIR)") == "pass --n-tokens 1000, or --force (--out DIR)"
    assert cli_message("e.g. --set steps=1000; bogus=1; force=False") == "e.g. --set steps=1000; bogus=1; force=False"
    cfg = SimulatorConfig(n_max=300, n_budgets=10, n_samples=20)
    run_theory(cfg, tmp_path / "t")
    with pytest.raises(QuantaError, match="force=True") as info:
        run_theory(cfg, tmp_path / "t")
    assert "--" not in str(info.value)
    code, _, err = cli_run("theory", "--out", tmp_path / "t", "--set", "n_max=300", "--set", "n_budgets=10",
                           "--set", "n_samples=20")
    assert code == 2 and err.count("\n") == 1 and f"--out {tmp_path / 't'} already" in err and "--force" in err


def test_sigterm_ends_the_run_so_the_same_out_can_be_used_again(tmp_path):
    """SIGTERM (kill, timeout, a scheduler's limit) stops a command as Ctrl-C does: exit 143, the run directory no
    longer says 'running', and the corrected command runs into the same --out (it was refused as still running)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import run_cli

    out = tmp_path / "theory"
    env = dict(os.environ, OMP_NUM_THREADS="1", QUANTA_PROGRESS="0", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "quanta", "theory", "--set", "n_samples=100000", "--set",
                             "n_max=100000", "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not (out / "manifest.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)
        assert proc.poll() is None, "finished before the signal"
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143 and err.strip().endswith("terminated") and "Traceback" not in err, err
    # a run that had written nothing leaves nothing; one that had, says it ended
    man = out / "manifest.json"
    assert not man.exists() or json.loads(man.read_text())["status"] != "running"
    code, _, err = run_cli("theory", "--set", "n_max=300", "--set", "n_budgets=10", "--set", "n_samples=20",
                           "--out", out)
    assert code == 0, err

import subprocess
import sys

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
    assert " torch" not in proc.stderr.replace("|", " ").split("\n")[-1]
    assert not any(line.rstrip().endswith("| torch") for line in proc.stderr.splitlines())


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

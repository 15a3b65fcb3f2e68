"""Every `quanta ...` line in a code block of README.md and docs/*.md parses with today's CLI (commands, options
and their values), and the paths it names inside a suite are models the preset trains."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines():
    """(file, line number, text) of each `quanta ...` line in a fenced block; continued lines are joined."""
    out = []
    for f in DOCS:
        inblock, buf = False, ""
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if line.startswith("```"):
                inblock, buf = not inblock, ""
                continue
            s = (buf + " " + line.strip()) if buf else line.strip()
            buf = ""
            if not inblock:
                continue
            if s.endswith("\\"):
                buf = s[:-1]
                continue
            if s.startswith("quanta "):
                out.append((f.relative_to(ROOT).as_posix(), i, s))
    return out


LINES = command_lines()


def _argv(text: str) -> list[str]:
    text = re.sub(r"\[--[^\]]*\]", " ", text)  # usage lines: optional parts in brackets
    text = re.sub(r"<[a-z_-]+>", "PLACEHOLDER", text)
    return shlex.split(text, comments=True)[1:]


def _parse(argv: list[str]) -> None:
    """Parse ``quanta argv`` down to the leaf command the way click does, without running anything."""
    from quanta.cli import cli

    cmd, name, parent, args = cli, "quanta", None, list(argv)
    while True:
        ctx = cmd.make_context(name, args, parent=parent)
        if not isinstance(cmd, click.Group):
            return
        rest = [*ctx._protected_args, *ctx.args] if hasattr(ctx, "_protected_args") else [*ctx.protected_args,
                                                                                              *ctx.args]
        if not rest:
            return
        name, cmd, args = cmd.resolve_command(ctx, rest)
        parent = ctx


def test_docs_hold_many_command_lines():
    assert len(LINES) >= 40
    assert {f for f, _, _ in LINES} >= {"README.md", "docs/lm.md", "docs/qdg.md", "docs/parity-run.md"}


@pytest.mark.parametrize("where,text", [(f"{f}:{i}", s) for f, i, s in LINES], ids=[f"{f}:{i}" for f, i, _ in LINES])
def test_command_line_parses(where, text):
    try:
        _parse(_argv(text))
    except click.exceptions.Exit:  # --help, --version
        pass
    except click.ClickException as exc:
        pytest.fail(f"{where}: `{text}` does not parse: {exc.format_message()}")


def test_models_named_inside_a_suite_are_the_presets():
    """`runs/X/models/NAME`: NAME is a model of the preset that trained runs/X (named on a train-suite line)."""
    from quanta.lm.train import SuiteConfig

    suites = {}
    for _, _, s in LINES:
        argv = _argv(s)
        if argv[:2] == ["lm", "train-suite"] and "--out" in argv:
            preset = argv[argv.index("--preset") + 1] if "--preset" in argv else "cpu"
            suites[argv[argv.index("--out") + 1]] = {m.name for m in SuiteConfig(preset=preset).sizes}
    named = [(f, i, m.group(1), m.group(2)) for f, i, s in LINES
             for m in re.finditer(r"(runs/[\w.-]+)/models/([^\s/]+)", s)]
    assert named
    for f, i, suite, model in named:
        assert suite in suites, f"{f}:{i}: {suite} is trained on no train-suite line"
        if model != "PLACEHOLDER" and not model.startswith("<"):
            assert model in suites[suite], f"{f}:{i}: {suite} has no model {model} (it has {sorted(suites[suite])})"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_cpu_small_figures_quoted_in_docs_are_the_presets():
    """A parenthesis after `cpu-small` (or "the current preset") that quotes tasks, data bits, widths or steps
    quotes today's preset, unless the text calls that cpu-small earlier."""
    from quanta.parity.presets import preset_config

    cfg = preset_config("cpu-small")
    want = {"tasks": cfg.n_tasks, "bits": cfg.n, "steps": cfg.steps, "widths": (min(cfg.widths), max(cfg.widths))}
    pattern = re.compile(r"(earlier |old )?(?:`?cpu-small`?(?: preset)?|the current preset) \(([^)]*)\)")
    checked = 0
    for f in DOCS:
        text = " ".join(f.read_text().split())
        for m in pattern.finditer(text):
            if m.group(1):
                continue
            inside, where = m.group(2), f"{f.name}: ({m.group(2)})"
            for got in re.findall(r"([\d,]+) tasks", inside):
                assert _number(got) == want["tasks"], where
            for got in re.findall(r"([\d,]+) data bits|\bn =? ?([\d,]+)\b", inside):
                assert _number(next(g for g in got if g)) == want["bits"], where
            for got in re.findall(r"([\d,]+) steps", inside):
                assert _number(got) == want["steps"], where
            for lo, hi in re.findall(r"widths ([\d,]+) ?(?:–|-|\.\.) ?([\d,]+)", inside):
                assert (_number(lo), _number(hi)) == want["widths"], where
            checked += 1
    assert checked >= 2


def test_demo_help_quotes_the_recorded_time_budget():
    """`quanta demo --help` names no duration but the budget docs/benchmarks.md records for the demo, and points
    there for the measured times."""
    from conftest import run_cli

    code, help_text, _ = run_cli("demo", "--help")
    assert code == 0
    help_text = " ".join(help_text.split())
    from conftest import load_benchmark

    budget = str(load_benchmark("commands").TARGET_S // 60)  # what the page's recorded table is judged against
    page = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())
    assert f"Both commands' target is at most {budget} minutes" in page
    assert "docs/benchmarks.md" in help_text
    assert set(re.findall(r"(\d+) minutes", help_text)) == {budget}  # it names the budget, and no other

"""docs/api.md runs: its ```python blocks are executed in order, in one namespace, in a temporary directory."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_page_has_code():
    assert python_blocks("a\n```python\nx = 1\n```\n```text\ny\n```\n") == ["x = 1\n"]
    assert len(python_blocks(DOC.read_text())) >= 1


@pytest.mark.slow
def test_api_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "api_doc"}
    for i, block in enumerate(python_blocks(DOC.read_text())):
        exec(compile(block, f"{DOC}:block{i}", "exec"), namespace)
    assert namespace["result"].summary["run_dir"] is None
    assert namespace["predicted"].value == pytest.approx(namespace["alpha_N"].value + 1)
    assert namespace["losses"]["loss"].notna().all()

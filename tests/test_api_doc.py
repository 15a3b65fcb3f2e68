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


def test_every_name_the_page_lists_exists():
    """The calls the page names (``quanta.x.y`` in its text, not only in the code it runs) import and resolve."""
    import importlib

    names = sorted(set(re.findall(r"\bquanta(?:\.[A-Za-z_]\w*)+", DOC.read_text())))
    assert "quanta.store.Stage" in names and len(names) > 20
    missing = []
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes down from it
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(name)
            break
    assert not missing, f"docs/api.md names what quanta lacks: {missing}"

"""The import graph of src/quanta: no cycles (function-local imports included), the CLI on top, light packages."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import quanta

ROOT = Path(quanta.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _lazy_map(tree: ast.Module) -> dict[str, str]:
    """A package's ``_EXPORTS = {name: module}`` (the names its ``__getattr__`` loads)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}
LAZY = {name: _lazy_map(tree) for name, tree in TREES.items()}


def _targets(module: str, node) -> set[str]:
    """The quanta modules one import statement loads (a name from a package resolves to its submodule or the
    module its lazy map names)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.split(".")[0] == "quanta"}
    if node.level:  # relative: from . import x, from ..y import z
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base.split(".")[0] != "quanta":
        return set()
    out = set()
    for a in node.names:
        if f"{base}.{a.name}" in MODULES:
            out.add(f"{base}.{a.name}")
        elif a.name in LAZY.get(base, {}):
            out.add(LAZY[base][a.name])
        else:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, tree in TREES.items():
        edges = set()
        for node in ast.walk(tree):  # module level and inside functions alike
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(name, node)
        graph[name] = {e for e in edges if e != name}
    return graph


def _find_cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_graph_sees_local_relative_and_lazy_imports():
    graph = import_graph()
    assert "quanta.errors" in graph["quanta.lm.models"]
    assert "quanta.lm.losses" in graph["quanta.lm.train"]  # module level
    assert "quanta.lm.models" in graph["quanta.qdg.pipeline"]  # function-local
    assert "quanta.report.build" in graph["quanta.report"]  # from a package's own module
    tree = ast.parse("from . import cluster\nfrom .grads import token_gradients\nfrom quanta.qdg import run_qdg_lm")
    got = set().union(*(_targets("quanta.qdg.select", n) for n in tree.body))
    assert got == {"quanta.qdg.cluster", "quanta.qdg.grads", "quanta.qdg.pipeline"}


def test_no_import_cycle():
    cycle = _find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_cycle_finder_finds_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_cli_imports_the_cli():
    offenders = sorted(f"{name} imports {t}" for name, edges in import_graph().items()
                       if not (name == "quanta.cli" or name.startswith("quanta.cli.") or name == "quanta.__main__")
                       for t in edges if t == "quanta.cli" or t.startswith("quanta.cli."))
    assert not offenders, offenders


def test_lm_losses_needs_only_models_of_the_suite_modules():
    graph = import_graph()
    assert "quanta.lm.train" not in graph["quanta.lm.losses"]
    assert "quanta.lm.models" in graph["quanta.lm.losses"]


@pytest.mark.parametrize("package", ["quanta", "quanta.lm", "quanta.parity", "quanta.qdg"])
def test_lazy_exports_are_listed_and_load(package):
    mod = __import__(package, fromlist=["_"])
    names = set(mod._EXPORTS)
    assert names <= set(dir(mod)) and names <= set(mod.__all__)
    for name in sorted(names):
        assert getattr(mod, name).__module__ == mod._EXPORTS[name], name
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(mod, "not_a_name")


def test_notebook_names():
    import quanta.lm as L

    assert L.per_token_losses is __import__("quanta.lm.losses", fromlist=["_"]).per_token_losses
    for name in ("train_sweep", "analyze_parity", "per_token_losses", "token_gradients", "fit_power_law",
                 "fit_zipf_from_sizes", "decide", "falsify_parity_run"):
        assert name in dir(quanta), name
    assert "train_sweep" in dir(quanta.parity) and "token_gradients" in dir(quanta.qdg)


def test_packages_import_without_torch():
    code = ("import sys, quanta, quanta.lm, quanta.parity, quanta.qdg, quanta.fit; "
            "dir(quanta); dir(quanta.lm); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

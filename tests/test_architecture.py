"""The house rules of docs/ARCHITECTURE.md, checked on the source (an `ast` walk, nothing
imported): imports go down the layers only, no import cycle (imports inside functions
counted), lazy imports only for heavy optional dependencies and each with its reason, and
no function over 80 lines in the package and the paper's scripts."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "synoploss"

# a module's layer: the first entry whose prefix it has ("" is the package's top)
LAYER_OF = [("synoploss.io", "base"), ("synoploss.parallel", "base"),
            ("synoploss.progress", "base"),
            ("synoploss.stats", "base"), ("synoploss.data", "data"),
            ("synoploss.spiking", "spiking"), ("synoploss.hardware", "hardware"),
            ("synoploss.experiments", "experiments"), ("synoploss.reporting", "reporting"),
            ("synoploss", "method")]
# what each layer may import (its own layer included)
MAY_IMPORT = {
    "base": {"base"},
    "method": {"base", "method"},
    "data": {"base", "data"},
    "spiking": {"base", "method", "data", "spiking"},  # data: the EventBatch it reads
    "hardware": {"base", "method", "data", "spiking", "hardware"},
    "experiments": {"base", "method", "data", "spiking", "hardware", "experiments"},
    "reporting": {"base", "method", "data", "spiking", "hardware", "experiments", "reporting"},
}
# imported inside functions, and why (each such import also says why in a comment)
LAZY = {"numba": "seconds to import; only the fast simulator's CPU engine needs it",
        "triton": "CUDA machines only",
        "dv_processing": "the optional `live` extra",
        "torch.utils.tensorboard": "the optional `tensorboard` extra",
        "sklearn": "the optional `test` extra",
        "torch.distributed.nn": "not in every torch build; needed under torchrun only",
        "matplotlib": "only for figures",
        "synoploss.spiking.fast.cpu_kernel": "imports numba, see above"}
LONGEST_FUNCTION = 80  # lines, docstrings not counted
SCRIPT_FOLDERS = ("mnist_dvs", "CIFAR10_analogue", "mnist_quant_only")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    return next(name for prefix, name in LAYER_OF
                if module == prefix or module.startswith(prefix + "."))


def imports(module: str, path: Path, known: dict):
    """(imported module, line, inside a function) for every import of the package."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    inside = {id(node) for function in ast.walk(tree)
              if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(function)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:  # `from . import x`: the submodule x
                target = f"{source}.{alias.name}"
                yield (target if target in known else source), node.lineno, id(node) in inside
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in inside


def graph() -> dict:
    known = modules()
    return {module: [(target, line, lazy) for target, line, lazy in imports(module, path, known)
                     if target == "synoploss" or target.startswith("synoploss.")]
            for module, path in known.items()}


def test_every_module_has_a_layer_and_no_import_goes_up():
    wrong = []
    for module, targets in graph().items():
        for target, line, _ in targets:
            if layer(target) not in MAY_IMPORT.get(layer(module), {"method"}):
                wrong.append(f"{modules()[module].relative_to(ROOT)}:{line}: {module} "
                             f"({layer(module)}) imports {target} ({layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_the_package_top_exports_the_method_only():
    top = [target for target, _, _ in graph()["synoploss"]]
    assert top and all(layer(target) == "method" for target in top)


def test_no_import_cycle():
    edges = {module: sorted({target for target, _, _ in targets if target in modules()})
             for module, targets in graph().items()}
    state, cycles = {}, []

    def visit(module, trail):
        state[module] = "open"
        for target in edges[module]:
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in edges:
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_lazy_imports_are_heavy_optional_dependencies_with_a_reason():
    wrong = []
    for module, path in modules().items():
        lines = path.read_text().split("\n")
        for target, line, lazy in imports(module, path, modules()):
            if not lazy:
                continue
            allowed = any(target == name or target.startswith(name + ".") for name in LAZY)
            reason = "#" in lines[line - 1] or any(
                "#" in above for above in lines[max(0, line - 4):line - 1])
            if not allowed or not reason:
                why = "no reason given" if allowed else "not a heavy optional dependency"
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {target} imported inside a "
                             f"function ({why})")
    assert not wrong, "\n".join(wrong)


def function_lengths(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            docstring = first.end_lineno - first.lineno + 1 if isinstance(first, ast.Expr) and \
                isinstance(first.value, ast.Constant) and isinstance(first.value.value, str) else 0
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1 - docstring


@pytest.mark.parametrize("folder", ["synoploss", *SCRIPT_FOLDERS])
def test_no_function_is_longer_than_a_screen(folder):
    long = [f"{path.relative_to(ROOT)}:{line} {name}: {length} lines"
            for path in sorted((ROOT / folder).rglob("*.py"))
            for name, line, length in function_lengths(path) if length > LONGEST_FUNCTION]
    assert not long, "\n".join(long)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The walk itself: a package with data -> experiments and a cycle is refused."""
    fake = tmp_path / "synoploss"
    (fake / "data").mkdir(parents=True)
    (fake / "experiments").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "a.py").write_text("from ..experiments import b\n")
    (fake / "experiments" / "__init__.py").write_text("")
    (fake / "experiments" / "b.py").write_text("def f():\n    from ..data import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="data.a .data. imports synoploss.experiments.b"):
        test_every_module_has_a_layer_and_no_import_goes_up()
    with pytest.raises(AssertionError, match="synoploss.data.a -> synoploss.experiments.b -> "
                                             "synoploss.data.a"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="not a heavy optional dependency"):
        test_lazy_imports_are_heavy_optional_dependencies_with_a_reason()

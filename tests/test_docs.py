"""`make docs`: the site builds offline with warnings as errors (mkdocs build --strict:
broken links, malformed docstring sections), and its API pages carry the docstrings as
they are in the source now, so a docstring change shows up in the site."""
import ast
import html
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

# (API page, module file, function): the docstring's first line must be on the page
FIRST_LINES = [
    ("method", "synoploss/loss.py", "synop_loss"),
    ("spiking", "synoploss/spiking/convert.py", "to_spiking"),
    ("hardware", "synoploss/hardware/chips.py", "chip_fit"),
    ("data", "synoploss/data/recordings.py", "read_recording"),
]
# the public API by page: each must have its heading (a directive that renders nothing,
# or an object renamed in the source, fails here)
PUBLIC = {
    "method": ["synoploss.SynOpLoss", "synoploss.synop_loss", "synoploss.NeuromorphicReLU",
               "synoploss.QuantizeLayer", "synoploss.SumPool2d", "synoploss.SynOpCounter",
               "synoploss.assign_fanout", "synoploss.count_macs", "synoploss.graph",
               "synoploss.models", "synoploss.normalization"],
    "spiking": ["synoploss.spiking.to_spiking", "synoploss.spiking.evaluate.evaluate",
                "synoploss.spiking.Simulation", "synoploss.spiking.StaticInputBatches",
                "synoploss.spiking.SpikingResult", "synoploss.spiking.BatchResult",
                "synoploss.spiking.UnsupportedNetwork", "synoploss.spiking.neurobench_metrics"],
    "hardware": ["synoploss.hardware.chips.chip_fit", "synoploss.hardware.chips.Chip",
                 "synoploss.hardware.nir_export.export_nir",
                 "synoploss.hardware.nir_export.import_nir", "synoploss.hardware.energy"],
    "data": ["synoploss.data.recordings.read_recording", "synoploss.data.aedat.read_aedat",
             "synoploss.data.aedat4.read_aedat4", "synoploss.data.mnist_dvs.load_mnist_dvs",
             "synoploss.data.mnist.load_mnist", "synoploss.data.cifar10.load_cifar10",
             "synoploss.data.events"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}{run.stderr}"
    return out


def squeezed(words: str) -> str:
    """The text without white space, so that line breaks and tags between words don't
    count (a docstring's `code` is a <code> element on the page)."""
    return "".join(words.split())


def text(path) -> str:
    """A page's text: tags dropped, entities decoded, without white space."""
    return squeezed(html.unescape(re.sub(r"<[^>]+>", "", path.read_text())))


def first_line(module: str, name: str) -> str:
    """The first line of a docstring as the source has it, read without importing."""
    tree = ast.parse((REPO / module).read_text())
    node = next(node for node in tree.body if getattr(node, "name", None) == name)
    line = ast.get_docstring(node).splitlines()[0]
    return line.replace("`", "")


def test_every_page_is_built(site):
    pages = sorted(path.relative_to(REPO / "docs").with_suffix(".html").as_posix()
                   for path in (REPO / "docs").rglob("*.md"))
    assert "index.html" in pages and "api/method.html" in pages
    assert [page for page in pages if not (site / page).exists()] == []


@pytest.mark.parametrize("page, module, name", FIRST_LINES)
def test_api_pages_carry_the_docstrings(site, page, module, name):
    line = first_line(module, name)
    assert squeezed(line) in text(site / "api" / f"{page}.html"), \
        f"the first line of {name}'s docstring is not on api/{page}.html: {line!r}"


@pytest.mark.parametrize("page", sorted(PUBLIC))
def test_api_pages_hold_the_public_api(site, page):
    source = (site / "api" / f"{page}.html").read_text()
    missing = [name for name in PUBLIC[page] if f'id="{name}"' not in source]
    assert missing == [], f"api/{page}.html lacks {missing}"


def test_the_site_fetches_nothing(site):
    """No stylesheet, script or image from another host: the site opens offline."""
    remote = re.compile(r'<(?:link|script|img)\b[^>]*\b(?:href|src)="(?:https?:)?//', re.I)
    fetching = [path.relative_to(site).as_posix() for path in site.rglob("*.html")
                if remote.search(path.read_text())]
    assert fetching == []


def test_a_link_that_reaches_nothing_fails_the_build(tmp_path):
    """mkdocs.yml's link rules and docs/hooks/repo_links.py on a small site: a link to a
    file of the repository outside docs/ builds (it works in the built site), a link that
    reaches nothing, outside docs/ or in it, is an error that names it."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    (tmp_path / "docs").mkdir()
    (tmp_path / "outside.py").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "docs" / "index.md").write_text(
        "# Home\n\n[a](../outside.py) [b](../folder/) [c](other.md#other)\n")
    (tmp_path / "docs" / "other.md").write_text("# Other\n")
    site = {"site_name": "t", "use_directory_urls": False, "validation": config["validation"],
            "hooks": [str(REPO / hook) for hook in config["hooks"]]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(site))

    def build():
        return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    run = build()
    assert run.returncode == 0, run.stderr
    (tmp_path / "docs" / "index.md").write_text(
        "# Home\n\n[a](../outside.py) [b](../missing.py) [c](missing.md) [d](other.md#none)\n")
    run = build()
    assert run.returncode != 0
    warnings = "\n".join(line for line in run.stderr.splitlines() if "WARNING" in line)
    for link in ("'../missing.py'", "'missing.md'", "'#none'"):
        assert link in warnings
    assert "'../outside.py'" not in warnings

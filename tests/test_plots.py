import pytest

from conftest import write_fake_results
from synoploss import plots
from synoploss.results import Workdir

FIGURES = [
    ("mnist_dvs_analog", "mnist_dvs", "mnist_dvs_analog_accuracy_synops"),
    ("mnist_dvs_targets", "mnist_dvs", "mnist_dvs_targets"),
    ("mnist_dvs_spiking", "mnist_dvs", "mnist_dvs_spiking"),
    ("mnist_dvs_estimate_vs_measured", "mnist_dvs", "mnist_dvs_estimate_vs_measured"),
    ("cifar10", "cifar10", "cifar10_spiking"),
    ("mnist_quant_only", "mnist_quant_only", "mnist_quant_only"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_fake_results(tmp_path_factory.mktemp("results"))


@pytest.mark.parametrize("function,folder,name", FIGURES)
def test_figures_are_written_as_png_and_pdf(results, tmp_path, function, folder, name):
    paths = getattr(plots, function)(results / folder, tmp_path)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_data_and_energy_figures(tiny_mnist_dvs, results, tmp_path):
    assert plots.mnist_dvs_data(tiny_mnist_dvs, tmp_path)[0].is_file()
    assert plots.energy(results / "mnist_dvs", 1e6, tmp_path)[0].is_file()


@pytest.mark.parametrize("function,folder,_", FIGURES)
def test_missing_results_name_the_file(tmp_path, function, folder, _):
    with pytest.raises(FileNotFoundError, match="missing|no "):
        getattr(plots, function)(tmp_path / folder, tmp_path / "figures")


def test_draw_removes_the_old_figure_and_names_a_garbage_row(tmp_path):
    results = write_fake_results(tmp_path / "results")
    figures = tmp_path / "figures"
    paths, problem = plots.draw(plots.cifar10, results / "cifar10", figure_dir=figures)
    assert problem is None and paths[0].is_file()
    log = Workdir(results / "cifar10").cifar_inference
    lines = log.read_text().splitlines()
    fields = lines[2].split(",")
    column = lines[0].split(",").index("snn_accuracy")
    fields[column] = "garbage"
    lines[2] = ",".join(fields)
    log.write_text("\n".join(lines) + "\n")
    paths, problem = plots.draw(plots.cifar10, results / "cifar10", figure_dir=figures)
    assert paths == [] and "log_inference.csv: line 3, column 'snn_accuracy'" in problem
    assert not (figures / "cifar10_spiking.png").exists()  # no stale figure left behind
    assert not (figures / "cifar10_spiking.pdf").exists()

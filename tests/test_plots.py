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


@pytest.mark.parametrize("span", [(2.1e5, 3.7e6), (6e5, 2e6), (1.2e1, 3.3e2), (1e4, 1e7)])
def test_log_x_tick_labels_do_not_overlap(span):
    """The spans of the demo's figures (the analog figure crossed one decade and matplotlib
    labelled 3 and 4 x 10^5 on top of each other) and a wide one."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))  # one panel of the two-panel figures
    ax.plot(span, [0, 1])
    plots.log_x(ax)
    fig.canvas.draw()
    low, high = ax.get_xlim()
    boxes = [label.get_window_extent() for label in ax.xaxis.get_ticklabels(which="both")
             if label.get_text() and low <= label.get_position()[0] <= high]
    plt.close(fig)
    assert len(boxes) >= 2  # labelled at all
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])

import pandas as pd
import pytest

from conftest import write_fake_results
from synoploss.experiments.workdir import Workdir
from synoploss.reporting import plots

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


@pytest.fixture
def drawn(monkeypatch):
    """The Figure each plot function saves, kept for inspection (and still saved)."""
    figures = {}
    original = plots.save

    def keep(fig, figure_dir, name):
        figures[name] = fig
        return original(fig, figure_dir, name)
    monkeypatch.setattr(plots, "save", keep)
    return figures


def plotted(ax):
    """Every (x, y) point drawn as a line or marker on `ax`."""
    return {(round(float(x), 6), round(float(y), 6)) for line in ax.lines
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)}


def points(frame, x, y, x_scale=1.0, y_scale=1.0):
    return {(round(float(a) * x_scale, 6), round(float(b) * y_scale, 6))
            for a, b in zip(frame[x], frame[y], strict=True)}


@pytest.mark.parametrize("function,folder,name", FIGURES)
def test_figures_show_their_data_labelled_and_marked_stand_in(results, tmp_path, drawn,
                                                             function, folder, name):
    paths = getattr(plots, function)(results / folder, tmp_path)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    fig = drawn[name]
    main = fig.axes[0]
    assert main.get_xlabel() and main.get_ylabel()
    titles = " ".join([fig._suptitle.get_text() if fig._suptitle else ""]
                      + [ax.get_title() for ax in fig.axes])
    assert "STAND-IN" in titles  # results on stand-in data say so
    assert sum(len(line.get_xdata()) for line in main.lines) >= 2


def test_spiking_figures_plot_every_row_with_error_bars(results, tmp_path, drawn):
    from synoploss.reporting.readers import read_spiking_results
    plots.mnist_dvs_spiking(results / "mnist_dvs", tmp_path)
    spiking = read_spiking_results(results / "mnist_dvs")
    main = drawn["mnist_dvs_spiking"].axes[0]
    for frame in [spiking.baseline, *spiking.curves.values()]:
        assert points(frame, "snn_synops", "snn_accuracy", y_scale=100) <= plotted(main)
    assert main.get_xscale() == "log" and len(main.containers) >= 1
    assert all(container.has_yerr and container.has_xerr for container in main.containers)
    # the estimate against the measurement: every curve's rows, both axes log
    plots.mnist_dvs_estimate_vs_measured(results / "mnist_dvs", tmp_path)
    left = drawn["mnist_dvs_estimate_vs_measured"].axes[0]
    for frame in spiking.curves.values():
        assert points(frame, "ann_synops", "snn_synops") <= plotted(left)
    assert left.get_yscale() == "log"
    # CIFAR-10: every row of the evaluation, in millions of SynOps and percent
    plots.cifar10(results / "cifar10", tmp_path)
    inference = pd.read_csv(Workdir(results / "cifar10").cifar_inference)
    cifar = drawn["cifar10_spiking"].axes[0]
    assert points(inference, "snn_synops", "snn_accuracy", 1e-6, 100) <= plotted(cifar)
    assert all(container.has_yerr for container in cifar.containers)


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

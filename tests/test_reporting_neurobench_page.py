"""synoploss.reporting.neurobench_page: the SynOps beside NeuroBench's counts, every cell
from the per-sample arrays, and the page only where the results hold those counts."""
import numpy as np
import pandas as pd
import pytest

from conftest import write_fake_results
from synoploss.reporting import neurobench_page
from synoploss.reporting.report import main as report_main


def add_neurobench_counts(folder, mac_share=0.25, binary=0.5):
    """NeuroBench's counts into every MNIST-DVS spiking row and samples file of a fake
    folder: Effective ACs = half the SynOps, MACs = `mac_share` of them."""
    results = folder / "mnist_dvs" / "results"
    for path in results.glob("*_spiking.csv"):
        frame = pd.read_csv(path)
        frame = frame.assign(neurobench_rules="2.3.0", neurobench_activation_sparsity=0.97,
                             neurobench_connection_sparsity=0.01,
                             neurobench_footprint_bytes=123456)
        frame.to_csv(path, index=False)
        for samples in frame["samples_path"]:
            file = folder / "mnist_dvs" / samples
            with np.load(file) as saved:
                arrays = dict(saved)
            layers = arrays["layer_synops"]
            np.savez(file, **arrays, neurobench_layer_names=arrays["layer_names"],
                     neurobench_effective_acs=layers * 0.5,
                     neurobench_effective_macs=layers * mac_share,
                     neurobench_dense=layers * 10,
                     neurobench_binary_input=np.arange(layers.size).reshape(layers.shape) % 2
                     < binary * 2,
                     neurobench_activation_sparsity=np.full(len(layers), 0.97))


def test_every_cell_is_the_arrays_mean(tmp_path):
    folder = write_fake_results(tmp_path / "study", skip=("cifar10", "mnist_quant_only"))
    assert not neurobench_page.has_counts(folder)
    add_neurobench_counts(folder)
    assert neurobench_page.has_counts(folder)
    page = neurobench_page.build(folder)
    baseline = pd.read_csv(folder / "mnist_dvs" / "results" / "nopenalty_spiking.csv").iloc[0]
    with np.load(folder / "mnist_dvs" / baseline["samples_path"]) as saved:
        synops = saved["layer_synops"].sum(1).mean()
    line = next(line for line in page.splitlines() if line.startswith("| baseline:"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert float(cells[1]) == pytest.approx(synops, rel=5e-3)
    assert float(cells[2]) == pytest.approx(synops * 0.5, rel=5e-3)   # Effective ACs
    assert float(cells[3]) == pytest.approx(synops * 0.25, rel=5e-3)  # Effective MACs
    assert cells[6] == "1.33"  # SynOps / (0.5 + 0.25 of them)
    assert cells[9] == "123,456" and "NeuroBench 2.3.0" in page
    assert "Why the two counts differ" in page and "Multiplicity is lost" in page


def test_the_results_page_links_it_only_where_the_counts_are(tmp_path):
    folder = write_fake_results(tmp_path / "study", skip=("cifar10", "mnist_quant_only"))
    out = tmp_path / "docs" / "results.md"
    report_main([str(folder), "--out", str(out), "--readme", "", "--resamples", "30"])
    assert not (out.parent / "neurobench.md").exists() and "neurobench.md" not in out.read_text()
    add_neurobench_counts(folder)
    report_main([str(folder), "--out", str(out), "--readme", "", "--resamples", "30"])
    assert (out.parent / "neurobench.md").is_file()
    assert "[neurobench.md](neurobench.md)" in out.read_text()

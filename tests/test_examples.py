"""examples/: the worked example of docs/own_network.md runs at tiny size and its
numbers agree with what the library measures."""
import pandas as pd
import pytest

from conftest import load_script


@pytest.mark.slow
def test_the_residual_example_trains_converts_counts_and_checks_speck(tiny_mnist_dvs, tmp_path,
                                                                     capsys):
    example = load_script("examples/residual_mnist_dvs.py")
    example.main(["--data_root", str(tiny_mnist_dvs), "--workdir", str(tmp_path),
                  "--n_epochs", "1", "--batch_size", "16", "--no_progress", "--device", "cpu"])
    row = pd.read_csv(tmp_path / "results" / "own_network.csv").iloc[0]
    out = capsys.readouterr().out
    # the traced graph: the residual addition joins the stem's spikes to the block's
    # current before block_relu, so each ReLU feeds exactly the next weight layer
    for line in ("input_relu: feeds stem,", "stem_relu: feeds block,",
                 "block_relu: feeds readout,", "output_relu: feeds nothing"):
        assert line in out
    measured = [column for column in row.index if column.startswith("snn_synops_")
                and not column.endswith(("_low", "_high"))]
    estimated = [column for column in row.index if column.startswith("ann_synops_")]
    assert {column.removeprefix("snn_synops_") for column in measured} == {
        column.removeprefix("ann_synops_") for column in estimated}  # matched by name
    assert row[measured].sum() == pytest.approx(row["snn_synops"], rel=1e-9)
    assert not row["speck_fits"] and "additions or branches are not mapped" in \
        row["speck_problems"]
    # the input layer's SynOps are the input events times their fan-out: the estimate on
    # the accumulated frame and the measurement on the events are the same number
    assert row["snn_synops_input_relu"] == pytest.approx(row["ann_synops_input_relu"], rel=1e-5)
    assert 0 <= row["snn_accuracy"] <= 1 and row["bias_rescaling"] > 1

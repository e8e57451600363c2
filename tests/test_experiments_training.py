import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from synoploss.experiments.cli import seed_everything
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.training import NonFiniteLossError, fit
from synoploss.loss import SynOpLoss
from synoploss.quantize import NeuromorphicReLU
from synoploss.synops import SynOpCounter, assign_fanout


def toy_problem(samples=128):
    """Two classes told apart by which half of the input is bright."""
    seed_everything(0)
    labels = torch.randint(0, 2, (samples,))
    data = torch.rand(samples, 1, 4, 4)
    data[labels == 0, :, :, :2] += 3
    data[labels == 1, :, :, 2:] += 3
    return DataLoader(TensorDataset(data, labels), batch_size=32, shuffle=True)


def toy_model(quantize=True):
    model = nn.Sequential(NeuromorphicReLU(quantize), nn.Conv2d(1, 4, 3, padding=1, bias=False),
                          NeuromorphicReLU(quantize), nn.Flatten(), nn.Linear(64, 2, bias=False),
                          NeuromorphicReLU(quantize, revive=True))
    assign_fanout(model, (1, 4, 4))
    return model


@pytest.mark.parametrize("quantize", [True, False])
def test_fit_learns_and_the_synop_loss_pulls_towards_the_target(quantize):
    loader = toy_problem()
    free = toy_model(quantize)
    fit(free, loader, 6, 1e-2, progress=False)
    free_stats = evaluate_analog(free, loader)
    assert free_stats.accuracy > 0.9
    input_synops, hidden_synops = free_stats.layer_synops  # the input's are fixed by the data
    constrained = toy_model(quantize)
    target = [input_synops, hidden_synops / 4]  # per layer: the input's cannot change
    fit(constrained, loader, 6, 1e-2, SynOpLoss(SynOpCounter(constrained.modules()), target=target),
        progress=False)
    stats = evaluate_analog(constrained, loader)
    assert stats.layer_synops[1] < hidden_synops / 2
    assert sum(stats.layer_synops) == pytest.approx(stats.synops)


def test_nan_loss_is_reported():
    loader = toy_problem()
    model = toy_model()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="loss became nan"):
        fit(model, loader, 1, 1e-3, progress=False, description="target 1e+05")


@pytest.mark.parametrize("min_epochs,expected", [(0, 2), (5, 5)])
def test_early_stopping_waits_for_min_epochs(min_epochs, expected):
    """A model whose loss cannot change (all weights zero, no gradient) stops as soon as
    allowed: after two epochs, or at min_epochs."""
    model = toy_model(quantize=False)
    with torch.no_grad():
        for weight in model.parameters():
            weight.zero_()
    epochs = []
    fit(model, toy_problem(), 20, 1e-3, progress=False, early_stop_tol=1e-6,
        min_epochs=min_epochs, on_epoch=lambda epoch, stats: epochs.append(epoch))
    assert len(epochs) == expected


def test_divergence_is_told_apart_from_a_silent_network():
    from synoploss.experiments.training import divergence
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    assert divergence(model) is None
    with torch.no_grad():
        model[0].bias.fill_(-5.0)  # silent for every input: a (bad) result, not divergence
    assert divergence(model) is None
    with torch.no_grad():
        model[0].weight[0, 0] = 3e8  # what Adam at --lr 1e9 leaves behind
    assert "|0.weight| reaches 3e+08" in divergence(model)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    assert "non-finite" in divergence(model)


def test_an_optimiser_overflow_is_a_failed_model_not_a_crash():
    """--lr 1e300 does not fit in float32: Adam raises a RuntimeError that used to abort
    the whole sweep; it is now the model's failure."""
    model = nn.Sequential(nn.Linear(4, 3), NeuromorphicReLU(quantize=False, fanout=1))
    loader = DataLoader(TensorDataset(torch.rand(8, 4), torch.randint(0, 3, (8,))), 4)
    with pytest.raises(NonFiniteLossError, match="overflowed"):
        fit(model, loader, 1, lr=1e300, progress=False)


def test_epoch_log_rows_and_tensorboard_scalars(tmp_path):
    """One row per epoch (a rerun of the run replaces its rows) and the original's
    scalars in TensorBoard's event files, read back with tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from synoploss.experiments.training import TENSORBOARD_TAGS, EpochLog
    from synoploss.io import read_csv
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), NeuromorphicReLU(quantize=False),
                          nn.Linear(8, 2))
    assign_fanout(model, (1, 4, 4))
    loader = toy_problem()
    for _attempt in range(2):
        log = EpochLog(tmp_path / "epoch_log.csv", "toy", tmp_path / "tb", fanout="paper")
        fit(model, loader, 3, 1e-2, SynOpLoss(SynOpCounter(model.modules()), target=10.0),
            progress=False, on_epoch=log)
        log.close()
    rows = read_csv(tmp_path / "epoch_log.csv")
    assert rows["epoch"].tolist() == [1, 2, 3] and rows["fanout"].eq("paper").all()
    # the loss is cross-entropy + SynOp term, both logged
    assert (rows["train_loss"] - rows["cross_entropy"] - rows["synop_loss"]).abs().max() < 1e-9
    events = EventAccumulator(str(tmp_path / "tb" / "toy"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {TENSORBOARD_TAGS[c] for c in ("train_accuracy", "train_loss", "train_synops",
                                          "cross_entropy", "synop_loss")} <= tags
    accuracy = [event.value for event in events.Scalars("accuracy_training")]
    assert accuracy[-3:] == pytest.approx(rows["train_accuracy"].tolist(), rel=1e-6)

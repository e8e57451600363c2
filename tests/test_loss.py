import pytest
import torch
import torch.nn as nn

from synoploss.loss import SynOpLoss, synop_loss
from synoploss.quantize import NeuromorphicReLU
from synoploss.synops import SynOpCounter, assign_fanout


def counter_with_activity(activities):
    """(counter, its recording): unquantized layers whose SynOps are `activities` (one
    sample, fan-out 1)."""
    layers = [NeuromorphicReLU(quantize=False, fanout=1) for _ in activities]
    counter = SynOpCounter(layers)
    with counter.record() as synops:
        for layer, value in zip(layers, activities, strict=True):
            layer(torch.tensor([[float(value)]]))
    return counter, synops


@pytest.mark.parametrize("activities,kwargs,expected", [
    ([30, 20], dict(target=100.0), ((50 - 100) / 100) ** 2),
    ([300, 50], dict(target=100.0), ((350 - 100) / 100) ** 2),
    ([30, 20], dict(target=100.0, one_sided=True), 0.0),
    ([300, 50], dict(target=100.0, one_sided=True), 2.5 ** 2),
    ([30, 20], dict(target=[10.0, 40.0]), 2.0 ** 2 + 0.5 ** 2),
    ([30, 20], dict(target=[10.0, 40.0], one_sided=True), 2.0 ** 2),
    ([30, 20], dict(alpha=0.01), 0.5),
    ([0.2, 0.3], dict(target=0.5), 0.0),  # a target below 1 SynOp is a valid target
    ([300, 50], dict(target=100.0, weight=10.0), 10 * 2.5 ** 2),
    ([30, 20], dict(target=[10.0, 40.0], weight=0.5), 0.5 * (2.0 ** 2 + 0.5 ** 2)),
])
def test_loss_values_by_hand(activities, kwargs, expected):
    counter, synops = counter_with_activity(activities)
    assert SynOpLoss(counter, **kwargs)(synops).item() == pytest.approx(expected)


@pytest.mark.parametrize("kwargs,message", [
    (dict(), "exactly one of"),
    (dict(target=10.0, alpha=1.0), "exactly one of"),
    (dict(target=0.0), "must be > 0"),
    (dict(target=-5.0), "must be > 0"),
    (dict(target=[10.0, -1.0]), "must be > 0"),
    (dict(target=[10.0, 20.0, 30.0]), "3 targets given for 2 counted layers"),
    (dict(alpha=-1.0), "alpha must be >= 0"),
    (dict(alpha=1.0, one_sided=True), "one_sided"),
    (dict(target=10.0, weight=0.0), "weight must be > 0"),
    (dict(alpha=1.0, weight=2.0), "alpha is the L1 form's own weight"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynOpLoss(counter_with_activity([1, 2])[0], **kwargs)


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize("kwargs", [dict(target=10.0), dict(alpha=1e-3)])
def test_gradient_reaches_weights_and_lowers_synops(quantize, kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(NeuromorphicReLU(quantize), nn.Conv2d(1, 4, 3, bias=False),
                          NeuromorphicReLU(quantize), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
                          NeuromorphicReLU(quantize))
    nn.init.uniform_(model[1].weight, 0.2, 1.0)
    assign_fanout(model, (1, 8, 8))
    counter = SynOpCounter(model)
    loss = SynOpLoss(counter, **kwargs)
    data = torch.randint(1, 4, (4, 1, 8, 8)).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with counter.record() as synops:
        model(data)
    before = synops.total().item()
    loss(synops).backward()
    assert model[1].weight.grad.abs().sum() > 0
    optimizer.step()
    with counter.record() as synops:
        model(data)
    assert synops.total().item() < before


@pytest.mark.parametrize("synops,target,one_sided,weight,expected", [
    (2.0, 1.0, False, 1.0, 1.0),               # ((2 - 1) / 1)^2
    ([1.0, 3.0], [2.0, 2.0], False, 1.0, 0.5),  # 0.25 + 0.25
    ([1.0, 3.0], [2.0, 2.0], True, 1.0, 0.25),  # only the layer above its target
    (3.0, 2.0, False, 10.0, 2.5),              # 10 * 0.25
])
def test_the_function_form_by_hand(synops, target, one_sided, weight, expected):
    value = synop_loss(torch.tensor(synops), target, one_sided=one_sided, weight=weight)
    assert value.item() == pytest.approx(expected)


def test_the_function_form_is_the_module_form():
    model = nn.Sequential(NeuromorphicReLU(fanout=3.0))
    counter = SynOpCounter(model)
    module = SynOpLoss(counter, target=5.0, weight=2.0)
    data = torch.full((4, 6), 1.5, requires_grad=True)
    with counter.record() as synops:
        model(data)
    assert module(synops).item() == synop_loss(synops.total(), 5.0, weight=2.0).item()


@pytest.mark.parametrize("target", [0.0, -1.0, [1.0, 0.0]])
def test_the_function_form_refuses_targets_that_are_not_positive(target):
    with pytest.raises(ValueError, match="must be > 0"):
        synop_loss(torch.tensor([1.0, 2.0]), target)

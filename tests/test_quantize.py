import copy
import pickle

import pytest
import torch
import torch.nn as nn

from synoploss.quantize import (
    NeuromorphicReLU,
    Quantize,
    QuantizeLayer,
    StochasticRounding,
    SumPool2d,
)
from synoploss.synops import SynOpCounter

X = [-1.5, -0.5, 0.0, 0.3, 1.0, 2.7]


def forward_backward(function, values=X):
    data = torch.tensor(values, requires_grad=True)
    output = function(data)
    output.backward(torch.ones_like(output))
    return output.detach().tolist(), data.grad.tolist()


def test_quantize_floor_and_straight_through():
    output, grad = forward_backward(Quantize.apply)
    assert output == [-2.0, -1.0, 0.0, 0.0, 1.0, 2.0]
    assert grad == [1.0] * 6


@pytest.mark.parametrize("quantize,expected", [
    (True, [-2.0, -1.0, 0.0, 0.0, 1.0, 2.0]),
    (False, X),
])
def test_quantize_layer(quantize, expected):
    output, grad = forward_backward(QuantizeLayer(quantize))
    assert output == pytest.approx(expected)
    assert grad == [1.0] * 6


def test_stochastic_rounding_eval_rounds():
    data = torch.tensor([0.2, 0.5, 1.5, 2.7, -0.6])
    assert StochasticRounding.apply(data, False).tolist() == [0.0, 0.0, 2.0, 3.0, -1.0]


def test_stochastic_rounding_training_is_unbiased_and_integer():
    torch.manual_seed(0)
    data = torch.full((200_000,), 0.3)
    output = StochasticRounding.apply(data, True)
    assert set(output.unique().tolist()) == {0.0, 1.0}
    # E[floor(0.3 + u)] = 0.3; the standard error at this size is about 0.001
    assert output.mean().item() == pytest.approx(0.3, abs=0.005)
    _, grad = forward_backward(lambda d: StochasticRounding.apply(d, True))
    assert grad == [1.0] * 6


@pytest.mark.parametrize("quantize,expected_out,expected_grad", [
    # floor(relu(x)); surrogate (sign(x) + 1) / 2 on the pre-activation
    (True, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.5, 1.0, 1.0, 1.0]),
    # plain relu and its own gradient (0 at 0)
    (False, [0.0, 0.0, 0.0, 0.3, 1.0, 2.7], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
])
def test_neuromorphic_relu_forward_backward(quantize, expected_out, expected_grad):
    output, grad = forward_backward(NeuromorphicReLU(quantize=quantize))
    assert output == pytest.approx(expected_out)
    assert grad == pytest.approx(expected_grad)


def test_neuromorphic_relu_stochastic_rounding_in_training_is_unbiased():
    """relu(x) rounded up with probability frac(x): 1.3 -> 1 or 2, mean 1.3 (20,000 draws:
    standard error 0.003); negative inputs give 0."""
    torch.manual_seed(0)
    layer = NeuromorphicReLU(quantize=True, stochastic_rounding=True).train()
    output = layer(torch.full((20000,), 1.3))
    assert set(output.unique().tolist()) == {1.0, 2.0}
    assert float(output.mean()) == pytest.approx(1.3, abs=0.015)
    assert layer(torch.full((100,), -0.7)).abs().sum() == 0


def test_neuromorphic_relu_stochastic_rounding_eval():
    layer = NeuromorphicReLU(quantize=True, stochastic_rounding=True).eval()
    output, grad = forward_backward(layer)
    assert output == [0.0, 0.0, 0.0, 0.0, 1.0, 3.0]
    assert grad == [0.0, 0.0, 0.5, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("quantize,expected", [
    # batch of 2: sample 0 -> [0, 1, 2, 3], sample 1 -> [0, 0, 1, 0] (quantized)
    (True, (3.0 * (0 + 1 + 2 + 3) + 3.0 * (0 + 0 + 1 + 0)) / 2),
    (False, (3.0 * (0 + 1.5 + 2.5 + 3.0) + 3.0 * (0 + 0.2 + 1.9 + 0)) / 2),
])
def test_synops_with_a_scalar_fanout(quantize, expected):
    layer = NeuromorphicReLU(quantize=quantize, fanout=3)
    data = torch.tensor([[-1.0, 1.5, 2.5, 3.0], [-2.0, 0.2, 1.9, -0.1]])
    with SynOpCounter([layer]).record() as synops:
        layer(data)
    assert synops.total().item() == pytest.approx(expected)


def test_activity_map_fanout_broadcasts_over_batch():
    fanout = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (C, H, W) = (1, 2, 2)
    layer = NeuromorphicReLU(quantize=True, fanout=fanout)
    counter = SynOpCounter([layer])
    data = torch.tensor([[[[1.2, 2.9], [0.5, 3.0]]], [[[0.0, 1.0], [1.0, 1.0]]]])
    with counter.record() as synops:
        layer(data)
    # sample 0: 1*1 + 2*2 + 3*0 + 4*3 = 17; sample 1: 0 + 2 + 3 + 4 = 9
    assert synops.total().item() == pytest.approx((17 + 9) / 2)
    # differentiable: d synops / d input = fanout * surrogate / batch
    data.requires_grad_(True)
    with counter.record() as synops:
        layer(data)
    synops.total().backward()
    assert data.grad[0].flatten().tolist() == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert data.grad[1].flatten().tolist() == pytest.approx([0.25, 1.0, 1.5, 2.0])


def test_fanout_is_not_in_state_dict_and_accepts_numbers():
    layer = NeuromorphicReLU(fanout=torch.ones(2, 3, 3))
    assert "fanout" not in layer.state_dict()
    layer.fanout = 7
    assert layer.fanout.item() == 7.0


def test_no_state_of_a_forward_pass_stays_on_the_module():
    model = nn.Sequential(nn.Linear(4, 3), NeuromorphicReLU(fanout=2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = SynOpCounter(model)
    with counter.record() as synops:
        model(torch.randn(5, 4))
    synops.total().backward()
    optimizer.step()
    before = dict(vars(model[1]))
    model(torch.randn(5, 4))  # outside a recording: nothing recorded, nothing kept
    assert vars(model[1]).keys() == before.keys() and not model[1]._forward_hooks
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert torch.equal(clone[0].weight, model[0].weight)


def test_sum_pool_is_avg_pool_times_area():
    data = torch.arange(16.0).reshape(1, 1, 4, 4)
    output = SumPool2d(2)(data)
    assert output[0, 0].tolist() == [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7],
                                     [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]
    torch.testing.assert_close(SumPool2d(3, 1)(data), nn.AvgPool2d(3, 1)(data) * 9)


@pytest.mark.parametrize("quantize,revive,expected_grad", [
    # relu's gradient, plus (below zero) only the part that would raise the input
    (False, True, [-1.0, 0.0, -1.0, 1.0, -1.0]),
    # step surrogate (0.5 at 0), plus the same revival below zero
    (True, True, [-1.0, 0.0, -1.0, 1.0, -0.5 - 1.0]),
    # without revive: nothing below zero passes (relu; the step surrogate's 0.5 at 0)
    (False, False, [0.0, 0.0, -1.0, 1.0, 0.0]),
    (True, False, [0.0, 0.0, -1.0, 1.0, -0.5]),
])
def test_revive_lets_dead_units_rise_only(quantize, revive, expected_grad):
    data = torch.tensor([-1.0, -1.0, 0.5, 2.0, 0.0], requires_grad=True)
    layer = NeuromorphicReLU(quantize=quantize, revive=revive)
    output = layer(data)
    plain = NeuromorphicReLU(quantize=quantize)(data.detach())
    assert torch.equal(output.detach(), plain)  # forward unchanged
    # -1 raises the input (let through below zero), 0.5 would lower it (not let through)
    output.backward(torch.tensor([-1.0, 0.5, -1.0, 1.0, -1.0]))
    assert data.grad.tolist() == pytest.approx(expected_grad)


@pytest.mark.parametrize("quantize", [True, False])
def test_bf16_autocast_keeps_spike_counts_and_the_synop_estimate_exact(quantize):
    """Under bf16 autocast the convolution runs in bfloat16, but the floor and the SynOp
    estimate are computed in float32: integer spike counts, and an activity equal to the
    exact sum of output times fan-out (what --precision bf16 relies on)."""
    from synoploss.synops import assign_fanout
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), NeuromorphicReLU(quantize=quantize),
                          nn.Conv2d(16, 8, 3, bias=False), NeuromorphicReLU(quantize=quantize))
    assign_fanout(model, (3, 12, 12))
    outputs = []
    for layer in (model[1], model[3]):
        layer.register_forward_hook(lambda module, _, output: outputs.append(output))
    data = torch.rand(4, 3, 12, 12) * 8
    with torch.autocast("cpu", dtype=torch.bfloat16), SynOpCounter(model).record() as synops:
        model(data)
    counted = synops.layer_synops()  # model[3], the output, feeds nothing: not counted
    assert counted.dtype == torch.float32 and len(counted) == 1
    for layer, output, value in zip((model[1],), outputs[:1], counted, strict=True):
        exact = (output.double() * layer.fanout.double()).sum() / len(data)
        assert value.double().item() == pytest.approx(exact.item(), rel=1e-6)
        if quantize:
            assert output.dtype == torch.float32
            assert torch.equal(output, output.floor()) and output.max() > 1
        else:  # a plain ReLU stays in the autocast dtype: no float32 copy of each activation
            assert output.dtype == torch.bfloat16


@pytest.mark.parametrize("fanout, shown", [
    (3, "fanout=3"), (torch.ones(2, 4, 4), "fanout=map(2, 4, 4)")])
def test_the_repr_shows_a_constant_fanout_or_the_maps_shape(fanout, shown):
    layer = NeuromorphicReLU(fanout=fanout)
    assert shown in repr(layer) and "quantize=True" in repr(layer)

"""Quantization layers for quantization-aware training (QAT).

A spiking integrate-and-fire neuron with threshold 1 and reset by subtraction emits
floor(v) spikes for an integer-valued input drive v >= 0 in one step, so training the
analog network with floor(relu(x)) makes it behave like the spiking network it becomes.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Quantize(torch.autograd.Function):
    """floor(x) forward; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, inp):
        return inp.floor()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class StochasticRounding(torch.autograd.Function):
    """floor(x + u), u ~ U[0, 1), in training; round(x) in eval. Straight-through gradient.

    Unbiased in expectation: E[floor(x + u)] == x.
    """

    @staticmethod
    def forward(ctx, inp, training: bool = True):
        if training:
            return (inp + torch.rand_like(inp)).floor()
        return inp.round()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


class _FloorReLU(torch.autograd.Function):
    """floor(relu(x)) with the paper's step surrogate grad * (sign(x) + 1) / 2 on x."""

    @staticmethod
    def forward(ctx, inp):
        ctx.save_for_backward(inp)
        return inp.clamp(min=0).floor()

    @staticmethod
    def backward(ctx, grad_output):
        (inp,) = ctx.saved_tensors
        return grad_output * (torch.sign(inp) + 1) / 2


class _Revive(torch.autograd.Function):
    """Identity forward; backward lets through, where the ReLU's own gradient is 0, the
    part of the gradient that would raise the pre-activation (gradient < 0), so that a
    unit negative for every input can come back. Applied to the pre-activation."""

    @staticmethod
    def forward(ctx, inp):
        ctx.save_for_backward(inp)
        return inp.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (inp,) = ctx.saved_tensors
        return grad_output * ((inp <= 0) & (grad_output < 0))


class _StochasticReLU(torch.autograd.Function):
    """Stochastic rounding of relu(x) with the same step surrogate as _FloorReLU."""

    @staticmethod
    def forward(ctx, inp, training: bool):
        ctx.save_for_backward(inp)
        positive = inp.clamp(min=0)
        if training:
            return (positive + torch.rand_like(positive)).floor()
        return positive.round()

    @staticmethod
    def backward(ctx, grad_output):
        (inp,) = ctx.saved_tensors
        return grad_output * (torch.sign(inp) + 1) / 2, None


class QuantizeLayer(nn.Module):
    """Applies `Quantize` (floor, straight-through gradient) when `quantize` is on.

    Same behaviour as sinabs.layers.QuantizeLayer (3.1.3); ours is used so that
    `set_quantize`, `to_spiking` and the bf16 path treat both quantizing layers alike."""

    def __init__(self, quantize: bool = True):
        super().__init__()
        self.quantize = quantize

    def forward(self, data):
        return Quantize.apply(data) if self.quantize else data

    def extra_repr(self):
        return f"quantize={self.quantize}"


class NeuromorphicReLU(nn.Module):
    """ReLU that (optionally) quantizes its output, with the fan-out its SynOps are counted by.

    A `synops.SynOpCounter` records, for the forward pass it watches, (output * fanout).sum()
    / batch_size: the synaptic operations this layer's output causes per sample,
    differentiable so that a loss can push it down. Nothing of a forward pass is kept on
    the module. `fanout` is the number of outgoing connections per neuron: a number, or a
    tensor broadcastable to one sample's activation shape, e.g. the exact map that
    `synoploss.synops.assign_fanout` computes.

    `revive=True` (for an output layer) adds, below zero, the part of the gradient that
    would raise the pre-activation: an output unit that turned negative for every input
    could otherwise never predict its class again. The forward pass is unchanged.

    How it differs from sinabs.layers.NeuromorphicReLU (3.1.3), whose forward is the same
    for a scalar fan-out (floor of the ReLU, activity = output sum / batch * fanout):
    - `fanout` may be a per-neuron map (sinabs: one number per layer), a buffer that
      follows `.to(device)` and stays out of the state dict;
    - gradient: the paper's step surrogate (sign(x) + 1) / 2 on the pre-activation
      (sinabs: the ReLU's gradient through a straight-through floor; equal except at 0);
    - `revive` (not in sinabs);
    - under bf16/fp16 autocast it floors in float32 (the counter sums in float32);
    - no state of a forward pass on the module (sinabs' keeps its activity there).
    """

    def __init__(self, quantize: bool = True, fanout=1, stochastic_rounding: bool = False,
                 revive: bool = False):
        super().__init__()
        self.quantize = quantize
        self.stochastic_rounding = stochastic_rounding
        self.revive = revive
        # Non-persistent buffer: follows .to(device) but stays out of state_dict, so the
        # original checkpoints (which have no fan-out entries) load strictly.
        self.register_buffer("fanout", _as_fanout_tensor(fanout), persistent=False)

    def __setattr__(self, name, value):
        if name == "fanout":
            value = _as_fanout_tensor(value)
        super().__setattr__(name, value)

    def forward(self, data):
        if self.quantize and data.dtype in (torch.float16, torch.bfloat16):
            # under bf16/fp16 autocast: floor in float32, so that the spike counts and the
            # SynOp estimate are exact for the pre-activations the convolution produced
            data = data.float()
        if not self.quantize:
            output = F.relu(data)
        elif self.stochastic_rounding:
            output = _StochasticReLU.apply(data, self.training)
        else:
            output = _FloorReLU.apply(data)
        if self.revive and torch.is_grad_enabled():
            # output + (revive(x) - revive(x).detach()): same value, extra gradient path
            revived = _Revive.apply(data)
            output = output + (revived - revived.detach())
        return output

    def extra_repr(self):
        fanout = self.fanout
        shown = f"{fanout.item():g}" if fanout.numel() == 1 else f"map{tuple(fanout.shape)}"
        return (f"quantize={self.quantize}, fanout={shown}, "
                f"stochastic_rounding={self.stochastic_rounding}, revive={self.revive}")


def _as_fanout_tensor(fanout) -> torch.Tensor:
    if isinstance(fanout, torch.Tensor):
        return fanout.detach().to(torch.float32)
    return torch.tensor(float(fanout))


class SumPool2d(nn.Module):
    """Sum pooling: AvgPool2d times kernel area (what neuromorphic chips implement).

    How it differs from sinabs.layers.SumPool2d (3.1.3; an LPPool2d with p=1): the same
    sums, plus `padding`, and one avg_pool2d call (no pow/abs/sign round trip, so exact
    under bf16 autocast for integer inputs). `nir_export` replaces it by sinabs' class,
    which sinabs knows how to export."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode

    def forward(self, data):
        return F.avg_pool2d(data, self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, count_include_pad=True, divisor_override=1)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

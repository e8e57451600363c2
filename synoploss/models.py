"""The paper's networks. Fan-outs come from `assign_fanout`, never typed by hand; the
state-dict keys are the original code's, so its checkpoints load."""
from __future__ import annotations

import torch
import torch.nn as nn

from .quantize import NeuromorphicReLU, QuantizeLayer, SumPool2d
from .synops import assign_fanout, flatten_layers

MNIST_DVS_INPUT = (1, 64, 64)
CIFAR10_INPUT = (3, 32, 32)
MNIST_INPUT = (1, 28, 28)
INITS = ("kaiming", "pytorch")  # weight initialisations of MNISTDVSNet


class MNISTDVSNet(nn.Module):
    """MNIST-DVS classifier (no biases): input NeuromorphicReLU (input events count as
    SynOps); conv 1->8, 8->12, 12->12 3x3, each with NeuromorphicReLU and avgpool 2;
    dropout2d 0.5; linear 432->10; final NeuromorphicReLU (fan-out 0). `fanout`: "exact"
    maps or the "paper"'s constants 72, 108, 108, 10 (`synops.assign_fanout`)."""

    def __init__(self, quantize: bool = False, input_shape=MNIST_DVS_INPUT,
                 init: str = "kaiming", fanout: str = "exact", revive_output: bool = True):
        super().__init__()
        self.input_relu = NeuromorphicReLU(quantize=quantize)
        self.seq = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, bias=False),     # seq.0
            NeuromorphicReLU(quantize=quantize),
            nn.AvgPool2d(2),
            nn.Conv2d(8, 12, kernel_size=3, bias=False),    # seq.3
            NeuromorphicReLU(quantize=quantize),
            nn.AvgPool2d(2),
            nn.Conv2d(12, 12, kernel_size=3, bias=False),   # seq.6
            NeuromorphicReLU(quantize=quantize),
            nn.AvgPool2d(2),
            nn.Dropout2d(0.5),
            nn.Flatten(),
            nn.Linear(432, 10, bias=False),                 # seq.11
            # revive: an output unit that turned negative for every input could never
            # predict its class again; its gradient may still pull it up (forward as is).
            # The original's plain ReLU: revive_output=False.
            NeuromorphicReLU(quantize=quantize, revive=revive_output),
        )
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        # "kaiming": Kaiming-uniform, as the paper's sweeps; "pytorch": PyTorch's default
        # (Kaiming-uniform with a = sqrt(5)), as the original's QAT-only study
        for layer in self.seq:
            if init == "kaiming" and isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        self.input_shape = tuple(input_shape)
        self.fanout_summary = assign_fanout(self, self.input_shape, fanout)

    def forward(self, data):
        return self.seq(self.input_relu(data))


class MNISTQuantNet(nn.Module):
    """The MNIST quantization-only network: conv 1->8, 8->16, 16->32 (3x3, with bias),
    each followed by a NeuromorphicReLU and avgpool 2; linear 32->10; a floor quantizer
    (QuantizeLayer) on the output."""

    def __init__(self, quantize: bool = False, fanout: str = "exact"):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 8, 3), NeuromorphicReLU(quantize=quantize), nn.AvgPool2d(2),
            nn.Conv2d(8, 16, 3), NeuromorphicReLU(quantize=quantize), nn.AvgPool2d(2),
            nn.Conv2d(16, 32, 3), NeuromorphicReLU(quantize=quantize), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(32, 10), QuantizeLayer(quantize=quantize),
        )
        self.fanout_summary = assign_fanout(self, MNIST_INPUT, fanout)

    def forward(self, data):
        return self.seq(data)


class CIFAR10AnalogueClassifier(nn.Module):
    """The paper's all-convolutional CIFAR-10 network (no biases): dropout on the input;
    conv 96, 96, 192/2, 192, 192, 192/2, 192, 192 (1x1), 10 (1x1), each preceded by
    dropout and followed by a NeuromorphicReLU (the last one optional); sum pooling 8x8;
    flatten. Keys seq.1, seq.4, ..., seq.25 (dropout, conv, relu triples) as the
    original. `width` scales the 96/192 channel counts for small runs (1.0: the paper).
    `fanout`: "exact" maps or the "paper"'s constants 864, 432, 1728, 1728, 432, 1728,
    192, 10 and 1 for the output ReLU (the original counts output spikes once)."""

    PAPER_OUTPUT_FANOUT = 1

    def __init__(self, quantize: bool = False, dropout_rate=(0.2, 0.1),
                 last_layer_relu: bool = True, width: float = 1.0, fanout: str = "exact",
                 revive_output: bool = True):
        super().__init__()
        narrow, wide = max(1, round(96 * width)), max(1, round(192 * width))
        # (out channels, kernel, stride)
        plan = [(narrow, 3, 1), (narrow, 3, 1), (wide, 3, 2), (wide, 3, 1), (wide, 3, 1),
                (wide, 3, 2), (wide, 3, 1), (wide, 1, 1), (10, 1, 1)]
        layers, channels = [], 3
        for index, (out, kernel, stride) in enumerate(plan):
            layers.append(nn.Dropout2d(dropout_rate[0] if index == 0 else dropout_rate[1]))
            layers.append(nn.Conv2d(channels, out, kernel, stride=stride, padding=kernel // 2,
                                    bias=False))
            if index + 1 < len(plan) or last_layer_relu:
                layers.append(NeuromorphicReLU(quantize=quantize,
                                               revive=revive_output and index + 1 == len(plan)))
            channels = out
        layers += [SumPool2d(8), nn.Flatten()]
        self.seq = nn.Sequential(*layers)
        # Kaiming-normal and nothing else, as the original. A readout started 8x smaller
        # (to offset the 8x8 sum pooling's gain on the initial logits) kept the
        # full-width network at chance: Adam moves every weight by about lr per step, so
        # a small readout changes fast relative to its size while the backpropagated
        # signal to every hidden layer is 8x weaker (measured: README, "Initialisation").
        for layer in self.seq:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        self.width, self.dropout_rate = width, tuple(dropout_rate)
        self.fanout_summary = assign_fanout(self, CIFAR10_INPUT, fanout,
                                            output_fanout=self.PAPER_OUTPUT_FANOUT)

    def forward(self, data):
        return self.seq(data)

    @staticmethod
    def width_of(state: dict) -> float:
        """The `width` a state dict was trained at, from its first convolution's output
        channels (96 at width 1), so that a checkpoint loads without its training log."""
        if "seq.1.weight" not in state or "seq.7.weight" not in state:
            raise ValueError("not a CIFAR10AnalogueClassifier state dict (no seq.1.weight "
                             "or seq.7.weight)")
        narrow, wide = state["seq.1.weight"].shape[0], state["seq.7.weight"].shape[0]
        for width in (narrow / 96, wide / 192):  # channel counts are rounded: try both
            if max(1, round(96 * width)) == narrow and max(1, round(192 * width)) == wide:
                return width
        raise ValueError(f"{narrow} and {wide} channels fit no width of this network")


def set_quantize(model: nn.Module, quantize: bool) -> nn.Module:
    """Switch every NeuromorphicReLU / QuantizeLayer of `model` to `quantize`."""
    for layer in model.modules():
        if isinstance(layer, (NeuromorphicReLU, QuantizeLayer)):
            layer.quantize = quantize
    return model


def first_weight_layer(model: nn.Module) -> nn.Module:
    """The first convolution or linear layer: the one whose weights scale the input
    (weight scaling, and the CIFAR-10 input gain). Its index differs between the networks
    (MNIST-DVS starts with an input ReLU, CIFAR-10 with dropout), so it is found, not typed."""
    for layer in flatten_layers(model):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            return layer
    raise ValueError(f"{type(model).__name__} has no convolution or linear layer")


@torch.no_grad()
def scale_first_layer(model: nn.Module, scale: float) -> nn.Module:
    """Multiply the first weight layer's weights by `scale` (in place; returns `model`)."""
    first_weight_layer(model).weight.mul_(scale)
    return model

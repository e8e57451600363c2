"""synoploss: train spiking CNNs that spend fewer synaptic operations.

Quantization-aware training and a SynOp loss for analog CNNs that are converted to
integrate-and-fire networks with sinabs (Sorbaro, Liu, Bortone & Sheik, Front.
Neurosci. 2020). The method is at the top (quantize, synops, loss, graph, models,
normalization); spiking/, hardware/, experiments/, reporting/ and data/ hold the rest
(docs/ARCHITECTURE.md).
"""
from .loss import SynOpLoss, synop_loss
from .quantize import NeuromorphicReLU, Quantize, QuantizeLayer, StochasticRounding, SumPool2d
from .synops import SynOpCounter, assign_fanout, count_macs

__version__ = "0.1.0"
__all__ = ["NeuromorphicReLU", "Quantize", "QuantizeLayer", "StochasticRounding", "SumPool2d",
           "SynOpCounter", "assign_fanout", "count_macs", "SynOpLoss", "synop_loss"]

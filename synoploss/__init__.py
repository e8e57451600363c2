"""synoploss: train spiking CNNs that spend fewer synaptic operations.

Quantization-aware training and a SynOp loss for analog CNNs that are converted to
integrate-and-fire networks with sinabs (Sorbaro, Liu, Bortone & Sheik, Front.
Neurosci. 2020). Submodules: quantize, synops, loss, spiking, and the data helpers.
"""
from .loss import SynOpLoss
from .quantize import NeuromorphicReLU, Quantize, QuantizeLayer, StochasticRounding, SumPool2d
from .synops import SynOpCounter, assign_fanout, count_macs

__version__ = "0.1.0"
__all__ = ["NeuromorphicReLU", "Quantize", "QuantizeLayer", "StochasticRounding", "SumPool2d",
           "SynOpCounter", "assign_fanout", "count_macs", "SynOpLoss"]

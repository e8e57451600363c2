"""Energy per inference from what sinabs measures: SynOps times a chip's energy per
synaptic operation, plus, where the first layer receives analog values (CIFAR-10, MNIST),
that layer's multiply-accumulates at every time step times an energy per MAC.

Synaptic operations only: static power, routing, spike generation and memory traffic are
not counted, so these are lower bounds for comparing networks on one chip, not a chip's
measured power. The figures are those reported by the chips' authors (the paper's
discussion, Sorbaro et al. 2020).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

# 45 nm CMOS, 32-bit float multiply-add (Horowitz, ISSCC 2014): the cost of one MAC of a
# digital first layer that receives analog input
MAC_PJ_45NM = 4.6


@dataclass(frozen=True)
class EnergyModel:
    """Energy per synaptic operation (and per MAC of an analog-input first layer)."""
    name: str
    pj_per_synop: float
    source: str
    pj_per_mac: float = MAC_PJ_45NM
    label: str = ""  # how figures name it (default: name)

    def __post_init__(self):
        if not self.pj_per_synop > 0 or not self.pj_per_mac >= 0:
            raise ValueError(f"energy model {self.name}: need pJ per SynOp > 0 and pJ per "
                             f"MAC >= 0, got {self.pj_per_synop} and {self.pj_per_mac}")

    def energy_pj(self, synops: float, input_macs: float = 0.0) -> float:
        """Energy per inference in pJ: SynOps x pJ/SynOp + input MACs x pJ/MAC."""
        return synops * self.pj_per_synop + input_macs * self.pj_per_mac


ENERGY_MODELS = {model.name: model for model in (
    EnergyModel("loihi", 23.6, "Davies et al. 2018, IEEE Micro 38(1)", label="Loihi"),
    EnergyModel("truenorth", 2.5, "Merolla et al. 2014, Science 345(6197)", label="TrueNorth"),
    EnergyModel("spinnaker", 45.0, "Stromatias et al. 2013, IJCNN", label="SpiNNaker"),
    EnergyModel("spinnaker2", 10.0, "Hoeppner et al. 2017, ISCAS (prototype)",
                label="SpiNNaker2"),
    EnergyModel("tianjic", 1.54, "Pei et al. 2019, Nature 572", label="Tianjic"),
)}
DEFAULT_ENERGY_MODEL = "loihi"


def energy_model(spec: str) -> EnergyModel:
    """A model by name (see ENERGY_MODELS), or explicit values "PJ_PER_SYNOP" or
    "PJ_PER_SYNOP,PJ_PER_MAC" (e.g. "12.5" or "12.5,0.9"). ValueError otherwise, naming
    the choices. Usable as an argparse type."""
    key = str(spec).strip().lower()
    if key in ENERGY_MODELS:
        return ENERGY_MODELS[key]
    try:
        values = [float(part) for part in key.split(",")]
    except ValueError:
        values = []
    if len(values) in (1, 2):
        return EnergyModel(f"{values[0]:g}pJ", values[0], "given on the command line",
                           *(values[1:] or [MAC_PJ_45NM]))
    raise ValueError(f"energy model {spec!r}: one of {', '.join(ENERGY_MODELS)}, or "
                     "PJ_PER_SYNOP[,PJ_PER_MAC]")


def energy_columns(model: EnergyModel, synops: float, input_macs: float = 0.0) -> dict:
    """The energy columns of a spiking results row: model, its pJ values, input MACs and
    the energy per inference in µJ."""
    return dict(energy_model=model.name, pj_per_synop=model.pj_per_synop,
                pj_per_mac=model.pj_per_mac, input_macs=float(input_macs),
                energy_uj=model.energy_pj(synops, input_macs) / 1e6)


def _energy_model_flag(spec: str) -> EnergyModel:
    # argparse shows an ArgumentTypeError's message; a ValueError only as "invalid value"
    try:
        return energy_model(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_energy_flag(parser) -> None:
    """--energy_model for a script that writes or reports spiking results."""
    parser.add_argument("--energy_model", type=_energy_model_flag, default=DEFAULT_ENERGY_MODEL,
                        help="energy per SynOp for the energy_uj column: "
                             f"{', '.join(ENERGY_MODELS)} (default {DEFAULT_ENERGY_MODEL}), or "
                             "PJ_PER_SYNOP[,PJ_PER_MAC]")

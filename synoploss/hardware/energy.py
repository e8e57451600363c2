"""Energy per inference from what the simulators measure: the dynamic part, SynOps times a
chip's energy per synaptic operation, plus, where the first layer receives analog values
(CIFAR-10, MNIST), that layer's multiply-accumulates at every time step times an energy
per MAC; and, for a chip whose idle power is published, the static part: that power times
the time one inference occupies the chip.

The per-SynOp figures are those reported by the chips' authors (the paper's discussion,
Sorbaro et al. 2020); none of those chips' papers gives an idle power for a comparable
setting, so those models have no static term (their energy is a lower bound for comparing
networks on one chip: routing, spike generation and memory traffic are not counted).
Speck (`speck`, `speck_nodvs`): the Speck2f devkit's idle power, measured on its five
power tracks in sinabs' power-monitoring notebook (synsense/sinabs,
docs/speck/notebooks/power_monitoring.ipynb, "Monitor the idle power": IO 61.7 µW, RAM
51.7 µW, logic 367.0 µW, DVS pixel digital 78.9 µW, pixel analog 610.9 µW): 1.17 mW
with the DVS pixel rails, 0.48 mW without. Speck's energy per SynOp is not published in a
source we could cite: these models count the static part only unless one is given
(`speck,PJ_PER_SYNOP`), and say so in their source.

The time of one inference: in real-time operation, the span of the chunk's events in the
stream (the chip is busy, and idle, for as long as the events take to arrive); for a
static input (CIFAR-10, MNIST) a latency the user gives (--latency).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

# 45 nm CMOS, 32-bit float multiply-add (Horowitz, ISSCC 2014): the cost of one MAC of a
# digital first layer that receives analog input
MAC_PJ_45NM = 4.6


@dataclass(frozen=True)
class EnergyModel:
    """Energy per synaptic operation (and per MAC of an analog-input first layer), and the
    chip's static (idle) power where it is published (`static_mw`, 0: no static term).

    Args:
        name: how flags and result rows name it.
        pj_per_synop: the dynamic energy of one SynOp, pJ (0: not known, not counted).
        source: where the numbers come from.
        pj_per_mac: the energy of one MAC of an analog-input first layer, pJ.
        label: how figures name it (default: name).
        static_mw: idle power in mW, counted for the time an inference takes.
    """
    name: str
    pj_per_synop: float
    source: str
    pj_per_mac: float = MAC_PJ_45NM
    label: str = ""
    static_mw: float = 0.0

    def __post_init__(self):
        # pJ per SynOp may be 0 (not known) only where a static power is counted instead
        least = 0.0 if self.static_mw > 0 else None
        if not (self.pj_per_synop > 0 or self.pj_per_synop == least) or \
                not self.pj_per_mac >= 0 or not self.static_mw >= 0:
            raise ValueError(f"energy model {self.name}: need pJ per SynOp > 0 (or 0 with a "
                             f"static power), pJ per MAC >= 0 and static power >= 0; got "
                             f"{self.pj_per_synop}, {self.pj_per_mac} and {self.static_mw}")

    def energy_pj(self, synops: float, input_macs: float = 0.0) -> float:
        """The dynamic energy per inference in pJ: SynOps x pJ/SynOp + input MACs x pJ/MAC."""
        return synops * self.pj_per_synop + input_macs * self.pj_per_mac

    def static_pj(self, seconds: float) -> float:
        """The static energy of an inference that occupies the chip for `seconds`, pJ."""
        return self.static_mw * 1e9 * seconds


NO_STATIC = "; no static term"
SPECK_SOURCE = ("idle power: the Speck2f devkit's power tracks in sinabs' power-monitoring "
                "notebook (docs/speck/notebooks/power_monitoring.ipynb)")
NO_SPECK_PJ = "; energy per SynOp not published: not counted (give speck,PJ_PER_SYNOP)"
ENERGY_MODELS = {model.name: model for model in (
    EnergyModel("loihi", 23.6, "Davies et al. 2018, IEEE Micro 38(1)" + NO_STATIC,
                label="Loihi"),
    EnergyModel("truenorth", 2.5, "Merolla et al. 2014, Science 345(6197)" + NO_STATIC,
                label="TrueNorth"),
    EnergyModel("spinnaker", 45.0, "Stromatias et al. 2013, IJCNN" + NO_STATIC,
                label="SpiNNaker"),
    EnergyModel("spinnaker2", 10.0, "Hoeppner et al. 2017, ISCAS (prototype)" + NO_STATIC,
                label="SpiNNaker2"),
    EnergyModel("tianjic", 1.54, "Pei et al. 2019, Nature 572" + NO_STATIC, label="Tianjic"),
    # IO + RAM + logic + DVS pixel digital + pixel analog; without the two pixel rails
    EnergyModel("speck", 0.0, SPECK_SOURCE + ", with the DVS pixel rails" + NO_SPECK_PJ,
                label="Speck", static_mw=1.170),
    EnergyModel("speck_nodvs", 0.0, SPECK_SOURCE + ", without the DVS pixel rails"
                + NO_SPECK_PJ, label="Speck (no DVS)", static_mw=0.480),
)}
DEFAULT_ENERGY_MODEL = "loihi"


def energy_model(spec: str) -> EnergyModel:
    """A model by name (see ENERGY_MODELS), a Speck model with its energy per SynOp
    ("speck,PJ_PER_SYNOP"), or explicit values "PJ_PER_SYNOP" or "PJ_PER_SYNOP,PJ_PER_MAC"
    (e.g. "12.5" or "12.5,0.9"). ValueError otherwise, naming the choices. Usable as an
    argparse type."""
    key = str(spec).strip().lower()
    if key in ENERGY_MODELS:
        return ENERGY_MODELS[key]
    name, _, rest = key.partition(",")
    if name in ENERGY_MODELS and ENERGY_MODELS[name].static_mw > 0:
        try:
            given = float(rest)
        except ValueError:
            given = -1.0
        if given > 0:
            chip = ENERGY_MODELS[name]
            return EnergyModel(f"{name},{given:g}", given, chip.source.replace(
                NO_SPECK_PJ, f"; {given:g} pJ per SynOp given on the command line"),
                chip.pj_per_mac, chip.label, chip.static_mw)
    try:
        values = [float(part) for part in key.split(",")]
    except ValueError:
        values = []
    if len(values) in (1, 2):
        return EnergyModel(f"{values[0]:g}pJ", values[0], "given on the command line"
                           + NO_STATIC, *(values[1:] or [MAC_PJ_45NM]))
    raise ValueError(f"energy model {spec!r}: one of {', '.join(ENERGY_MODELS)}, "
                     "speck,PJ_PER_SYNOP, or PJ_PER_SYNOP[,PJ_PER_MAC]")


def energy_columns(model: EnergyModel, synops: float, input_macs: float = 0.0,
                   seconds: float | None = None) -> dict:
    """The energy columns of a spiking results row, per inference: the model and its
    values, the input MACs, the dynamic part (energy_dynamic_uj), the static part
    (energy_static_uj: static_mw for `seconds`, the time one inference occupies the chip;
    0 for a model without a static term) and their sum (energy_uj), in µJ.

    Raises:
        ValueError: a model with a static term and no `seconds`.
    """
    if model.static_mw > 0 and seconds is None:
        raise ValueError(f"--energy_model {model.name} counts the chip's idle power for the "
                         "time an inference takes: give that time (--latency SECONDS)")
    dynamic = model.energy_pj(synops, input_macs) / 1e6
    static = model.static_pj(seconds) / 1e6 if model.static_mw > 0 else 0.0
    return dict(energy_model=model.name, pj_per_synop=model.pj_per_synop,
                pj_per_mac=model.pj_per_mac, static_mw=model.static_mw,
                energy_seconds=seconds if model.static_mw > 0 else None,
                input_macs=float(input_macs), energy_dynamic_uj=dynamic,
                energy_static_uj=static, energy_uj=dynamic + static)


def _energy_model_flag(spec: str) -> EnergyModel:
    # argparse shows an ArgumentTypeError's message; a ValueError only as "invalid value"
    try:
        return energy_model(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_energy_flag(parser, latency: bool = False) -> None:
    """--energy_model for a script that writes or reports spiking results; with `latency`,
    --latency too (the time an inference takes, for a model's static power)."""
    parser.add_argument("--energy_model", type=_energy_model_flag, default=DEFAULT_ENERGY_MODEL,
                        help="the energy_* columns: "
                             f"{', '.join(ENERGY_MODELS)} (default {DEFAULT_ENERGY_MODEL}; "
                             "speck and speck_nodvs: the chip's idle power for the time of an "
                             "inference, and its energy per SynOp if given as "
                             "speck,PJ_PER_SYNOP), or PJ_PER_SYNOP[,PJ_PER_MAC]; the sources: "
                             "docs/energy_nir.md")
    if latency:
        parser.add_argument("--latency", type=_positive_seconds, default=None,
                            metavar="SECONDS",
                            help="the time one inference occupies the chip, for a model's "
                                 "static power (default: each chunk's span in the stream; a "
                                 "static input has none, so give it)")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a time in seconds > 0")
    return value

"""The CIFAR-10 protocol's rounds as a schedule the training loop asks, so that the
schedule and resuming it are tested without training anything.

Round -1 trains the plain network; rounds 0, 1, ... retrain it with quantization-aware
training, and (from round 1, or from round 0 with `first_round_synop_loss`) the SynOp
loss towards a target: round 0's is the plain network's multiply-accumulates without the
input layer, each later round's the previous round's estimated SynOps (on the test
set); from round `decay_from_round` on, the target is multiplied by `target_decay`.
Round 0 starts from the plain network's weights, its first layer multiplied by
`round0_scale` (a number, or "auto": the original's w_scale, MACs / the plain network's
estimated SynOps x 8, which the original computes but does not apply).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoundSchedule:
    n_rounds: int = 31
    target_decay: float = 0.7
    decay_from_round: int = 17
    first_round_synop_loss: bool = False
    round0_scale: float | str = 1.0

    def __post_init__(self):
        if self.n_rounds < 0:
            raise ValueError(f"n_rounds must be >= 0, got {self.n_rounds}")
        if not self.target_decay > 0:
            raise ValueError(f"target_decay must be > 0, got {self.target_decay}")
        if self.round0_scale != "auto" and not float(self.round0_scale) > 0:
            raise ValueError(f"round0_scale must be > 0 or 'auto', got {self.round0_scale!r}")

    @property
    def rounds(self) -> range:
        """-1 (the plain network), then 0 .. n_rounds - 1."""
        return range(-1, self.n_rounds)

    def quantized(self, round_index: int) -> bool:
        return round_index >= 0

    def uses_loss(self, round_index: int) -> bool:
        return round_index > 0 or (round_index == 0 and self.first_round_synop_loss)

    def decay(self, round_index: int) -> float:
        return self.target_decay if round_index >= self.decay_from_round else 1.0

    def target(self, round_index: int, previous_synops: float | None, macs: float) -> float | None:
        """The SynOp target of a round (None for the plain network): round 0 aims at the
        MACs, each later round at the previous round's SynOps, decayed from
        decay_from_round on."""
        if round_index < 0:
            return None
        if round_index == 0:
            base = macs
        else:
            if previous_synops is None or not previous_synops > 0:
                raise ValueError(f"round {round_index} needs round {round_index - 1}'s estimated "
                                 f"SynOps, got {previous_synops}")
            base = previous_synops
        return float(base) * self.decay(round_index)

    def start_scale(self, round_index: int, macs: float, plain_synops: float | None) -> float:
        """The first-layer factor a round starts with: round0_scale for round 0, else 1."""
        if round_index != 0:
            return 1.0
        if self.round0_scale != "auto":
            return float(self.round0_scale)
        if plain_synops is None or not plain_synops > 0:
            raise ValueError("--round0_scale auto needs the plain network's estimated SynOps, "
                             f"got {plain_synops}")
        return macs / plain_synops * 8

"""Spiking networks: conversion with sinabs (`to_spiking`) and two simulators that give
the same spikes, sinabs itself (the paper's) and the exact fast simulator (`fast`).

- `convert`: `to_spiking`, `StaticInputBatches` (a static input as a constant current);
- `result`: what both simulators return (`BatchResult`, `SpikingResult`);
- `sinabs_run`: sinabs as the simulator, SynOps per sample from sinabs' own hooks;
- `fast`: the fast simulator (a CPU engine in numba, a CUDA engine in torch and Triton);
- `evaluate`: `Simulation` (one batch at a time, either simulator) and `evaluate` (a
  test set), the only module that knows both.
"""
from .convert import SPIKE_FUNCTIONS, StaticInputBatches, spiking_layers, to_spiking
from .evaluate import Simulation, evaluate
from .fast.plan import UnsupportedNetwork
from .result import DEFAULT_SIMULATOR, SIMULATORS, BatchResult, SpikingResult

__all__ = ["DEFAULT_SIMULATOR", "SIMULATORS", "SPIKE_FUNCTIONS", "BatchResult", "Simulation",
           "SpikingResult", "StaticInputBatches", "UnsupportedNetwork", "evaluate",
           "spiking_layers", "to_spiking"]

"""The paper's figures from the experiments' CSV/NPZ outputs (used by GeneratePlots.ipynb).

Every function reads only result files, raises FileNotFoundError (with the path) when
they are missing, names the data (STAND-IN when it is one) and the evaluation in its
title, draws 95% error bars where numbers are compared, and saves PNG and PDF.
Figures are matplotlib `Figure` objects, not pyplot's: importing this module changes no
backend or other global state of the user's matplotlib.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from ..experiments.workdir import (
    BASELINE_CURVE,
    SPIKING_CURVES,
    TRAINED_CURVES,
    WEIGHT_SCALING_CURVE,
    Workdir,
    evaluation_label,
)
from ..hardware.energy import ENERGY_MODELS, MAC_PJ_45NM
from ..io import load_npz, normal
from .readers import (
    MixedResults,
    choose_evaluation,
    read_results,
    read_spiking_results,
    select_evaluation,
)

# CIFAR-10 reference points taken from the papers (accuracy %, SynOps in millions).
CIFAR_LITERATURE = [
    ("Sengupta et al. 2019", 91.55, 618.0),
    ("Rueckauer et al. 2017", 84.87, 460.0),
]
CIFAR_PAPER_POINTS = [  # Sorbaro et al. 2020, spiking, SynOp+QAT (accuracy %, MSynOps)
    (91.75, 2179.0), (91.47, 368.0), (91.43, 277.0), (90.37, 127.0), (85.71, 64.0)]
CIFAR_PAPER_WEIGHT_SCALING = (90.70, 3025.0)
COLOURS = {"SynOp+QAT": "C0", "SynOp": "C1", "weight scaling": "C2",
           "Rueckauer normalisation": "C4", "baseline": "k"}


# every figure function and the file name (PNG and PDF) it writes
FIGURE_NAMES = {"mnist_dvs_data": "mnist_dvs_data",
                "mnist_dvs_analog": "mnist_dvs_analog_accuracy_synops",
                "mnist_dvs_targets": "mnist_dvs_targets", "mnist_dvs_spiking": "mnist_dvs_spiking",
                "mnist_dvs_estimate_vs_measured": "mnist_dvs_estimate_vs_measured",
                "cifar10": "cifar10_spiking", "mnist_quant_only": "mnist_quant_only",
                "energy": "energy"}


def draw(function, *arguments, figure_dir):
    """Draw one figure: (paths, None), or ([], why) when its results are missing or
    unusable. A figure is replaced only once it is drawn; one that cannot be drawn now
    has its files from an earlier run removed, so that it never stays behind looking
    current."""
    name = FIGURE_NAMES[function.__name__]
    try:
        return function(*arguments, figure_dir), None
    except (FileNotFoundError, ValueError, IndexError, MixedResults) as error:
        problem = str(error)
    except KeyError as error:
        problem = f"a results file lacks the column {error}"
    for suffix in (".png", ".pdf"):
        (Path(figure_dir) / f"{name}{suffix}").unlink(missing_ok=True)
    return [], problem


def log_x(ax) -> None:
    """Log x axis whose labels do not collide: when the data cross one decade, matplotlib
    labels the minor ticks at 2, 3, 4 and 6 x 10^n, and 3 and 4 x 10^n overlap at these
    figures' widths; minor ticks (and labels) at 2 and 4 x 10^n only."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 4.0)))


def _data_note(frame: pd.DataFrame) -> str:
    """The data's description for a title: every description the rows hold (two would be
    refused before drawing; see results.read_spiking_results)."""
    if "data" not in frame:
        return ""
    descriptions = sorted({str(value) for value in frame["data"].dropna()})
    if len(descriptions) > 1:
        raise MixedResults(f"rows of {len(descriptions)} data sets in one figure: "
                           f"{'; '.join(descriptions)}")
    return "\n" + descriptions[0] if descriptions else ""


def _errors(frame: pd.DataFrame, column: str, scale: float = 1.0):
    """Asymmetric error bars (2, n) from <column>_low/_high, or None without them."""
    low, high = f"{column}_low", f"{column}_high"
    if low not in frame or high not in frame:
        return None
    values = frame[column].to_numpy(dtype=float)
    lows = pd.to_numeric(frame[low], errors="coerce").to_numpy(dtype=float)
    highs = pd.to_numeric(frame[high], errors="coerce").to_numpy(dtype=float)
    if np.isnan(lows).all():
        return None
    return np.abs(np.stack([values - lows, highs - values])) * scale


def _seeds(frame: pd.DataFrame) -> dict:
    """{seed: rows} (seed 1 where the column is absent)."""
    seeds = frame["seed"].map(lambda value: normal(value) or 1.0) if "seed" in frame \
        else pd.Series(1.0, index=frame.index)
    return {int(seed): frame[seeds == seed] for seed in sorted(seeds.unique())}


def save(fig, figure_dir, name) -> list[Path]:
    """PNG and PDF, each written to a temporary name first and then renamed."""
    figure_dir = Path(figure_dir)
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = [figure_dir / f"{name}.png", figure_dir / f"{name}.pdf"]
    fig.tight_layout()
    for path in paths:
        temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
        fig.savefig(temporary, dpi=120)
        os.replace(temporary, path)
    return paths


# ---------------------------------------------------------------- MNIST-DVS
def mnist_dvs_data(data_dir, figure_dir, dt_us=1000, strip=8):
    samples = sorted((Path(data_dir) / "test").glob("*.npz"))
    if not samples:
        raise FileNotFoundError(f"{Path(data_dir) / 'test'} has no samples")
    info = Path(data_dir) / "dataset_info.json"
    title = info.read_text() if info.is_file() else ""
    sample = load_npz(samples[0], ("frame", "spiketrain", "label"), "a converted sample",
                      "convert the data again (generate_DV4_dataset.py --overwrite)")
    frame, spiketrain, label = sample["frame"], sample["spiketrain"], int(sample["label"])
    standin = "STAND-IN" in title
    fig = Figure(figsize=(10, 5.5))
    top = fig.add_gridspec(2, strip, height_ratios=[2.2, 1])
    ax = fig.add_subplot(top[0, :strip // 2])
    ax.imshow(frame, cmap="gray_r")
    ax.set_title(f"accumulated frame, {len(spiketrain)} events (label {label})")
    ax.axis("off")
    ax = fig.add_subplot(top[0, strip // 2:], projection="3d")
    times = spiketrain["t"] / 1000
    colours = np.where(spiketrain["p"], "C3", "C0")
    ax.scatter(spiketrain["x"], times, -spiketrain["y"].astype(int), s=0.5, c=colours)
    ax.set_xlabel("x"), ax.set_ylabel("time (ms)"), ax.set_zlabel("y")
    ax.set_title("its events (red ON, blue OFF)")
    bins = (spiketrain["t"] // dt_us).astype(int)
    for step in range(strip):
        ax = fig.add_subplot(top[1, step])
        image = np.zeros_like(frame)
        chosen = spiketrain[bins == step]
        np.add.at(image, (chosen["y"].astype(int), chosen["x"].astype(int)), 1)
        ax.imshow(image, cmap="gray_r")
        ax.set_title(f"{step}-{step + 1} ms", fontsize=8)
        ax.axis("off")
    fig.suptitle("MNIST-DVS sample" + ("  (STAND-IN: emulated DVS recording)" if standin else ""))
    return save(fig, figure_dir, "mnist_dvs_data")


def fanout_label(frame: pd.DataFrame) -> str:
    """The legend title naming the fan-outs the SynOp estimates used (the `fanout` column
    of every results file; files written before it existed used exact maps)."""
    modes = sorted(frame["fanout"].dropna().astype(str).unique()) if "fanout" in frame else []
    return f"fan-outs: {', '.join(modes) or 'exact'}"


def mnist_dvs_analog(workdir, figure_dir):
    """activity-accuracy.py's results: the four curves tested quantized (the paper's
    figure) and tested as analog networks."""
    results = read_results(Workdir(workdir).activity_accuracy,
                           required=["curve", "quantize_test", "ann_accuracy", "ann_synops"])
    fig = Figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    quantized = results["quantize_test"].astype(str) == "True"
    for ax, chosen, how in ((axes[0], quantized, "quantized"), (axes[1], ~quantized, "analog")):
        rows = results[chosen]
        if rows.empty:
            flag = " --quantize_testing" if how == "quantized" else ""
            ax.text(0.5, 0.5, f"no {how} tests (activity-accuracy.py{flag})", ha="center",
                    transform=ax.transAxes)
        for label in (*TRAINED_CURVES, WEIGHT_SCALING_CURVE):
            for seed, curve in _seeds(rows[rows["curve"] == label]).items():
                curve = curve.sort_values("ann_synops")
                ax.errorbar(curve["ann_synops"], curve["ann_accuracy"] * 100,
                            yerr=_errors(curve, "ann_accuracy", 100), capsize=2,
                            fmt="s-" if label == WEIGHT_SCALING_CURVE else "o-",
                            label=label if seed == min(_seeds(rows).keys()) else None,
                            color=COLOURS[label], alpha=1.0 if seed == 1 else 0.5)
        base = rows[rows["curve"] == BASELINE_CURVE]
        if len(base):
            ax.plot(base["ann_synops"], base["ann_accuracy"] * 100, "*", ms=15, color="k",
                    label="no penalty")
            ax.legend(title=fanout_label(rows), fontsize=8, title_fontsize=8)
        log_x(ax), ax.set_xlabel("estimated SynOps per sample")
        ax.set_title(f"tested {how}" + (" (the paper's figure)" if how == "quantized" else ""),
                     fontsize=9)
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle("MNIST-DVS, analog networks" + _data_note(results), fontsize=9)
    return save(fig, figure_dir, "mnist_dvs_analog_accuracy_synops")


def mnist_dvs_targets(workdir, figure_dir):
    log = read_results(Workdir(workdir).training_log)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    for label in TRAINED_CURVES:
        name = SPIKING_CURVES[label]
        rows = log[(log["name"] == name) & log["target"].notna()].sort_values("target")
        left.plot(rows["target"], rows["test_accuracy"] * 100, "o-", label=label,
                  color=COLOURS[label])
        right.plot(rows["target"], rows["estimated_synops"], "o-", label=label,
                   color=COLOURS[label])
    targets = log["target"].dropna()
    if len(targets):
        span = [targets.min(), targets.max()]
        right.plot(span, span, "k--", lw=1, label="identity")
    for ax in (left, right):
        log_x(ax), ax.set_xlabel("SynOp target per sample")
        ax.legend(title=fanout_label(log), fontsize=8, title_fontsize=8)
    left.set_ylabel("analog test accuracy (%)")
    right.set_yscale("log"), right.set_ylabel("estimated SynOps per sample")
    fig.suptitle("MNIST-DVS: the SynOp loss follows its target" + _data_note(log), fontsize=9)
    return save(fig, figure_dir, "mnist_dvs_targets")


def mnist_dvs_spiking(workdir, figure_dir):
    """Spiking accuracy against measured SynOps, with 95% error bars (Wilson intervals in
    accuracy, t intervals in SynOps), one curve per training seed; per-layer SynOps and
    accuracy of the baseline and the selected model (optimization_benchmarking.py)."""
    files = Workdir(workdir)
    results = read_spiking_results(workdir)
    fig = Figure(figsize=(14, 4.2))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 1.4, 0.8]})
    ax = axes[0]
    for label, frame in results.curves.items():
        for seed, rows in _seeds(frame).items():
            rows = rows.sort_values("snn_synops")
            ax.errorbar(rows["snn_synops"], rows["snn_accuracy"] * 100,
                        xerr=_errors(rows, "snn_synops"), yerr=_errors(rows, "snn_accuracy", 100),
                        fmt="o-", capsize=2, color=COLOURS[label], alpha=1.0 if seed == 1 else 0.5,
                        label=label if seed == min(_seeds(frame)) else None)
    for seed, rows in _seeds(results.baseline).items():
        ax.errorbar(rows["snn_synops"], rows["snn_accuracy"] * 100,
                    xerr=_errors(rows, "snn_synops"), yerr=_errors(rows, "snn_accuracy", 100),
                    fmt="*", ms=15, color="k", capsize=2,
                    label="no penalty" if seed == min(_seeds(results.baseline)) else None)
    log_x(ax), ax.set_xlabel("SynOps per sample (measured on the spiking network)")
    ax.set_ylabel("spiking test accuracy (%)")
    seeds = sorted(_seeds(results.baseline))
    fanouts = pd.concat([results.baseline, *results.curves.values()])
    ax.legend(fontsize=8, title=f"analog estimates' {fanout_label(fanouts)}; "
              f"seed(s) {', '.join(map(str, seeds))}; 95% intervals", title_fontsize=7)
    ax.set_title(f"MNIST-DVS, spiking networks ({results.label})"
                 + _data_note(results.baseline), fontsize=9)
    benchmark = files.opt_benchmark
    if benchmark.is_file():
        saved = load_npz(benchmark, ("layer_names", "baseline_activity", "optimized_activity",
                                     "baseline_accuracy", "optimized_accuracy"),
                         "the optimisation benchmark", "run optimization_benchmarking.py again")
        names = [str(n) for n in saved["layer_names"]]
        positions = np.arange(len(names))
        axes[1].bar(positions - 0.2, saved["baseline_activity"], 0.4, label="no penalty",
                    color="0.5")
        axes[1].bar(positions + 0.2, saved["optimized_activity"], 0.4, label="optimised",
                    color="C0")
        axes[1].set_xticks(positions, names, rotation=30, fontsize=8)
        axes[1].set_ylabel("SynOps per sample"), axes[1].legend(fontsize=8)
        axes[1].set_title("per layer", fontsize=9)
        axes[2].bar([0, 1], [saved["baseline_accuracy"] * 100,
                             saved["optimized_accuracy"] * 100],
                    color=["0.5", "C0"])
        axes[2].set_xticks([0, 1], ["no penalty", "optimised"], fontsize=8)
        axes[2].set_ylim(0, 100), axes[2].set_ylabel("spiking accuracy (%)")
    else:
        for ax in axes[1:]:
            ax.text(0.5, 0.5, "opt_benchmark.npz missing", ha="center", transform=ax.transAxes)
    return save(fig, figure_dir, "mnist_dvs_spiking")


def mnist_dvs_estimate_vs_measured(workdir, figure_dir):
    results = read_spiking_results(workdir, require_baseline=False)
    curves = results.curves
    if not curves:
        raise FileNotFoundError(f"{Workdir(workdir).results} has no *_spiking.csv")
    fig = Figure(figsize=(10, 4.3))
    left, right = fig.subplots(1, 2)
    limits = []
    for label, frame in curves.items():
        left.errorbar(frame["ann_synops"], frame["snn_synops"], yerr=_errors(frame, "snn_synops"),
                      fmt="o", capsize=2, label=label, color=COLOURS[label])
        right.errorbar(frame["ann_accuracy"] * 100, frame["snn_accuracy"] * 100,
                       xerr=_errors(frame, "ann_accuracy", 100),
                       yerr=_errors(frame, "snn_accuracy", 100), fmt="o", capsize=2,
                       label=label, color=COLOURS[label])
        limits += [frame["ann_synops"].min(), frame["snn_synops"].max()]
    left.plot([min(limits), max(limits)], [min(limits), max(limits)], "k--", lw=1)
    right.plot([0, 100], [0, 100], "k--", lw=1)
    log_x(left), left.set_yscale("log")
    left.set_xlabel("estimated SynOps (quantized analog)")
    left.set_ylabel("measured SynOps (spiking)")
    right.set_xlabel("analog accuracy (%)"), right.set_ylabel("spiking accuracy (%)")
    left.legend(fontsize=8, title=fanout_label(pd.concat(curves.values())), title_fontsize=8)
    frame = next(iter(curves.values()))
    fig.suptitle(f"MNIST-DVS: analog estimate against spiking measurement ({results.label})"
                 + _data_note(frame), fontsize=9)
    return save(fig, figure_dir, "mnist_dvs_estimate_vs_measured")


# ---------------------------------------------------------------- CIFAR-10
def cifar10(workdir, figure_dir):
    """Spiking accuracy against measured SynOps of the plain network's weight scaling and
    the SynOp+QAT rounds (one evaluation: the one with the most test images), with 95%
    error bars."""
    inference = read_results(Workdir(workdir).cifar_inference)
    evaluation = choose_evaluation([inference])
    inference = select_evaluation(inference, evaluation)
    standin = _data_note(inference)
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    plain = inference[inference["round"] < 0].sort_values("snn_synops")
    ax.errorbar(plain["snn_synops"] / 1e6, plain["snn_accuracy"] * 100,
                xerr=_errors(plain, "snn_synops", 1e-6), yerr=_errors(plain, "snn_accuracy", 100),
                fmt="s-", capsize=2, color=COLOURS["weight scaling"],
                label="weight scaling (plain network)")
    for scale, rows in inference[inference["round"] >= 0].groupby("weight_scale"):
        rows = rows.sort_values("snn_synops")
        ax.errorbar(rows["snn_synops"] / 1e6, rows["snn_accuracy"] * 100,
                    xerr=_errors(rows, "snn_synops", 1e-6), yerr=_errors(rows, "snn_accuracy", 100),
                    fmt="o-", capsize=2, label=f"SynOp+QAT rounds, first layer x{scale:g}")
    macs = "ann_macs" if "ann_macs" in inference else "macs"
    if len(plain) and macs in plain:
        ax.axvline(plain[macs].iloc[0] / 1e6, color="0.6", ls=":",
                   label="analog network MACs (no input layer)")
    # reference markers taken from the papers (full-width networks on the real CIFAR-10)
    for name, accuracy, synops in CIFAR_LITERATURE:
        ax.plot(synops, accuracy, "D", ms=8, label=f"{name} (from the paper)")
    ax.plot(*zip(*[(s, a) for a, s in CIFAR_PAPER_POINTS], strict=True), "x", color="k",
            label="Sorbaro et al. 2020 SynOp+QAT (from the paper)")
    ax.plot(CIFAR_PAPER_WEIGHT_SCALING[1], CIFAR_PAPER_WEIGHT_SCALING[0], "+", ms=10,
            color="k", label="Sorbaro et al. 2020 weight scaling (from the paper)")
    log_x(ax), ax.set_xlabel("SynOps per image (millions, measured on the spiking network)")
    ax.set_ylabel("spiking test accuracy (%)")
    ax.legend(fontsize=7, title=fanout_label(inference) + "; 95% intervals", title_fontsize=7)
    ax.set_title(f"CIFAR-10, spiking networks ({evaluation_label(evaluation)})" + standin +
                 ("\n(markers from the papers: real CIFAR-10, full-width networks; "
                  "not comparable)" if "STAND-IN" in standin else ""), fontsize=9)
    return save(fig, figure_dir, "cifar10_spiking")


# ---------------------------------------------------------------- MNIST, quantization only
def mnist_quant_only(workdir, figure_dir):
    files = Workdir(workdir)
    frames = {q: read_results(files.quant_eval_csv(q)) for q in (False, True)}
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    for qtrain, frame in frames.items():
        frame = frame.sort_values("scale")
        label = "QAT" if qtrain else "no QAT"
        colour = "C0" if qtrain else "C3"
        left.errorbar(frame["scale"], frame["ann_quantized_accuracy"] * 100,
                      yerr=_errors(frame, "ann_quantized_accuracy", 100), fmt="o-", capsize=2,
                      color=colour, label=f"{label}, tested quantized")
        left.errorbar(frame["scale"], frame["ann_accuracy"] * 100,
                      yerr=_errors(frame, "ann_accuracy", 100), fmt="o--", capsize=2,
                      color=colour, label=f"{label}, tested analog")
        spiking = files.quant_spiking_csv(qtrain)
        if spiking.is_file():
            snn = read_results(spiking)
            snn = select_evaluation(snn, choose_evaluation([snn])).sort_values("scale")
            right.errorbar(snn["scale"], snn["snn_accuracy"] * 100,
                           yerr=_errors(snn, "snn_accuracy", 100), fmt="o-", capsize=2,
                           color=colour, label=label)
    for ax in (left, right):
        ax.set_xlabel("input scale"), ax.set_ylabel("test accuracy (%)"), ax.legend(fontsize=8)
    left.set_title("analog networks", fontsize=9), right.set_title("spiking networks", fontsize=9)
    fig.suptitle("MNIST: quantization-aware training" + _data_note(frames[False]), fontsize=9)
    return save(fig, figure_dir, "mnist_quant_only")


# ---------------------------------------------------------------- energy
def energy(workdir, analog_macs: float, figure_dir):
    """Energy per inference of the MNIST-DVS baseline and optimised spiking networks on
    each chip (SynOps x energy per SynOp) beside the analog network's MACs at 45 nm."""
    saved = load_npz(Workdir(workdir).opt_benchmark, ("baseline_activity", "optimized_activity"),
                     "the optimisation benchmark", "run optimization_benchmarking.py (again)")
    synops = {"no penalty": float(saved["baseline_activity"].sum()),
              "optimised": float(saved["optimized_activity"].sum())}
    # the chips whose energy per SynOp is published; Speck's idle power needs the time of
    # an inference, not in this comparison of synaptic operations
    chips = [name for name, model in ENERGY_MODELS.items() if model.pj_per_synop > 0]
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    positions = np.arange(len(chips))
    for offset, (label, value) in zip((-0.2, 0.2), synops.items(), strict=True):
        ax.bar(positions + offset, [ENERGY_MODELS[c].energy_pj(value) / 1e6 for c in chips], 0.4,
               label=f"SNN, {label} ({value:.3g} SynOps)")
    ax.bar([len(chips)], [analog_macs * MAC_PJ_45NM / 1e6], 0.5, color="0.4",
           label=f"analog CNN, {analog_macs:.3g} MACs x {MAC_PJ_45NM:g} pJ (45 nm)")
    ax.set_xticks(list(positions) + [len(chips)],
                  [ENERGY_MODELS[c].label or c for c in chips] + ["CNN 45 nm"])
    ax.set_yscale("log"), ax.set_ylabel("energy per inference (µJ)"), ax.legend(fontsize=8)
    summary = read_spiking_results(workdir).baseline
    ax.set_title("MNIST-DVS: energy per inference, synaptic operations only"
                 + _data_note(summary), fontsize=9)
    return save(fig, figure_dir, "energy")

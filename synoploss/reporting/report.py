"""The results page, generated: `python -m synoploss.reporting.report RESULTS_FOLDER`
(`make report`) writes docs/results.md from a demo or study folder (its mnist_dvs/, cifar10/ and
mnist_quant_only*/ work folders), and the README's headline block from the same numbers.

Every number on the page comes from the folder's CSV and NPZ files through the same
readers and claim computations as summarize_results.py; nothing is typed. The page
names the machine, Python, torch, sinabs and numba versions and the command that made
the results (run_info.json, written by scripts/demo.sh's callers).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
from pathlib import Path
from typing import List

import pandas as pd

from ..experiments.workdir import Workdir, evaluation_label
from ..io import normal, read_csv
from ..stats import Interval
from . import neurobench_page
from .claims import (
    Analysis,
    BaselineSpread,
    Claim,
    cifar10_claims,
    mnist_dvs_analysis,
    mnist_dvs_claims,
    qat_claim,
)
from .readers import choose_evaluation, read_results, read_spiking_results, select_evaluation

HEADLINE_START, HEADLINE_END = "<!-- results:headline -->", "<!-- /results:headline -->"
FIGURES = ("mnist_dvs_spiking", "mnist_dvs_analog_accuracy_synops", "cifar10_spiking",
           "mnist_quant_only")


def percent(value) -> str:
    value = normal(value)
    return "-" if value is None else f"{value * 100:.1f}%"


def interval_percent(row, column) -> str:
    low, high = normal(row.get(f"{column}_low")), normal(row.get(f"{column}_high"))
    return "-" if low is None or high is None else f"[{low * 100:.1f}, {high * 100:.1f}]"


def number(value) -> str:
    value = normal(value)
    return "-" if value is None else f"{value:.3g}"


def interval_number(row, column) -> str:
    low, high = normal(row.get(f"{column}_low")), normal(row.get(f"{column}_high"))
    return "-" if low is None or high is None else f"[{low:.3g}, {high:.3g}]"


def table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def claims_table(claims: List[Claim]) -> str:
    rows = []
    for claim in claims:
        measured = claim.measured
        bounds = "-" if math.isnan(measured.low) else f"[{measured.low:.3g}, {measured.high:.3g}]"
        value = "-" if math.isnan(measured.value) else f"{measured.value:.3g}"
        rows.append([claim.name, claim.paper, value, bounds,
                     str(len(claim.per_seed)) if claim.per_seed else "-",
                     f"**{claim.verdict}**" + (f" ({claim.note})" if claim.note else "")])
    return table(["claim", "the paper", "measured", "95% interval", "seeds", "verdict"], rows)


def setting_of(label: str, row) -> str:
    """How a model of a curve is told from the others: its scale, level or target."""
    return (f"x{row['scale']:g}" if label == "weight scaling" else
            f"level {row['level']:g}" if normal(row.get("level")) is not None else
            f"target {row['target']:.3g}" if normal(row.get("target")) is not None else "")


def mnist_dvs_table(results) -> str:
    rows = []
    baselines = {int(normal(row.get("seed")) or 1): row
                 for row in results.baseline.to_dict("records")}
    for label, frame in [("baseline", results.baseline), *results.curves.items()]:
        for row in frame.to_dict("records"):
            seed = int(normal(row.get("seed")) or 1)
            setting = setting_of(label, row)
            base = baselines.get(seed)
            reduction = f"{base['snn_synops'] / row['snn_synops']:.2f}x" if base else "-"
            rows.append([label, setting, str(seed), percent(row["snn_accuracy"]),
                         interval_percent(row, "snn_accuracy"), number(row["snn_synops"]),
                         interval_number(row, "snn_synops"), number(row["ann_synops"]),
                         reduction])
    return table(["network", "setting", "seed", "SNN accuracy", "95%", "SNN SynOps / sample",
                  "95%", "analog estimate", "reduction vs its seed's baseline"], rows)


def bounds_text(interval: Interval) -> str:
    return "-" if math.isnan(interval.low) else f"[{interval.low:.3g}, {interval.high:.3g}]"


def with_bounds(interval: Interval) -> str:
    """One cell: the value and its interval."""
    bounds = bounds_text(interval)
    return f"{interval.value:.3g}" + ("" if bounds == "-" else f" {bounds}")


def percent_bounds(interval: Interval) -> str:
    return "-" if math.isnan(interval.low) else \
        f"[{interval.low * 100:.1f}, {interval.high * 100:.1f}]"


def baseline_spread_table(spread: BaselineSpread) -> str:
    rows = [[f"seed {seed}", number(spread.synops[seed].value), bounds_text(spread.synops[seed]),
             percent(spread.accuracy[seed].value), percent_bounds(spread.accuracy[seed])]
            for seed in spread.synops]
    rows.append(["mean over seeds", number(spread.mean_synops.value),
                 bounds_text(spread.mean_synops), percent(spread.mean_accuracy.value),
                 percent_bounds(spread.mean_accuracy)])
    rows.append(["max / min", f"{spread.max_over_min.value:.3g}",
                 bounds_text(spread.max_over_min), "-", "-"])
    return table(["baseline", "SNN SynOps / sample", "95%", "SNN accuracy", "95%"], rows)


def reduction_table(analysis: Analysis) -> str:
    rows = []
    for against, claim in (("its seed's baseline", analysis.reduction_own),
                           ("the baselines' mean", analysis.reduction_mean)):
        if claim is None:
            continue
        rows += [[against, str(seed), f"{interval.value:.3g}", bounds_text(interval), ""]
                 for seed, interval in claim.per_seed.items()]
        rows.append([against, "over seeds", f"{claim.measured.value:.3g}",
                     bounds_text(claim.measured), f"**{claim.verdict}**"])
    return table(["reduction factor against", "seed", "factor", "95%", "verdict"], rows)


def curves_table(analysis: Analysis) -> str:
    rows = []
    for comparison in analysis.curves:
        pair = f"{comparison.upper} above {comparison.lower}"
        claim = comparison.claim
        for seed, span in comparison.overlaps.items():
            interval = claim.per_seed.get(seed) if claim is not None else None
            rows.append([pair, str(seed), "none: left out" if span is None else
                         f"{span[0]:.3g} to {span[1]:.3g}",
                         "-" if interval is None else f"{interval.value:.3g}",
                         "-" if interval is None else bounds_text(interval), ""])
        if claim is not None:
            rows.append([pair, "over seeds", "", f"{claim.measured.value:.3g}",
                         bounds_text(claim.measured), f"**{claim.verdict}**"])
    return table(["curves", "seed", "SynOps both cover", "mean accuracy gap (points)", "95%",
                  "verdict"], rows)


def estimate_table(analysis: Analysis) -> str:
    columns = list(dict.fromkeys(column for entry in analysis.estimates
                                 for column in entry.ratios))
    rows = [[entry.curve, setting_of(entry.curve, entry.row), str(entry.seed),
             *(with_bounds(entry.ratios[column]) if column in entry.ratios else "-"
               for column in columns)] for entry in analysis.estimates]
    return table(["model", "setting", "seed", *columns], rows)


def ranking_table(analysis: Analysis) -> str:
    rows = [[column, f"{interval.value:.3g}", bounds_text(interval), str(count)]
            for column, (interval, count) in analysis.ranking.items()]
    return table(["SynOps of", "Spearman's rank correlation", "95%", "models"], rows)


def analysis_section(analysis: Analysis) -> str:
    """The MNIST-DVS results beyond the paper's points (#33), each table with how to read
    it."""
    parts = ["## MNIST-DVS: the claims over seeds, curves and layers"]
    if analysis.spread is not None:
        parts += ["The baseline (no SynOp loss) of each training seed: its SynOps and accuracy "
                  "(95%: t over test samples, Wilson); their mean (95%: t over seeds); and "
                  "max / min of the SynOps, whose interval covers the test samples only (a "
                  "paired bootstrap): above 1, the seeds' baselines differ by more than the "
                  "measurement's noise.", baseline_spread_table(analysis.spread)]
    if analysis.reduction_own is not None:
        parts += ["The reduction factor (the SynOp+QAT model with the fewest SynOps at most "
                  f"{analysis.max_drop:g} points below the baseline's accuracy, as a factor of "
                  "the baseline's SynOps), judged against each seed's own baseline (95%: per "
                  "seed a paired bootstrap over test samples; over seeds the geometric mean, "
                  "t on the log scale) and against the baselines' mean accuracy and SynOps "
                  "(95%: the jackknife over seeds of its logarithm, the baseline's spread "
                  "entering once). Read the two together: where they differ, a seed's own "
                  "baseline moves its factor." + (
                      " With one seed the two are the same: the first only."
                      if analysis.reduction_mean is None else ""),
                  reduction_table(analysis)]
    if analysis.curves:
        parts += ["Two curves compared over the whole range of SynOps both cover: the accuracy "
                  "gap between them, each curve linear between its models on log SynOps, "
                  "averaged over that range (points; above 0: the first curve is more "
                  "accurate at equal SynOps there). 95%: per seed a paired bootstrap over the "
                  "test samples; over seeds the mean with its t interval. A seed where the "
                  "curves share no range is left out.", curves_table(analysis)]
        parts += [f"**{note[0].upper() + note[1:]}.**" for note in analysis.notes()]
    if analysis.estimates:
        parts += ["Measured (spiking) / estimated (analog) SynOps per model, in total and per "
                  "counted layer (1: the estimate is exact). 95%: the t interval of the "
                  "measured mean over the model's test samples, the estimate taken as exact; "
                  "it covers which samples were measured, not the estimate's own sampling "
                  "nor the training seed; '-': no per-sample SynOps for that layer.",
                  estimate_table(analysis)]
    if analysis.ranking:
        parts += ["Does the estimate order the models as the measurement does? Spearman's "
                  "rank correlation over every tested model (1: the same order). 95%: a "
                  "bootstrap over the models (within each seed) and the test samples (the "
                  "same draw for every model).", ranking_table(analysis)]
    return "\n\n".join(parts)


def cifar10_table(frame: pd.DataFrame) -> str:
    rows = [[str(int(row["round"])), f"x{row['weight_scale']:g}", percent(row["ann_accuracy"]),
             percent(row.get("ann_quantized_accuracy")), percent(row["snn_accuracy"]),
             interval_percent(row, "snn_accuracy"), number(row["snn_synops"]),
             interval_number(row, "snn_synops"), number(row.get("ann_macs"))]
            for row in frame.sort_values(["round", "weight_scale"]).to_dict("records")]
    return table(["round", "first layer", "analog", "analog quantized", "SNN accuracy", "95%",
                  "SNN SynOps / image", "95%", "analog MACs"], rows)


def quant_table(frames: dict) -> str:
    rows = []
    for seed, (_workdir, without, with_qat, eval_without, eval_with) in sorted(frames.items()):
        for qtrain, spiking, analog in (("no QAT", without, eval_without),
                                        ("QAT", with_qat, eval_with)):
            merged = spiking.merge(analog[["scale", "ann_quantized_accuracy", "ann_accuracy"]]
                                   .rename(columns={"ann_accuracy": "analog_accuracy"}),
                                   on="scale", how="left")
            for row in merged.sort_values("scale").to_dict("records"):
                rows.append([qtrain, str(seed), f"{row['scale']:g}",
                             percent(row.get("analog_accuracy")),
                             percent(row.get("ann_quantized_accuracy")),
                             percent(row["snn_accuracy"]), interval_percent(row, "snn_accuracy")])
    return table(["training", "seed", "input scale", "analog", "analog quantized",
                  "SNN accuracy", "95%"], rows)


def cifar_runs(folder: Path) -> dict:
    """{seed: (workdir, its spiking rows of one evaluation, the evaluation)} of the
    cifar10*/ work folders (seed 0, train.py's default: cifar10; k: cifar10_seed<k>)."""
    runs = {}
    for workdir in sorted(folder.glob("cifar10*")):
        match = re.fullmatch(r"cifar10(?:_seed(\d+))?", workdir.name)
        files = Workdir(workdir)
        if not match or not files.cifar_inference.is_file():
            continue
        frame = read_results(files.cifar_inference)
        evaluation = choose_evaluation([frame])
        runs[int(match.group(1) or 0)] = (workdir, select_evaluation(frame, evaluation),
                                          evaluation)
    return runs


def cifar10_section(runs: dict) -> str:
    """The CIFAR-10 section: per training seed, its rows and its rounds against their
    targets."""
    first = next(iter(runs.values()))
    parts = [f"## CIFAR-10\n\nData: {first[1]['data'].iloc[0]}. Training seeds: "
             f"{', '.join(str(seed) for seed in sorted(runs))}."]
    for seed, (workdir, frame, evaluation) in sorted(runs.items()):
        parts.append(f"### Seed {seed}\n\nEvaluation: {evaluation_label(evaluation)}.\n\n"
                     + cifar10_table(frame) + "\n\n" + rounds_against_targets(Workdir(workdir)))
    return "\n\n".join(part.rstrip() for part in parts)


def quant_runs(folder: Path) -> dict:
    """{seed: (workdir, no-QAT spiking rows, QAT spiking rows, no-QAT analog, QAT analog)}
    of the mnist_quant_only*/ work folders (seed 1: mnist_quant_only, k: ..._seed<k>)."""
    runs = {}
    for workdir in sorted(folder.glob("mnist_quant_only*")):
        match = re.fullmatch(r"mnist_quant_only(?:_seed(\d+))?", workdir.name)
        files = Workdir(workdir)
        if not match or not all(files.quant_spiking_csv(q).is_file() for q in (False, True)):
            continue
        spiking = [read_results(files.quant_spiking_csv(q)) for q in (False, True)]
        spiking = [select_evaluation(frame, choose_evaluation([frame])) for frame in spiking]
        analog = [read_results(files.quant_eval_csv(q)) for q in (False, True)]
        runs[int(match.group(1) or 1)] = (workdir, *spiking, *analog)
    return runs


def versions() -> dict:
    """The versions that made the results (installed packages, read without importing)."""
    return dict(python=platform.python_version(),
                **{name: importlib.metadata.version(name) for name in ("torch", "sinabs", "numba")})


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores"


SPEED_CSV = "benchmarks/spiking_throughput.csv"  # inside a results folder (make study)


def _relative_model(model: str, root: Path) -> str:
    """A model path as it reads from the results folder (no absolute paths on the page)."""
    path_part, _, suffix = str(model).partition(" ")
    path = Path(path_part)
    try:
        path_part = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        # written relative to another working directory: after the folder's own name
        parts = path.parts
        after = max((i for i, part in enumerate(parts) if part == root.name), default=None)
        path_part = "/".join(parts[after + 1:]) if after is not None else path.name
    return f"{path_part} {suffix}".strip()


def speed_table(path: Path, root: Path | None = None) -> str:
    """The spiking benchmark's rows (benchmarks/spiking_throughput.py), the last per
    network and device: both simulators timed in one run on the same batches. Model
    paths are shown relative to `root` (the results folder)."""
    root = Path(root) if root is not None else path.parent
    frame = read_csv(path, required=["network", "device", "sinabs_ms_per_sample",
                                     "fast_ms_per_sample", "ratio"])
    frame = frame.groupby(["network", "device"], sort=False).tail(1)
    rows = ["| network | model | device, threads | samples | sinabs ms/sample | fast ms/sample "
            "| fast vs sinabs | outputs differ | predictions differ |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for _, row in frame.iterrows():
        model = _relative_model(row["model"], root)
        rows.append(f"| {row['network']} | {model} | {row['device']}, {row['threads']} | "
                    f"{row['samples']} | {row['sinabs_ms_per_sample']:.3g} | "
                    f"{row['fast_ms_per_sample']:.3g} | **{row['ratio']:.1f}x** | "
                    f"{row['samples_output_differs']} | {row['predictions_differ']} |")
    process = frame[frame["process_ratio"].notna()] if "process_ratio" in frame else frame[:0]
    if len(process):
        rows += ["", "The whole process (`mnist_dvs/test_spiking.py --mode nopenalty` on every "
                 "test chunk in a fresh process: imports, data, the analog estimate and the "
                 "spiking test; the fast simulator's first run compiles its kernel into numba's "
                 "cache, later runs load it):", "",
                 "| network | chunks | sinabs s | fast s (first run) | fast s | fast vs sinabs |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for _, row in process.iterrows():
            rows.append(f"| {row['network']} | {int(row['process_samples'])} | "
                        f"{row['sinabs_process_s']:.1f} | {row['fast_process_cold_s']:.1f} | "
                        f"{row['fast_process_s']:.1f} | **{row['process_ratio']:.1f}x** |")
    return "\n".join(rows)


def stage_table(path: Path) -> str:
    """What each stage of the run cost: scripts/demo.sh writes each stage's start (and
    the run's end) to stage_times.csv; a stage lasts until the next line."""
    frame = read_csv(path, required=["started_unix", "stage"], numeric=["started_unix"])
    rows = []
    for (_, this), (_, following) in zip(frame.iloc[:-1].iterrows(), frame.iloc[1:].iterrows(),
                                         strict=True):
        if this["stage"] != "end":
            minutes = (following["started_unix"] - this["started_unix"]) / 60
            rows.append([str(this["stage"]), f"{minutes:.1f}"])
    return table(["stage (scripts/demo.sh)", "minutes"], rows) if rows else ""


def build(folder, figure_dir=None, resamples: int = 1000) -> tuple[str, str]:
    """(the page, the headline block) for the results in `folder`."""
    folder = Path(folder)
    info_path = folder / "run_info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    claims, sections = [], []
    mnist = folder / "mnist_dvs"
    data_label = ""
    if (mnist / "results").is_dir():
        data_label, mnist_claims, mnist_sections = mnist_dvs_part(mnist, resamples)
        claims += mnist_claims
        sections += mnist_sections
    cifar = cifar_runs(folder)
    if cifar:
        claims += cifar10_claims({seed: run[:2] for seed, run in cifar.items()}, resamples)
        sections.append(cifar10_section(cifar))
    runs = quant_runs(folder)
    if runs:
        claims += qat_claim({seed: run[:3] for seed, run in runs.items()}, resamples)
        first = next(iter(runs.values()))
        sections.append(f"## MNIST, quantization only\n\nData: {first[1]['data'].iloc[0]}.\n\n"
                        + quant_table(runs))
    stages = folder / "stage_times.csv"
    if stages.is_file() and stage_table(stages):
        sections.append("## What each stage cost\n\nWall time on this machine, from "
                        "`stage_times.csv` (a stage lasts until the next one starts).\n\n"
                        + stage_table(stages))
    speed = folder / SPEED_CSV
    if speed.is_file():
        sections.append("## Spiking simulator speed\n\n`benchmarks/spiking_throughput.py` "
                        "on this run's networks: sinabs and the fast simulator on the same "
                        "batches in one run, the ratio of their times per sample; a sample "
                        "whose output spikes differ at any step is counted (docs/simulator.md)."
                        "\n\n" + speed_table(speed, folder))
    headline = "\n".join([
        HEADLINE_START,
        f"The paper's claims, measured on {data_label or 'the stand-in data'} "
        f"({info.get('what', folder.name)}; 95% intervals; generated by `make report`):",
        "", claims_table(claims), HEADLINE_END])
    figures = []
    if figure_dir is not None:
        for name in FIGURES:
            if (Path(figure_dir) / f"{name}.png").is_file():
                figures.append(f"![{name}](figures/{name}.png)")
    run = [f"- command: `{info['command']}`" if info.get("command") else "",
           f"- wall time: {info['minutes']:.1f} minutes" if info.get("minutes") else "",
           f"- note: {info['note']}" if info.get("note") else "",
           f"- machine: {info.get('machine') or machine()}",
           "- versions: " + ", ".join(f"{key} {value}" for key, value in
                                      (info.get("versions") or versions()).items())]
    page = "\n\n".join(part for part in [
        "# Results\n\nGenerated by `make report` from `" + folder.name + "/`: every number below "
        "comes from that folder's results files (`python -m synoploss.reporting.report`), "
        "none is typed. "
        "The data are the embedded STAND-INs unless a section says otherwise: they show what "
        "the methods do on them, not the paper's values on the real data sets.",
        "\n".join(line for line in run if line), headline.replace(HEADLINE_START, "").replace(
            HEADLINE_END, "").strip(), *sections, "## Figures\n\n" + "\n\n".join(figures)
        if figures else ""] if part)
    return page + "\n", headline


def mnist_dvs_part(workdir: Path, resamples: int) -> tuple:
    """(the data's description, the claims, the page's sections) of the MNIST-DVS work
    folder: the paper's point claims, then the analysis beyond them (#33)."""
    results = read_spiking_results(workdir)
    analysis = mnist_dvs_analysis(workdir, results, resamples)
    untested = results.untested_text()
    table_section = (f"## MNIST-DVS\n\nData: {results.data}. Evaluation: {results.label}. "
                     "Intervals: Wilson (accuracy), t over test samples (SynOps)."
                     + (f" **{untested[0].upper() + untested[1:]}.**" if untested else "")
                     + "\n\n" + mnist_dvs_table(results))
    return (results.data, mnist_dvs_claims(workdir, results, resamples) + analysis.claims,
            [table_section, analysis_section(analysis)])


def rounds_against_targets(files: Workdir) -> str:
    """Whether each round's estimated SynOps reached its target (the training log), and
    where they stood a third of the way through the round: equal ratios mean a plateau
    that longer rounds would not move (the loss's balance with the cross-entropy)."""
    if not files.training_log.is_file():
        return ""
    log = read_results(files.training_log)
    rows = []
    for round_index, frame in log[log["round"] >= 0].groupby("round"):
        epochs = frame.sort_values("epoch")
        last = epochs.iloc[-1]
        target = normal(last.get("target"))
        if target is None:
            continue
        third = epochs.iloc[max(0, -(-len(epochs) // 3) - 1)]
        rows.append([str(int(round_index)), str(int(last["epoch"])), number(target),
                     number(last["test_synops"]), f"{last['test_synops'] / target:.2f}",
                     f"{third['test_synops'] / target:.2f} (epoch {int(third['epoch'])})",
                     percent(last["test_accuracy"])])
    if not rows:
        return ""
    return ("Rounds against their targets (training log, last epoch; the same ratio a third "
            "of the way in means the round had reached its balance between the SynOp loss "
            "and the cross-entropy there, and longer rounds would not move it):\n\n" + table(
        ["round", "epochs", "target", "estimated SynOps", "estimate / target",
         "estimate / target a third in", "analog accuracy (quantized)"], rows))


def update_readme(readme: Path, headline: str) -> bool:
    """Replace the README's headline block; True if it changed."""
    text = readme.read_text()
    if HEADLINE_START not in text or HEADLINE_END not in text:
        raise ValueError(f"{readme}: no {HEADLINE_START} ... {HEADLINE_END} block")
    before, rest = text.split(HEADLINE_START, 1)
    _, after = rest.split(HEADLINE_END, 1)
    updated = before + headline + after
    if updated != text:
        readme.write_text(updated)
    return updated != text


NEUROBENCH_LINK = ("Our SynOps beside NeuroBench's counts of the same tests (Effective ACs and "
                   "MACs, Dense, ActivationSparsity, Footprint), per model and layer, and why "
                   "they differ: [neurobench.md](neurobench.md).")
NEUROBENCH_LINK_AT = "## MNIST-DVS\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m synoploss.reporting.report",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a demo or study folder (demo_output, study_output)")
    parser.add_argument("--out", default="docs/results.md")
    parser.add_argument("--readme", default="README.md",
                        help="whose headline block to rewrite ('' for none)")
    parser.add_argument("--figures", default=None,
                        help="the run's figure folder (default <folder>/figures); the page's "
                             "figures are copied next to --out, into figures/")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        parser.error(f"{folder}: no such folder (run make demo or make study first)")
    figures = Path(args.figures) if args.figures else folder / "figures"
    out = Path(args.out)
    target = out.parent / "figures"
    if figures.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for name in FIGURES:
            if (figures / f"{name}.png").is_file():
                shutil.copyfile(figures / f"{name}.png", target / f"{name}.png")
    try:
        page, headline = build(folder, target if figures.is_dir() else None, args.resamples)
        workload = neurobench_page.build(folder) if neurobench_page.has_counts(folder) else ""
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    if workload:  # results of an earlier version hold no NeuroBench counts: no such page
        (out.parent / "neurobench.md").write_text(workload)
        page = page.replace(NEUROBENCH_LINK_AT, NEUROBENCH_LINK + "\n\n" + NEUROBENCH_LINK_AT, 1)
        print(f"{out.parent / 'neurobench.md'} written")
    out.write_text(page)
    print(f"{out} written")
    if args.readme:
        changed = update_readme(Path(args.readme), headline)
        print(f"{args.readme}: headline block {'updated' if changed else 'unchanged'}")


if __name__ == "__main__":
    main()

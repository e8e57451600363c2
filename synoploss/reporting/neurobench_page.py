"""docs/neurobench.md, generated: our exact SynOps next to NeuroBench's counts of the same
test, per model and per weight layer, with the ratio and the reasons they differ, so that
a reader can put our numbers beside published NeuroBench results without being misled.

Every number comes from the per-sample arrays the spiking tests save
(`experiments.evaluation.spiking_test_row`: SynOps per weight layer, and NeuroBench's
Effective_ACs / Effective_MACs / Dense and whether each sample's inputs were all 0 or
+-1), for the MNIST-DVS models of one training seed and the last CIFAR-10 round."""
from __future__ import annotations

from pathlib import Path
from typing import List

from ..experiments.workdir import Workdir
from .readers import per_sample_arrays, read_results, read_spiking_results

KEYS = ("layer_synops", "layer_names", "neurobench_layer_names", "neurobench_effective_acs",
        "neurobench_effective_macs", "neurobench_dense", "neurobench_binary_input",
        "neurobench_activation_sparsity")


def counts_of(workdir, row) -> dict:
    """The arrays of one results row's samples file (NeuroBench's and our counts)."""
    saved = per_sample_arrays(workdir, row, KEYS, fix="test it again with this version (--fresh)")
    names = [str(name) for name in saved["layer_names"]]
    theirs = [str(name) for name in saved["neurobench_layer_names"]]
    if names != theirs:
        raise ValueError(f"{row['samples_path']}: the weight layers differ between the SynOps "
                         f"({names}) and NeuroBench's counts ({theirs})")
    return dict(saved, names=names)


def _number(value: float) -> str:
    return f"{value:.3g}"


def model_row(label: str, row, counts: dict) -> List[str]:
    ours = counts["layer_synops"].sum(1).mean()
    acs = counts["neurobench_effective_acs"].sum(1).mean()
    macs = counts["neurobench_effective_macs"].sum(1).mean()
    return [label, _number(ours), _number(acs), _number(macs), _number(acs + macs),
            _number(counts["neurobench_dense"].sum(1).mean()),
            f"{ours / (acs + macs):.2f}" if acs + macs else "-",
            f"{row['neurobench_activation_sparsity']:.3f}",
            f"{row['neurobench_connection_sparsity']:.3f}",
            f"{int(row['neurobench_footprint_bytes']):,}"]


def layer_rows(counts: dict) -> List[List[str]]:
    rows = []
    for index, name in enumerate(counts["names"]):
        ours = counts["layer_synops"][:, index].mean()
        acs = counts["neurobench_effective_acs"][:, index].mean()
        macs = counts["neurobench_effective_macs"][:, index].mean()
        binary = counts["neurobench_binary_input"][:, index].mean()
        rows.append([name, _number(ours), _number(acs), _number(macs),
                     f"{binary * 100:.0f}%", f"{ours / (acs + macs):.2f}" if acs + macs else "-"])
    return rows


def table(header: List[str], rows: List[List[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
                     + ["| " + " | ".join(row) + " |" for row in rows])


MODEL_HEADER = ["model", "SynOps (ours)", "Effective ACs", "Effective MACs", "ACs + MACs",
                "Dense", "SynOps / (ACs + MACs)", "ActivationSparsity", "ConnectionSparsity",
                "Footprint (bytes)"]
LAYER_HEADER = ["weight layer", "SynOps (ours)", "Effective ACs", "Effective MACs",
                "samples with 0/1 inputs only", "SynOps / NeuroBench"]


def mnist_dvs_section(workdir: Path) -> tuple[str, str]:
    """(the section, the rules version) for the MNIST-DVS models of the first seed."""
    results = read_spiking_results(workdir, require_baseline=False)
    seed = min(int(value) for value in results.baseline["seed"].fillna(1)) \
        if "seed" in results.baseline and len(results.baseline) else 1
    frames = [("baseline", results.baseline)] + list(results.curves.items())
    model_rows, rules, detail = [], None, []
    for label, frame in frames:
        for row in frame.to_dict("records"):
            if int(row.get("seed", 1) or 1) != seed or "neurobench_rules" not in row:
                continue
            counts = counts_of(workdir, row)
            rules = row["neurobench_rules"]
            name = f"{label}: {Path(str(row['model_path'])).stem}" + (
                f" x{row['scale']:g}" if label == "weight scaling" else "")
            model_rows.append(model_row(name, row, counts))
            if label in ("baseline", "SynOp+QAT") and len(detail) < 2:
                detail.append((name, counts))
    if not model_rows:
        return "", ""
    parts = [f"## MNIST-DVS (seed {seed}; {results.label})", table(MODEL_HEADER, model_rows)]
    for name, counts in detail:
        parts += [f"Per weight layer, {name}:", table(LAYER_HEADER, layer_rows(counts))]
    return "\n\n".join(parts), rules


def cifar_section(workdir: Path) -> str:
    files = Workdir(workdir)
    if not files.cifar_inference.is_file():
        return ""
    frame = read_results(files.cifar_inference)
    if "neurobench_rules" not in frame:
        return ""
    last = frame[frame["round"] == frame["round"].max()].to_dict("records")
    rows = [model_row(f"round {int(row['round'])} x{row['weight_scale']:g}", row,
                      counts_of(workdir, row)) for row in last]
    counts = counts_of(workdir, last[0])
    return "\n\n".join([f"## CIFAR-10 (the last round, {frame['data'].iloc[0]})",
                        table(MODEL_HEADER, rows),
                        f"Per weight layer, round {int(last[0]['round'])} "
                        f"x{last[0]['weight_scale']:g}:", table(LAYER_HEADER, layer_rows(counts))])


WHY = """## Why the two counts differ

Both count per sample, summed over the time steps, on the same spiking network and the same
test samples; the SynOps are what sinabs' hooks count (and the fast simulator reproduces),
each input value times its connections. NeuroBench {rules} (`synoploss.spiking.neurobench_metrics`
follows its source, file by file) counts differently in four ways, each visible above:

- **Multiplicity is lost.** NeuroBench binarises every input (any non-zero value counts
  once): a neuron that fires three spikes in one step, a sum-pooled count of two, a DVS bin
  holding several events, or an average-pooled 0.25 are each one operation per connection.
  The SynOps count the value. Where the column "samples with 0/1 inputs only" is below
  100%, inputs above one spike occur, and SynOps / NeuroBench exceeds 1 by their excess.
- **ACs or MACs, per batch.** A layer's operations count as accumulates (ACs) only when
  every input of the whole batch is 0 or +-1; one sample with two spikes in one step makes
  the whole batch's operations "MACs" (multiply-accumulates), which published comparisons
  often price several times higher. Our multi-spike networks and DVS inputs are therefore
  mostly MACs in NeuroBench's terms, though the chip only adds.
- **Zero weights are not operations** for NeuroBench (its weights are binarised too); the
  SynOps count every connection, as the chip does (ConnectionSparsity: the share of zero
  weights).
- **Pooling is not counted, and average pooling scales.** sinabs counts a layer after an
  average pooling times the pooling's area (the spikes before the pooling are what the
  chip routes); NeuroBench sees the pooled mean, non-zero once per window.

Dense is every connection at every time step, whatever the input: NeuroBench's measure of
a dense (non-event-driven) execution. ActivationSparsity is the share of the spiking
layers' outputs (every neuron, every step) that are zero; Footprint counts the weights and
the neuron states of one sample in bytes. Compare our SynOps with published NeuroBench
numbers only after converting, with the ratios above, and name the rules' version
({rules}): NeuroBench's numbers changed between versions (its issue #258).
"""


def has_counts(folder) -> bool:
    """Whether the folder's MNIST-DVS or CIFAR-10 results hold NeuroBench's counts."""
    folder = Path(folder)
    paths = list((folder / "mnist_dvs" / "results").glob("*_spiking.csv")) + \
        [Workdir(folder / "cifar10").cifar_inference]
    return any(path.is_file() and "neurobench_rules" in read_results(path) for path in paths)


def build(folder) -> str:
    """The page for a demo or study folder; ValueError when its results hold no
    NeuroBench counts."""
    folder = Path(folder)
    section, rules = mnist_dvs_section(folder / "mnist_dvs") \
        if (folder / "mnist_dvs" / "results").is_dir() else ("", "")
    cifar = cifar_section(folder / "cifar10")
    if not section and not cifar:
        raise ValueError(f"{folder}: no spiking results with NeuroBench's counts (test the "
                         "models with this version)")
    rules = rules or "2.3.0"
    return "\n\n".join(part for part in [
        "# SynOps and NeuroBench's counts\n\nGenerated by `make report` from `"
        + folder.name + "/` (`python -m synoploss.reporting.report`): per model, the SynOps "
        "per sample we report beside NeuroBench " + rules + "'s Effective_ACs, "
        "Effective_MACs and Dense on the same test, and its ActivationSparsity, "
        "ConnectionSparsity and Footprint; then, per weight layer, where the two differ. "
        "The data are the embedded STAND-INs.", section, cifar, WHY.format(rules=rules)]
        if part) + "\n"


def write(folder, out) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(folder))
    return out

"""Summarise the MNIST-DVS results: one table of the spiking networks and the checks that
the paper's claims call for, measured on whatever data the runs used.

Reads results/*_spiking.csv in --workdir (from test_spiking.py) and prints, per model,
SNN accuracy, SNN SynOps (measured by sinabs) and the reduction against the no-penalty
baseline; then
  - agreement of estimated (quantized analog) and measured (spiking) SynOps per model,
  - the best reduction at no more than --max_drop points below the baseline's accuracy,
  - whether the SynOp+QAT curve lies above the weight-scaling curve at equal SynOps.
and, last, the paper's claims as goals (met / missed, with the measured value): baseline
SNN accuracy at least 90%; at least 4x fewer SNN SynOps than the baseline within 2 points
for SynOp+QAT; SynOp+QAT above weight scaling and above SynOp alone at equal SynOps; the
analog estimate within 15% of sinabs' measurement for every SynOp+QAT model.
Writes results/summary.csv. These are reports, not pass/fail gates: the numbers are what
they are.
"""
import numpy as np
import pandas as pd

from synoploss.energy import add_energy_flag
from synoploss.io import read_csv, write_csv
from synoploss.results import BASELINE, Workdir, read_spiking_curves, trained_fanout
from synoploss.runtime import fail, nonnegative_float, script_parser


def curve_above(upper: pd.DataFrame, lower: pd.DataFrame) -> tuple[float, int]:
    """Mean accuracy gap (points) of `upper` over `lower`, interpolating `lower` (in log
    SynOps) at `upper`'s points within the SynOp range both cover; and how many points."""
    lower = lower.sort_values("snn_synops")
    x_lower = np.log10(lower["snn_synops"].to_numpy())
    x_upper = np.log10(upper["snn_synops"].to_numpy())
    inside = (x_upper >= x_lower.min()) & (x_upper <= x_lower.max())
    if not inside.any():
        return float("nan"), 0
    interpolated = np.interp(x_upper[inside], x_lower, lower["snn_accuracy"].to_numpy())
    gaps = upper["snn_accuracy"].to_numpy()[inside] - interpolated
    return float(gaps.mean() * 100), int(inside.sum())


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--max_drop", type=nonnegative_float, default=2.0,
                        help="accuracy drop (points) allowed for the reduction figure")
    add_energy_flag(parser)
    args = parser.parse_args(argv)
    files = Workdir(args.workdir)
    columns = ["snn_accuracy", "snn_synops", "ann_synops", "model_path", "data"]
    try:
        baseline = read_csv(files.spiking_csv(BASELINE), required=columns, numeric=columns[:3])
        if baseline.empty:
            raise ValueError(f"{files.spiking_csv(BASELINE)}: no rows")
        baseline = baseline.iloc[0]
        curves = read_spiking_curves(args.workdir)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, f"{error} (run test_spiking.py --mode nopenalty)")
    rows = [dict(curve="baseline", model=baseline["model_path"], setting="",
                 snn_accuracy=baseline["snn_accuracy"], snn_synops=baseline["snn_synops"],
                 ann_synops=baseline["ann_synops"], reduction=1.0,
                 fanout=trained_fanout(baseline))]
    for label, frame in curves.items():
        for _, row in frame.iterrows():
            setting = (f"scale {row['scale']:.2f}" if label == "weight scaling" else
                       f"level {row['level']:g}" if "level" in row else f"target {row['target']:.3g}")
            rows.append(dict(curve=label, model=row["model_path"], setting=setting,
                             snn_accuracy=row["snn_accuracy"], snn_synops=row["snn_synops"],
                             ann_synops=row["ann_synops"],
                             reduction=baseline["snn_synops"] / row["snn_synops"],
                             fanout=trained_fanout(row)))
    chip = args.energy_model
    for row in rows:  # MNIST-DVS input events are SynOps too: no analog input MACs
        row.update(energy_model=chip.name, energy_uj=chip.energy_pj(row["snn_synops"]) / 1e6)
    write_csv(files.summary, rows)
    print(f"data: {baseline['data']}; estimates with {sorted({r['fanout'] for r in rows})} "
          "fan-outs")
    print(f"{'curve':<24}{'setting':<16}{'SNN acc':>9}{'SNN SynOps':>12}{'estimate':>11}"
          f"{'reduction':>11}{'µJ/inference':>14}")
    for row in rows:
        print(f"{row['curve']:<24}{row['setting']:<16}{row['snn_accuracy'] * 100:8.2f}%"
              f"{row['snn_synops']:12.4g}{row['ann_synops']:11.4g}{row['reduction']:10.2f}x"
              f"{row['energy_uj']:14.4g}")
    print(f"energy: SynOps x {chip.pj_per_synop:g} pJ ({chip.name}: {chip.source}); synaptic "
          "operations only")

    goals = [("baseline SNN accuracy >= 90%", baseline["snn_accuracy"] >= 0.90,
              f"{baseline['snn_accuracy'] * 100:.2f}%")]
    if "SynOp+QAT" in curves:
        qat = curves["SynOp+QAT"]
        error = (qat["ann_synops"] - qat["snn_synops"]).abs() / qat["snn_synops"]
        print(f"\nestimated vs measured SynOps, SynOp+QAT models: largest difference "
              f"{error.max() * 100:.1f}%, median {error.median() * 100:.1f}% "
              f"({(error <= 0.15).sum()}/{len(error)} within 15%)")
        floor = baseline["snn_accuracy"] - args.max_drop / 100
        good = qat[qat["snn_accuracy"] >= floor]
        reduction = 0.0
        if len(good):
            best = good.sort_values("snn_synops").iloc[0]
            reduction = baseline["snn_synops"] / best["snn_synops"]
            print(f"fewest SynOps within {args.max_drop:g} points of the baseline "
                  f"({baseline['snn_accuracy'] * 100:.2f}%): {best['model_path']} "
                  f"{best['snn_accuracy'] * 100:.2f}% at {best['snn_synops']:.4g} SynOps, "
                  f"{reduction:.2f}x fewer")
        else:
            print(f"no SynOp+QAT model within {args.max_drop:g} points of the baseline")
        goals.append((f">= 4x fewer SNN SynOps within {args.max_drop:g} points (SynOp+QAT)",
                      reduction >= 4, f"{reduction:.2f}x"))
        for other in ("weight scaling", "SynOp", "Rueckauer normalisation"):
            if other in curves:
                gap, points = curve_above(qat, curves[other])
                print(f"SynOp+QAT minus {other} at equal SynOps: {gap:+.2f} points "
                      f"(mean over {points} models in the common range)")
                if other in ("weight scaling", "SynOp"):
                    goals.append((f"SynOp+QAT above {other} at equal SynOps",
                                  points > 0 and gap > 0, f"{gap:+.2f} points over {points}"))
        goals.append(("estimate within 15% of sinabs, every SynOp+QAT model",
                      bool((error <= 0.15).all()), f"largest {error.max() * 100:.1f}%"))
    print("\nthe paper's claims as goals on this data:")
    for goal, met, value in goals:
        print(f"  {'met   ' if met else 'MISSED'} {goal}: {value}")


if __name__ == "__main__":
    main()

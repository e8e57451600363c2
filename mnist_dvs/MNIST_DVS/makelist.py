"""Write the MNIST-DVS train/test file lists from the grabbed_data{d}/scale{S}/ folders.

Output: mnistdvs_filelist_train.txt and mnistdvs_filelist_test.txt in the dataset root,
tab-separated (path relative to the root, label). The first --train_per_digit recordings
of each digit, sorted by name, train; the rest test. Deterministic.
"""
from pathlib import Path

from synoploss.data.mnist_dvs import LIST_NAMES, make_file_lists, write_file_list
from synoploss.runtime import fail, script_parser


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent),
                        help="MNIST-DVS root holding grabbed_data0..9 (default: this folder)")
    parser.add_argument("--scale", type=int, choices=(4, 8, 16), default=16,
                        help="which recording scale to list (the paper used 16)")
    parser.add_argument("--train_per_digit", type=int, default=800,
                        help="recordings per digit for training; the rest test (default 800 "
                             "of 1000, as the paper)")
    args = parser.parse_args(argv)
    try:
        train, test = make_file_lists(args.root, args.scale, args.train_per_digit)
    except FileNotFoundError as error:
        fail(__file__, error)
    for split, entries in (("train", train), ("test", test)):
        path = Path(args.root) / LIST_NAMES[split]
        write_file_list(path, entries)
        print(f"{path}: {len(entries)} recordings")


if __name__ == "__main__":
    main()

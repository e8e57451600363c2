"""Write the MNIST-DVS train/test file lists from the grabbed_data{d}/scale{S}/ folders.

Output: mnistdvs_filelist_train.txt and mnistdvs_filelist_test.txt in the dataset root,
tab-separated (path relative to the root, label), in the original's format.
  --split paper   (default) the paper's split, as the authors published it (800 training
                  and 200 test recordings per digit, scale 16). They made it from an
                  unsorted directory listing, so it cannot be regenerated: the lists ship
                  with this package (synoploss/data/paper_split/).
  --split sorted  the first --train_per_digit recordings of each digit, sorted by name,
                  train; the rest test. Deterministic; any scale.
Either way every listed recording must exist under --root; a missing one stops the script
with its path.
"""
from pathlib import Path

from synoploss.data.mnist_dvs import LIST_NAMES, SPLITS, split_file_lists, write_file_list
from synoploss.experiments.cli import fail, script_parser


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent),
                        help="MNIST-DVS root holding grabbed_data0..9 (default: this folder)")
    parser.add_argument("--scale", type=int, choices=(4, 8, 16), default=16,
                        help="which recording scale to list (the paper used 16)")
    parser.add_argument("--split", choices=SPLITS, default="paper",
                        help="paper: the authors' lists (default); sorted: the first "
                             "--train_per_digit per digit by name")
    parser.add_argument("--train_per_digit", type=int, default=800,
                        help="--split sorted: recordings per digit for training; the rest "
                             "test (default 800 of 1000, as the paper)")
    args = parser.parse_args(argv)
    try:
        train, test = split_file_lists(args.root, args.split, args.scale, args.train_per_digit)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, error)
    for split, entries in (("train", train), ("test", test)):
        path = Path(args.root) / LIST_NAMES[split]
        write_file_list(path, entries)
        print(f"{path}: {len(entries)} recordings")


if __name__ == "__main__":
    main()

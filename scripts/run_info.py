"""Write <folder>/run_info.json: what ran (the command, its wall time), on what machine and
with which versions, for the generated results page (synoploss.reporting.report)."""
import argparse
import json
from pathlib import Path

from synoploss.reporting.report import machine, versions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", help="the results folder (demo_output, study_output)")
    parser.add_argument("what", help='what ran, for the page, e.g. "make study (3 seeds)"')
    parser.add_argument("command", help="the command that made the results")
    parser.add_argument("seconds", type=float, help="its wall time in seconds")
    parser.add_argument("note", nargs="?", default="", help="anything a reader should know")
    args = parser.parse_args(argv)
    path = Path(args.folder) / "run_info.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(what=args.what, command=args.command,
                                    minutes=args.seconds / 60, note=args.note,
                                    machine=machine(), versions=versions()), indent=2) + "\n")
    print(f"{path}: {args.what}, {args.seconds / 60:.1f} minutes")


if __name__ == "__main__":
    main()

"""Write <folder>/run_info.json: what ran (the command, its wall time), on what machine and
with which versions, for the generated results page (synoploss.report)."""
import json
import sys
from pathlib import Path

from synoploss.report import machine, versions

# usage: run_info.py FOLDER WHAT COMMAND SECONDS [NOTE]
folder, what, command, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
note = sys.argv[5] if len(sys.argv) > 5 else ""
path = Path(folder) / "run_info.json"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(dict(what=what, command=command, minutes=seconds / 60, note=note,
                                machine=machine(), versions=versions()), indent=2) + "\n")
print(f"{path}: {what}, {seconds / 60:.1f} minutes")

"""Mutation testing on a sample: does the suite notice a plausible bug?

For each library module, a seeded sample of single-point mutations (an arithmetic or
comparison operator swapped, `and`/`or` swapped, a `not` dropped, a number or a boolean
changed) is applied one at a time to a copy of the repository, and the module's tests
are run on it: a mutant is *killed* when they fail (or time out), *survives* when they
pass. mutmut does the same exhaustively; on 2 cores and a suite of minutes a sample is
what fits, and each module's own test files are what should catch its bugs.

Writes one CSV row per mutant and a Markdown summary (--report), generated, not typed.

  python scripts/mutation_sample.py --per_module 12 --out runs/mutation \\
      --report docs/mutation.md
"""
import argparse
import ast
import copy
import csv
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# module -> the test files that own it
MODULES = {
    "synoploss/quantize.py": ["tests/test_quantize.py"],
    "synoploss/synops.py": ["tests/test_synops.py", "tests/test_graph.py"],
    "synoploss/loss.py": ["tests/test_loss.py"],
    "synoploss/spiking/convert.py": ["tests/test_spiking_convert.py"],
    "synoploss/spiking/fast/plan.py": ["tests/test_spiking_fast.py"],
    "synoploss/spiking/fast/cpu.py": ["tests/test_spiking_fast.py"],
    "synoploss/spiking/fast/cpu_kernel.py": ["tests/test_spiking_fast.py"],
    "synoploss/io.py": ["tests/test_io.py"],
    "synoploss/experiments/workdir.py": ["tests/test_experiments_workdir.py"],
}
SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
         ast.FloorDiv: ast.Div, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
         ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot,
         ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.And: ast.Or,
         ast.Or: ast.And}


def _inside(node, kinds, parents):
    while node in parents:
        node = parents[node]
        if isinstance(node, kinds):
            return True
    return False


def mutation_sites(source: str):
    """(node, description, mutated node) for every mutable expression of `source`."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    sites = []
    for node in ast.walk(tree):
        if not hasattr(node, "end_col_offset") or _inside(node, (ast.JoinedStr,), parents):
            continue
        parent = parents.get(node)
        if isinstance(parent, (ast.arg, ast.AnnAssign)) and node is getattr(parent, "annotation",
                                                                             None):
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
            mutated = copy.deepcopy(node)
            mutated.op = SWAPS[type(node.op)]()
            sites.append((node, f"{type(node.op).__name__} -> {type(mutated.op).__name__}",
                          mutated))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
            mutated = copy.deepcopy(node)
            mutated.ops[0] = SWAPS[type(node.ops[0])]()
            sites.append((node, f"{type(node.ops[0]).__name__} -> "
                                f"{type(mutated.ops[0]).__name__}", mutated))
        elif isinstance(node, ast.BoolOp):
            mutated = copy.deepcopy(node)
            mutated.op = SWAPS[type(node.op)]()
            sites.append((node, f"{type(node.op).__name__} -> {type(mutated.op).__name__}",
                          mutated))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not x -> x", node.operand))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            sites.append((node, f"{node.value} -> {not node.value}", ast.Constant(not node.value)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            value = node.value
            new = value + 1 if isinstance(value, int) else (value * 2 if value else 1.0)
            sites.append((node, f"{value!r} -> {new!r}", ast.Constant(new)))
    return sites


CSV_FIELDS = ["module", "line", "mutation", "original", "outcome", "seconds"]


def _same_site(sites, source: str, row) -> int | None:
    """The site an earlier run's row names: the same code and mutation, the nearest to its
    old line (edits since may have moved it; a bare `0` occurs many times in a module)."""
    matches = [index for index, (node, description, _) in enumerate(sites)
               if description == row["mutation"]
               and ast.get_source_segment(source, node)[:60] == row["original"]]
    if not matches:
        return None
    return min(matches, key=lambda index: abs(sites[index][0].lineno - int(row["line"])))


def apply(source: str, node, mutated) -> str:
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    start = offsets[node.lineno - 1] + len(lines[node.lineno - 1].encode()[:node.col_offset]
                                             .decode())
    end = offsets[node.end_lineno - 1] + len(lines[node.end_lineno - 1].encode()[
        :node.end_col_offset].decode())
    return source[:start] + "(" + ast.unparse(mutated) + ")" + source[end:]


def run_tests(tree: Path, tests, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p",
             "no:cacheprovider", *tests], cwd=tree, capture_output=True, text=True,
            timeout=timeout, env={**_env(), "PYTHONPATH": str(tree)})
    except subprocess.TimeoutExpired:
        return "killed (timeout)", time.monotonic() - started
    outcome = "survived" if result.returncode == 0 else "killed"
    if result.returncode not in (0, 1):  # collection or internal errors count as killed
        outcome = "killed (error)"
    return outcome, time.monotonic() - started


def _env():
    import os
    return dict(os.environ)


def copy_tree(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    shutil.rmtree(target, ignore_errors=True)
    for name in files:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per_module", type=int, default=12,
                        help="mutants sampled per module (default 12)")
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES),
                        help="which modules (default: all of them)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--out", default="runs/mutation",
                        help="folder for the repository copy and mutants.csv")
    parser.add_argument("--report", default=None, help="write the Markdown summary here")
    parser.add_argument("--rerun_survivors", metavar="CSV", default=None,
                        help="instead of sampling: run again the mutants that survived in "
                             "this earlier mutants.csv (after tests were added)")
    args = parser.parse_args(argv)
    earlier = None
    if args.rerun_survivors:
        with open(args.rerun_survivors) as handle:
            # by the code and the mutation, not the line: edits since may have moved it
            earlier = [row for row in csv.DictReader(handle) if row["outcome"] == "survived"]
        args.modules = [module for module in args.modules
                        if any(row["module"] == module for row in earlier)]
    out = Path(args.out).resolve()
    tree = out / "tree"
    copy_tree(tree)
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    # one row per mutant as it finishes: an interrupted run keeps what it measured
    with open(out / "mutants.csv", "w", newline="") as handle:
        csv.DictWriter(handle, fieldnames=CSV_FIELDS).writeheader()
    for module in args.modules:
        tests = MODULES[module]
        outcome, baseline = run_tests(tree, tests, 1800)
        if outcome != "survived":
            sys.exit(f"{module}: its tests fail without a mutation ({outcome}); fix them first")
        source = (tree / module).read_text()
        sites = mutation_sites(source)
        if earlier is not None:
            chosen = sorted({_same_site(sites, source, row) for row in earlier
                             if row["module"] == module} - {None})
        else:
            chosen = random.Random(f"{args.seed}:{module}").sample(
                range(len(sites)), min(args.per_module, len(sites)))
        for index in sorted(chosen):
            node, description, mutated = sites[index]
            mutant = apply(source, node, mutated)
            try:
                compile(mutant, module, "exec")
            except SyntaxError:
                continue
            (tree / module).write_text(mutant)
            try:
                outcome, seconds = run_tests(tree, tests, max(60.0, 3 * baseline))
            finally:
                (tree / module).write_text(source)
            row = dict(module=module, line=node.lineno, mutation=description,
                       original=ast.get_source_segment(source, node)[:60], outcome=outcome,
                       seconds=round(seconds, 1))
            rows.append(row)
            with open(out / "mutants.csv", "a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=CSV_FIELDS).writerow(row)
            print(f"{module}:{node.lineno} {description}: {outcome}", flush=True)
    summary = summarise(rows, args)
    print(summary)
    if args.report:
        Path(args.report).write_text(summary)


def summarise(rows, args) -> str:
    command = (f"--rerun_survivors {Path(args.rerun_survivors).name}" if args.rerun_survivors
               else f"--per_module {args.per_module} --seed {args.seed}")
    lines = ["# Mutation sample", "",
             f"Generated by `python scripts/mutation_sample.py {command}`: single-point "
             "mutations of each module, each run against the module's own test files (a "
             "mutant is killed when they fail).", "",
             "| module | tests | mutants | killed | score |", "| --- | --- | --- | --- | --- |"]
    total = killed_total = 0
    for module in args.modules:
        own = [row for row in rows if row["module"] == module]
        killed = sum(row["outcome"].startswith("killed") for row in own)
        total, killed_total = total + len(own), killed_total + killed
        score = f"{killed / len(own):.0%}" if own else "-"
        lines.append(f"| `{module}` | {', '.join(MODULES[module])} | {len(own)} | {killed} | "
                     f"{score} |")
    lines.append(f"| all | | {total} | {killed_total} | "
                 f"{killed_total / max(total, 1):.0%} |")
    survivors = [row for row in rows if row["outcome"] == "survived"]
    if survivors:
        lines += ["", "Survivors (a mutation the tests did not notice):", "",
                  "| module | line | mutation | code |", "| --- | --- | --- | --- |"]
        lines += [f"| `{row['module']}` | {row['line']} | {row['mutation']} | "
                  f"`{row['original'].replace('|', '/')}` |" for row in survivors]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

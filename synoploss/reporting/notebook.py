"""Run GeneratePlots.ipynb headless: `python -m synoploss.reporting.notebook NOTEBOOK -p KEY=VALUE`.

The values override the notebook's cell tagged "parameters" (inserted as a cell after
it, as papermill does); a KEY that cell does not assign is refused before anything runs
(a mistyped parameter would otherwise leave the default in place, silently). The
executed copy goes to --output (default: not kept).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
except ImportError as error:  # the notebook extra: a plain `pip install .` leaves it out
    raise ImportError(f"running the notebook needs nbformat and nbclient ({error.name} is "
                      "missing): pip install 'synoploss[notebook]', or pip install -r "
                      "requirements.txt") from error


def parameter_names(notebook, notebook_path="notebook") -> list:
    """The names the cell tagged "parameters" assigns, in order."""
    position = parameters_cell(notebook, notebook_path)
    tree = ast.parse(notebook.cells[position].source)
    return [target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


def parameters_cell(notebook, notebook_path) -> int:
    position = next((index for index, cell in enumerate(notebook.cells)
                     if "parameters" in cell.get("metadata", {}).get("tags", [])), None)
    if position is None:
        raise ValueError(f"{notebook_path}: no cell tagged 'parameters'")
    return position


def parameterised(notebook_path, parameters: dict):
    """The notebook with `parameters` assigned in a cell after its "parameters" cell;
    ValueError for a name that cell does not assign."""
    notebook = nbformat.read(notebook_path, as_version=4)
    position = parameters_cell(notebook, notebook_path)
    known = parameter_names(notebook, notebook_path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValueError(f"{notebook_path}: no parameter {', '.join(unknown)} (it has "
                         f"{', '.join(known)})")
    source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    injected = nbformat.v4.new_code_cell(f"# injected parameters\n{source}")
    notebook.cells.insert(position + 1, injected)
    return notebook


def execute(notebook_path, parameters: dict, output=None, timeout=600, cwd=None):
    """Run the notebook with `parameters` in a Jupyter kernel; the executed notebook."""
    notebook = parameterised(notebook_path, parameters)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or Path.cwd())}})
    client.execute()
    if output:
        nbformat.write(notebook, output)
    return notebook


def strip_outputs(notebook_path) -> bool:
    """Remove outputs and execution counts in place; True if anything changed."""
    notebook = nbformat.read(notebook_path, as_version=4)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count = [], None
            changed = True
    if changed:
        nbformat.write(notebook, notebook_path)
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (string value)")
    parser.add_argument("--output", default=None, help="write the executed notebook here")
    parser.add_argument("--strip", action="store_true", help="only strip outputs in place")
    args = parser.parse_args(argv)
    if args.strip:
        print("stripped" if strip_outputs(args.notebook) else "already clean")
        return
    parameters = {}
    for item in args.parameter:
        key, separator, value = item.partition("=")
        if not separator or not key.isidentifier():
            parser.error(f"-p {item!r}: expected KEY=VALUE")
        parameters[key] = value
    try:
        notebook = execute(args.notebook, parameters, args.output)
    except CellExecutionError as error:
        sys.exit(f"notebook failed: {error}")
    except ValueError as error:
        parser.error(str(error))
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                print(output["text"], end="")


if __name__ == "__main__":
    main()

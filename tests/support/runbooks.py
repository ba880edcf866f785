"""Small runbook notebooks written by tests: a tagged parameters cell, a description and a body."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write_runbook(path: Path, parameters: str, *body: str) -> Path:
    """Write a runbook with ``parameters`` as its tagged cell followed by the ``body`` cells."""
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"), cell, *(new_code_cell(b) for b in body)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path

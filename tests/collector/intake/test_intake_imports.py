"""The intakes use their sibling modules' public names only (a private name of another
module is no contract: it may change under them without notice)."""

from __future__ import annotations

import ast
from pathlib import Path

import logship.collector.intake as intake_pkg


def test_intakes_import_no_private_names():
    found = []
    for path in sorted(Path(intake_pkg.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                found += [f"{path.name}: from {'.' * node.level}{node.module} import {a.name}"
                          for a in node.names if a.name.startswith("_") and a.name != "__future__"]
    assert found == []

"""The layout keeps its promises: one import package `logship`, layers that only import
downwards, a light client side, and a wheel that holds exactly the package.

Why these are tests: from the repository root a bare `import parser` still finds the
folder and would load a second copy of every module under another name; an upward import
makes the shipper drag DuckDB onto desktops; an editable install hides a package missing
from pyproject's list. None of these shows up in the other tests until a user hits it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.run import REPO

HEAVY = ("duckdb", "pyarrow", "lark")
SKIP_DIRS = {"build", "dist", "demo-data", "demo-live", "tour", "node_modules", "__pycache__"}


def _parts(root: Path) -> list[str]:
    """The sub-packages of `logship` named in pyproject (logship.X -> X), e.g. parser, store."""
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    names = meta["tool"]["setuptools"]["packages"]
    return sorted({n.split(".")[1] for n in names if n.count(".") >= 1})


def _own_names(root: Path) -> set[str]:
    """Names that must never be imported bare: the parts and the top-level modules (cli)."""
    return set(_parts(root)) | {p.stem for p in root.glob("*.py") if not p.stem.startswith("__")}


def _python_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                       and not d.endswith(".egg-info")]
        for f in filenames:
            if f.endswith(".py"):
                yield Path(dirpath) / f


# --- (a) one import name ----------------------------------------------------------

def bare_import_problems(root: Path) -> list[str]:
    """Every `import parser` / `from store import x` / `[..., "-m", "cli"]` of the project's
    own folders in any .py file, and every argv that runs `-m logship...` without -P."""
    own = _own_names(root)
    problems = []
    for path in _python_files(root):
        rel = path.relative_to(root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(rel))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, (ast.List, ast.Tuple)):
                words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None
                         for e in node.elts]
                for i, w in enumerate(words[:-1]):
                    target = words[i + 1]
                    if w != "-m" or target is None:
                        continue
                    if target.split(".")[0] in own:
                        problems.append(f"{rel}:{node.lineno}: runs `-m {target}`: use -m logship.{target}")
                    elif target.split(".")[0] == "logship" and "-P" not in words[:i]:
                        problems.append(f"{rel}:{node.lineno}: runs `-m {target}` without -P")
                continue
            else:
                continue
            for name in names:
                if name.split(".")[0] in own:
                    problems.append(f"{rel}:{node.lineno}: bare import of {name!r}: use logship.{name}")
    return problems


def test_no_bare_imports_of_the_project_folders():
    assert bare_import_problems(REPO) == []


def test_the_bare_import_check_finds_them(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    (tmp_path / "cli.py").write_text("import typer\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(
        "import os, watchdog.observers, parser.lalr\n"
        "from store import Store\n"
        "def f():\n    import cli\n"
        "ARGV = ['python', '-m', 'shipper.daemon']\n"
        "OK = ['python', '-P', '-m', 'logship', 'query']\n"
        "BAD = ('python', '-m', 'logship')\n")
    found = [p.split(": ", 1)[1] for p in bare_import_problems(tmp_path)]
    assert sorted(found) == sorted([
        "bare import of 'parser.lalr': use logship.parser.lalr",
        "bare import of 'store': use logship.store",
        "bare import of 'cli': use logship.cli",
        "runs `-m shipper.daemon`: use -m logship.shipper.daemon",
        "runs `-m logship` without -P",
    ])


# --- (b) layers -------------------------------------------------------------------

# part -> the logship parts it may import (besides itself). The top level (cli.py,
# __main__.py) may import everything; grammars/ holds data only.
LAYERS: dict[str, set[str]] = {
    "kernel": set(),
    "grammars": set(),
    "parser": {"kernel", "grammars"},
    "store": {"kernel", "parser"},
    "collector": {"kernel", "parser", "store"},
    "console": {"kernel", "parser", "store"},
    "shipper": {"kernel"},
    "clientlog": {"kernel"},
    "watch": {"kernel", "clientlog"},
}


def _imported_parts(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, part) for every logship part a module imports: absolute or relative,
    at the top or inside a function."""
    rel = path.relative_to(root)
    package = ["logship", *rel.parent.parts]  # the module's package, for relative imports
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(rel))):
        if isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = base + (node.module.split(".") if node.module else [])
            else:
                mod = (node.module or "").split(".")
            # `from logship import store` names the part in the imported names
            targets = [mod + [a.name] for a in node.names] if len(mod) == 1 else [mod]
        else:
            continue
        for t in targets:
            if t[0] == "logship" and len(t) > 1:
                found.append((node.lineno, t[1]))
    return found


def layer_problems(root: Path) -> list[str]:
    """Every import of a logship part that its layer does not allow."""
    problems = []
    for part in _parts(root):
        allowed = LAYERS.get(part)
        if allowed is None:
            problems.append(f"{part}/: a part with no layer in tests/test_layout.py LAYERS")
            continue
        for path in _python_files(root / part):
            for line, target in _imported_parts(path, root):
                if target != part and target not in allowed:
                    problems.append(f"{path.relative_to(root)}:{line}: {part} imports logship.{target}")
    return problems


def test_layers_import_only_downwards():
    assert layer_problems(REPO) == []


def test_the_layer_check_finds_an_upward_import(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    for part in _parts(REPO):
        (tmp_path / part).mkdir(parents=True, exist_ok=True)
        (tmp_path / part / "__init__.py").write_text("")
    (tmp_path / "kernel" / "bad.py").write_text("from logship.store import Store\n")
    (tmp_path / "parser" / "ok.py").write_text("from ..kernel.errors import LogshipError\nfrom . import lalr\n")
    (tmp_path / "shipper" / "bad.py").write_text("def f():\n    from ..parser import EntryParser\n")
    (tmp_path / "store" / "bad.py").write_text("from logship import collector\nimport logship.cli\n")
    (tmp_path / "collector" / "intake").mkdir()
    (tmp_path / "collector" / "intake" / "bad.py").write_text("from ...console import output\n")
    assert sorted(layer_problems(tmp_path)) == [
        "collector/intake/bad.py:1: collector imports logship.console",
        "kernel/bad.py:1: kernel imports logship.store",
        "shipper/bad.py:2: shipper imports logship.parser",
        "store/bad.py:1: store imports logship.collector",
        "store/bad.py:2: store imports logship.cli",
    ]


# --- (c) the client side stays light ------------------------------------------------

def _modules(part: str) -> list[str]:
    return sorted("logship." + ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                  for p in (REPO / part).rglob("*.py"))


LIGHT_PARTS = ("kernel", "shipper", "clientlog", "watch")
LIGHT_PROBES = {
    "modules": "import importlib\nfor m in %r: importlib.import_module(m)" % (
        [m for part in LIGHT_PARTS for m in _modules(part)] + ["logship.console.status"]),
    "ship --help": "from logship import cli\ntry:\n    cli.app(['ship', '--help'])\nexcept SystemExit:\n    pass",
    "backlog --help": "from logship import cli\ntry:\n    cli.app(['backlog', '--help'])\nexcept SystemExit:\n"
                      "    pass",
}


@pytest.mark.parametrize("name", list(LIGHT_PROBES))
def test_client_side_loads_no_collector_code(name):
    """The shipper, the client-log writer and the watchdog run on users' desktops: no
    duckdb, pyarrow or lark (nor logship's parser, store or collector) in their process."""
    probe = LIGHT_PROBES[name] + (
        "\nimport sys\nprint('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in %r"
        " or m.startswith(('logship.store', 'logship.parser', 'logship.collector'))))" % (HEAVY,))
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "HEAVY []"


# --- (d) the wheel ------------------------------------------------------------------

def _source_copy(dest: Path) -> Path:
    """The files git would commit (tracked and new, not ignored), copied to dest: the build
    then writes its build/ and *.egg-info there, never into the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    return dest


def test_the_wheel_holds_exactly_the_logship_package(tmp_path: Path):
    src = _source_copy(tmp_path / "src")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                            str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("logship-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info/"
    assert [n for n in names if not n.startswith(("logship/", dist_info))] == []
    # every package of the source tree is in the wheel (an editable install would hide a gap)
    source_modules = sorted({m for part in _parts(REPO) for m in _modules(part)}
                            | {"logship", "logship.cli", "logship.__main__"})
    wheel_modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py"))
    assert wheel_modules == source_modules
    lark = sorted(n for n in names if n.endswith(".lark"))
    assert lark == sorted(f"logship/grammars/{p.name}" for p in (REPO / "grammars").glob("*.lark"))
    assert "logship/grammars/README.md" in names
    entry = zipfile.ZipFile(wheel).read(dist_info + "entry_points.txt").decode()
    assert "logship = logship.cli:main" in entry

    unpacked = tmp_path / "wheel"
    zipfile.ZipFile(wheel).extractall(unpacked)
    importable = [m for m in wheel_modules if m != "logship.__main__"]  # that one runs the CLI
    probe = (f"import importlib, sys\nsys.path.insert(0, {str(unpacked)!r})\n"
             f"for m in {importable!r}:\n"
             f"    f = importlib.import_module(m).__file__\n"
             f"    assert f.startswith({str(unpacked)!r}), (m, f)\n"
             f"print('imported', {len(importable)})\n")
    # -I: no PYTHONPATH, no working directory on sys.path (only the unpacked wheel and the
    # venv's dependencies); run from elsewhere so nothing of the checkout can leak in.
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == f"imported {len(importable)}"
    # and the grammars load from the wheel: `logship formats` lists the shipped formats
    fmts = subprocess.run([sys.executable, "-I", "-c", f"import sys\nsys.path.insert(0, {str(unpacked)!r})\n"
                           "sys.argv = ['logship', 'formats', '--no-samples']\nfrom logship.cli import main\nmain()"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert fmts.returncode == 0, fmts.stderr[-2000:]
    assert len(fmts.stdout.splitlines()) == len(lark) - 1  # common.lark is shared rules, not a format
    assert str(unpacked) in fmts.stdout

"""Which source files a module's behaviour depends on: the transitive closure of its imports
within the `explorer` package, read statically from the import statements.

One answer, used twice: a run's fingerprint hashes these files (explorer/rl/state.py), so a resume
point or a finished run is not reused under other code; and tests/test_layout.py checks that each
DVC stage lists exactly these files as `deps` in dvc.yaml, so the lists cannot drift apart.
Package data files (e.g. the reader's country table) count as code of their package.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # .../explorer
ROOT_DIR = PACKAGE_DIR.parent
DATA_SUFFIXES = (".tsv", ".txt", ".json")  # package data that code reads with importlib.resources


def module_file(module: str) -> Path | None:
    """The source file of an `explorer.*` module or package, or None if there is none."""
    path = ROOT_DIR.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _imports(file: Path, module: str) -> set[str]:
    """`explorer` modules named by the import statements of one file (also inside functions)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "explorer")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "explorer":
                continue
            found.add(base)
            # `from explorer import tokens` imports the module explorer.tokens
            found.update(f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}") is not None)
    return found


@cache
def closure(module: str) -> frozenset[str]:
    """`module` and every `explorer` module it imports, directly or not, with their packages."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        file = module_file(m)
        if file is None:
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b.c runs a and a.b
        todo.extend(_imports(file, m))
    return frozenset(seen)


def source_files(*modules: str) -> list[str]:
    """The files behind `closure(m)` for each module, as sorted paths relative to the project
    root (`explorer/env.py`, ...), package data files included."""
    files: set[Path] = set()
    for module in modules:
        for m in closure(module):
            file = module_file(m)
            assert file is not None
            files.add(file)
            if file.name == "__init__.py":
                files.update(p for p in file.parent.iterdir() if p.suffix in DATA_SUFFIXES)
    return sorted(str(f.relative_to(ROOT_DIR)) for f in files)


def code_hash(*modules: str) -> str:
    """A hash of every source file the modules depend on (names and contents)."""
    h = hashlib.sha256()
    for name in source_files(*modules):
        h.update(name.encode() + b"\0" + (ROOT_DIR / name).read_bytes())
    return h.hexdigest()[:16]


def sync_dvc_yaml(path: Path) -> bool:
    """Rewrite each stage's explorer/ deps in dvc.yaml to exactly `source_files` of its module
    (data deps stay first, in their order; comments are kept). Returns whether anything changed."""
    from ruamel.yaml import YAML  # only this maintenance command needs it

    rt = YAML()
    rt.preserve_quotes, rt.width = True, 200
    doc = rt.load(path.read_text(encoding="utf-8"))
    before = path.read_text(encoding="utf-8")
    for name, stage in doc["stages"].items():
        stage["deps"] = [d for d in stage.get("deps", []) if not str(d).startswith("explorer/")] + source_files(f"explorer.stages.{name}")
    with path.open("w", encoding="utf-8") as f:
        rt.dump(doc, f)
    return path.read_text(encoding="utf-8") != before


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--sync"]:
        sys.exit("usage: python -m explorer.codedeps --sync   (rewrites dvc.yaml's code deps from the imports)")
    changed = sync_dvc_yaml(ROOT_DIR / "dvc.yaml")
    print("dvc.yaml: code deps updated" if changed else "dvc.yaml: code deps already match the imports")

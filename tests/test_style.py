"""The code's shape, checked as CI checks everything else: the import layers (import-linter,
configured in pyproject.toml), ruff's lint and format, no function-local `explorer` imports, and
no file in explorer/ over 400 lines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return str(path if path.exists() else shutil.which(name))


def test_import_layers_and_no_cycles():
    out = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_ruff_lint_and_format():
    lint = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = subprocess.run([_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_no_function_local_explorer_imports_and_no_long_files():
    local_imports, long_files = [], []
    for path in sorted((ROOT / "explorer").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        local_imports += [f"{path.relative_to(ROOT)}:{i}" for i, ln in enumerate(lines, 1) if re.match(r"^\s+(from|import) explorer", ln)]
        if len(lines) > 400:
            long_files.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert local_imports == [], "function-local explorer imports hide cycles; import at the top"
    assert long_files == []

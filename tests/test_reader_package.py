"""The layout of explorer/reader: modules in layers, small files, the country table as data."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import explorer.reader
from explorer.reader.countries import COUNTRY_LEVEL, COUNTRY_OF, REGIONS

PACKAGE = Path(explorer.reader.__file__).parent
# each module may import only the modules before it (no cycles, a reading order)
LAYERS = ["text", "countries", "dates", "names", "paragraphs", "relations", "places", "attributes", "questions", "solve", "ranking"]


def _reader_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("explorer.reader."):
            names.add(node.module.removeprefix("explorer.reader."))
    return names


def test_every_module_is_in_a_layer():
    assert sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__") == sorted(LAYERS)


def test_modules_import_only_earlier_layers_and_only_at_the_top():
    for i, name in enumerate(LAYERS):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        assert _reader_imports(tree) <= set(LAYERS[:i]), name
        top_level = set(tree.body)
        nested = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and n not in top_level]
        assert not nested, f"{name}.py imports inside a function (line {nested[0].lineno})"


def test_no_file_of_the_package_is_over_400_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.iterdir() if p.suffix in (".py", ".tsv")}
    assert max(sizes.values()) <= 400, sizes


def test_the_public_api():
    assert explorer.reader.__all__ == ["answer_question", "is_sufficient", "relevance"]


def test_the_country_table():
    lines = (PACKAGE / "countries.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    assert rows[0] == ["country", "name", "kind"]
    assert {len(r) for r in rows} == {3}
    names = [name for _, name, _ in rows[1:]]
    assert len(names) == len(set(names)), "a name is listed twice"
    assert {kind for _, _, kind in rows[1:]} == {"nationality", "region"}
    assert len(COUNTRY_OF) == len(names) and REGIONS == {name for _, name, kind in rows[1:] if kind == "region"}
    # a region is finer than a country: "Texas" may answer "where?", "United States" may not
    assert COUNTRY_OF["Texas"] == "United States" and "Texas" not in COUNTRY_LEVEL and "American" in COUNTRY_LEVEL


def test_the_country_table_is_package_data():
    pyproject = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert "countries.tsv" in pyproject["tool"]["setuptools"]["package-data"]["explorer.reader"]

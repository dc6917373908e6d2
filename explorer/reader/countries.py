"""Countries, demonyms and the regions that imply a country (the table is countries.tsv).

Used both to read a nationality ("an American film director") and to compare two of them
("same country?"), and by the name and place readers, which skip or refuse nationality words
("directed by Irish filmmaker X", "born in Georgia" is no birthplace answer)."""

from __future__ import annotations

import re
from importlib import resources

_TABLE_COLUMNS = ["country", "name", "kind"]


def _load_country_index() -> tuple[dict[str, str], set[str], re.Pattern[str]]:
    """(name -> canonical country, region names, a regex finding any name) from countries.tsv."""
    index: dict[str, str] = {}
    regions: set[str] = set()  # implies the country but is no nationality word
    table = resources.files("explorer.reader").joinpath("countries.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in table.splitlines() if line.strip() and not line.startswith("#")]
    if rows[0] != _TABLE_COLUMNS:
        raise ValueError(f"countries.tsv: header {rows[0]}, expected {_TABLE_COLUMNS}")
    for country, name, kind in rows[1:]:
        if kind == "region":
            regions.add(name)
        elif kind != "nationality":
            raise ValueError(f"countries.tsv: {name!r} has kind {kind!r} (nationality | region)")
        index.setdefault(name, country)
    alternation = "|".join(re.escape(n) for n in sorted(index, key=len, reverse=True))
    # Case-sensitive: demonyms are capitalised, so "american football" style noise is rare.
    return index, regions, re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-]|-born)")


COUNTRY_OF, REGIONS, _COUNTRY_RE = _load_country_index()
# a place answer should be finer than a country ("born in Tbilisi, Georgia" -> "Tbilisi")
COUNTRY_LEVEL = set(COUNTRY_OF.values()) | (set(COUNTRY_OF) - REGIONS)
# words of nationality names, skipped before a name ("directed by Irish filmmaker X",
# "by Northern Irish singer-songwriter Van Morrison")
_DEMONYM_WORDS = {w for n in COUNTRY_OF if n not in REGIONS for w in n.split()}
# country names (canonical or not) are no adjectives: a name may end "of Austria" or "of
# England", but an adjective ends the name ("Sherman of American Civil War fame")
_COUNTRY_NAMES = set(COUNTRY_OF.values()) | set(
    "UK USA U.S. Britain Holland Burma Ceylon Persia Korea Prussia Bohemia Zaire America England Scotland Wales Czechia".split()
)


def is_demonym_word(tok: str) -> bool:
    """A nationality word or a word of one ("Irish", "Northern", "Irish-American", "British/
    American"): name readers skip it before a name."""
    parts = [p for p in re.split(r"[-/]", tok.rstrip(",")) if p]
    return bool(parts) and all(p in _DEMONYM_WORDS for p in parts)


def is_adjective_demonym(tok: str) -> bool:
    """ "American", "Irish-American" but not "Austria" (a name may end "of Austria", not "of
    American ...") nor "New" (a word of "New Zealander")."""
    parts = [p for p in re.split(r"[-/]", tok.rstrip(",")) if p]
    return bool(parts) and all(p in COUNTRY_OF and p not in REGIONS and p not in _COUNTRY_NAMES for p in parts)


def country_mentions(text: str) -> list[tuple[int, str, str]]:
    """(position, name as written, canonical country) of every name of the table in `text`."""
    return [(m.start(), m.group(0), COUNTRY_OF[m.group(0)]) for m in _COUNTRY_RE.finditer(text)]

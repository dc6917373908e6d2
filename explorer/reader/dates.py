"""Dates: every date written in a text ("9 April 1765", "March 3, 1901", "1935", "399 BC") with
a sortable value, and a biography's birth and death dates from its opening parenthesis
("(6 June 1906, Graz – 2 November 1994, Le Plessis-Bouchard)") or "born ... / died ..."."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_MONTHS = {
    m: i + 1
    for i, ms in enumerate(
        [
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ]
    )
    for m in ms.split()
}
# the month words of a date, for patterns built elsewhere ("(born Versailles, 3 April 1806")
MONTH_PATTERN = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"
)
_DATE_RE = re.compile(
    rf"(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m1>{MONTH_PATTERN})\.?,?\s*(?P<y1>\d{{1,4}})(?!\d)"
    rf"|(?P<m2>{MONTH_PATTERN})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:,\s*|\s+)(?P<y2>\d{{1,4}})(?!\d)"
    rf"|(?P<m3>{MONTH_PATTERN})\.?,?\s+(?P<y3>\d{{3,4}})(?!\d)"
    r"|(?<![\d.,/])(?P<y4>\d{3,4})(?![\d/]|\s*(?:million|people|km|m\b|metres|feet|ft)))"
    r"(?P<era>\s*(?:BC|BCE|B\.C\.|AD|CE)\b)?"
)

# capitalised month words: no name or place starts with one ("in March 1950")
MONTH_WORDS = {m.capitalize() for m in _MONTHS}


class Date(NamedTuple):
    text: str  # as written, e.g. "9 April 1765"
    sort: tuple[int, int, int]  # (year, month, day); unknown parts are 0
    start: int
    end: int


def find_dates(text: str, start: int = 0, end: int | None = None) -> list[Date]:
    """Dates in `text` that start inside [start, end) (a date may run past `end`)."""
    out = []
    end = len(text) if end is None else end
    for m in _DATE_RE.finditer(text, start):
        if m.start() >= end:
            break
        g = m.groupdict()
        year = int(g["y1"] or g["y2"] or g["y3"] or g["y4"])
        month_word = (g["m1"] or g["m2"] or g["m3"] or "").lower()
        day = int(g["d1"] or g["d2"] or 0)
        if day > 31:
            continue
        era = (g["era"] or "").strip()
        if era.startswith("B"):
            year = -year
        out.append(Date(m.group(0).strip(), (year, _MONTHS.get(month_word, 0), day), m.start(), m.end()))
    return out


_DASH = re.compile(r"\s*[–—-]\s*|\s+to\s+")


def opening_paren(text: str) -> tuple[int, int]:
    """Span of the first parenthesis near the start that holds a date (the "(born ...)" or
    "(1 May 1900 - 2 June 1980)" block of a biography); (-1, -1) if none."""
    pos = 0
    limit = min(len(text), 350)
    while True:
        i = text.find("(", pos, limit)
        if i < 0:
            return -1, -1
        depth, j = 0, i
        while j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if _DATE_RE.search(text, i, j):
            return i + 1, j
        pos = j + 1


class Life(NamedTuple):
    birth: Date | None
    death: Date | None
    birth_part: tuple[int, int]  # span of the opening parenthesis that describes birth
    death_part: tuple[int, int]


@lru_cache(maxsize=4096)
def life_dates(text: str) -> Life:
    """Birth and death dates of the paragraph's subject."""
    birth = death = None
    bpart = dpart = (-1, -1)
    a, b = opening_paren(text)
    if a >= 0:
        inner = text[a:b]
        ds = find_dates(text, a, b)
        # split birth/death at a dash that follows the first date, or at "died"/"d."
        split = None
        m = re.search(r";\s*(?:died|d\.)|\bdied\b", inner)
        if m:
            split = a + m.start()
        else:
            for dm in _DASH.finditer(inner):
                left = inner[: dm.start()].split(";")[-1]
                # a dash after the first date ("1 May 1900 - 2 June 1980"), or one with
                # nothing dated before it ("(- 399 BC)", "born Ioseb J.; - 5 March 1953")
                if not ds or dm.start() + a >= ds[0].end or not left.strip(" ,c.?"):
                    if "-born" in inner[dm.start() - 1 : dm.end() + 5]:
                        continue
                    split = a + dm.start()
                    break
        if split is None:
            born_kw = re.search(r"\b(?:born|b\.)", inner)
            if ds:
                if born_kw or len(ds) == 1:
                    birth = ds[0]
                else:
                    birth, death = ds[0], ds[1]
            bpart = (a, b)
        else:
            before = [d for d in ds if d.end <= split]
            after = [d for d in ds if d.start >= split]
            birth = before[-1] if before else None
            death = after[0] if after else None
            bpart, dpart = (a, split), (split, b)
    if birth is None:
        m = re.search(r"\b[Bb]orn\b[^.;()]{0,60}?", text)
        if m:
            ds = find_dates(text, m.end(), m.end() + 40)
            birth = ds[0] if ds else None
    if death is None:
        for m in re.finditer(r"\b(?:died|death|d\.)\s", text):
            ds = find_dates(text, m.end(), m.end() + 60)
            if ds:
                death = ds[0]
                break
    return Life(birth, death, bpart, dpart)

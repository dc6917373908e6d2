"""Places of a biography: birthplace and deathplace from the opening parenthesis ("(6 June 1906,
Graz – 2 November 1994, Le Plessis-Bouchard)"), "born ... in X", "died ... at X", "a
London-born ...", and the bare city a gold answer names ("Hollywood", not "Hollywood,
California"; never a country when a town is stated)."""

from __future__ import annotations

import re

from explorer.reader.countries import COUNTRY_LEVEL, COUNTRY_OF, is_adjective_demonym
from explorer.reader.dates import MONTH_PATTERN, MONTH_WORDS, find_dates, life_dates
from explorer.reader.names import LEAD_TITLES, TOKEN_RE, name_at

# words before a place's name that are no part of it ("in the small town of X", "in present-day X")
_PLACE_SKIP = set(
    "the a an city town village small of near suburb district hamlet port capital then present-day "
    "modern what is now rural area region province municipality county neighborhood community".split()
)
# languages and film industries, capitalised like places: "in Hindi films" names no place
_LANGUAGES = set(
    "Hindi Tamil Telugu Malayalam Kannada Bengali Marathi Urdu Cantonese Mandarin Tagalog Sinhala "
    "Gujarati Odia Oriya Assamese Bollywood Lollywood Catalan Basque Flemish English Latin".split()
)


def place_after(text: str, pos: int) -> str:
    """Place name after "in"/"at": the first capitalised run, city only (gold answers are
    usually the bare city: "Hollywood" for "Hollywood, California")."""
    skipped = 0
    for m in TOKEN_RE.finditer(text, pos, min(len(text), pos + 100)):
        tok = m.group(0).strip('"“”')
        if tok.lower() in _PLACE_SKIP and skipped < 5:
            skipped += 1
            continue
        bare = tok.rstrip(",.")
        # not "in 1950", "in March", "in European history", "in Hindi films"
        if not tok or not tok[0].isupper() or bare in MONTH_WORDS or is_adjective_demonym(bare) or bare in _LANGUAGES:
            return ""
        return name_at(text, m.start(), max_tokens=5)
    return ""


def _place_in_span(text: str, a: int, b: int) -> str:
    """A place inside a life-dates parenthesis part: "6 June 1906, Graz", "in Lyon",
    "Milan, 4 August 1922", "born 1943 in Ardmore, County Waterford"."""
    part = text[a:b]
    m = re.search(r"\b(?:in|at|near)\s+(?=[A-Z])", part)
    if m:
        return place_after(text, a + m.end())
    ds = find_dates(text, a, b)
    if ds:
        after = text[ds[0].end : b]
        m = re.match(r"\s*,\s*(?=[A-Z])", after)
        if m:
            return name_at(text, ds[0].end + m.end(), max_tokens=5)
        before = text[a : ds[0].start]
        m = re.search(r"(?:^|[;(–—-]|\bborn|\bdied)\s*([A-Z][^,;()]{1,40}),\s*$", before)
        # "(Milan, 4 August 1922 -" but not a birth name "(born Jens Vera Cruz Bosen, 1884"
        if m and not re.match(r"(?:born|c\.)", m.group(1)) and len(m.group(1).split()) <= 2:
            return name_at(text, a + m.start(1), max_tokens=5)
    return ""


def birthplace(text: str) -> str:
    """Birth place: the opening parenthesis, then "born ... in/at/near X", "(born X, <date>",
    "a native of X", "a London-born ..."."""
    backup = ""  # a country ("born in Georgia") only if nothing finer is stated
    life = life_dates(text)
    if life.birth_part[0] >= 0:
        p = _place_in_span(text, *life.birth_part)
        if p and p not in COUNTRY_LEVEL:
            return p
    for m in re.finditer(r"\b[Bb]orn\b", text):
        seg = text[m.end() : m.end() + 120]
        stop = re.search(r"[.;]\s|\bdied\b|\)", seg)
        seg_end = m.end() + (stop.start() if stop else len(seg))
        for im in re.finditer(r"\b(?:in|at|near)\s+", text[m.end() : seg_end]):
            p = place_after(text, m.end() + im.end())
            if p and p not in COUNTRY_LEVEL:
                return p
            backup = backup or p
        # "(born Versailles, 3 April 1806" but not a birth name "(born Robert Allen Zimmerman;"
        pm = re.match(
            r"\s+([A-Z][^\s,;()]+(?:\s[A-Z][^\s,;()]+)?)(?:,\s*[A-Z][^,;()]{1,30})?"
            r",\s*(?=\d|" + MONTH_PATTERN + ")",
            text[m.end() : m.end() + 60],
        )
        if pm and pm.group(1) not in COUNTRY_LEVEL and pm.group(1) not in MONTH_WORDS:
            return pm.group(1)
    m = re.search(r"\b(?:native of|hails from|is from|was from)\s+", text)
    if m:
        p = place_after(text, m.end())
        if p and p not in COUNTRY_LEVEL:
            return p
    m = re.search(r"\b([A-Z][\w.]+(?:\s+[A-Z][\w.]+)?)-born\b", text)  # "a London-born editor"
    if m and m.group(1) not in COUNTRY_OF:
        return m.group(1)
    return backup


def deathplace(text: str) -> str:
    """Death place: the death half of the opening parenthesis, then "died ... in/at X"."""
    backup = ""
    life = life_dates(text)
    if life.death_part[0] >= 0:
        p = _place_in_span(text, *life.death_part)
        if p and p not in COUNTRY_LEVEL:
            return p
    for m in re.finditer(r"\b(?:died|death|killed|d\.)\b", text):
        seg = text[m.end() : m.end() + 140]
        stop = re.search(r"[.;]\s|\)", seg)
        seg_end = m.end() + (stop.start() if stop else len(seg))
        for im in re.finditer(r"\b(?:in|at)\s+", text[m.end() : seg_end]):
            p = place_after(text, m.end() + im.end())
            if p and p not in COUNTRY_LEVEL:
                return p
            backup = backup or p
    return backup


def any_place(text: str) -> str:
    """Last resort for a birth/death place the paragraph does not state as such: the first
    "in/at/from <Place>", else "to <Place>" ("Moving to Buenos Aires at a young age")."""
    for cue in (r"\b(?:in|at|from)\s+(?=[A-Z])", r"\b(?:to)\s+(?=[A-Z])"):
        for m in re.finditer(cue, text):
            p = place_after(text, m.end())
            if p and p not in COUNTRY_LEVEL and not p[0].isdigit() and not p.endswith(("'s", "’s")) and p.split()[0] not in LEAD_TITLES:
                return p
    return ""

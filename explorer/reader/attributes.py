"""Attribute readers: what a paragraph says about its subject, one reader per attribute a
question asks for (nationality, a place's or work's country, cause of death, education,
burial, employer, award, release date), and `read_attr`, which maps a question's attribute
to its reader and gives the value an answer and a comparison need."""

from __future__ import annotations

import re
from functools import lru_cache

from explorer.reader.countries import COUNTRY_LEVEL, COUNTRY_OF, REGIONS, country_mentions
from explorer.reader.dates import Date, find_dates, life_dates, opening_paren
from explorer.reader.names import NAME_BARRIERS, name_at
from explorer.reader.paragraphs import Para
from explorer.reader.places import any_place, birthplace, deathplace, place_after
from explorer.reader.text import base_title, match_key, sentence_end


@lru_cache(maxsize=4096)
def nationality(text: str) -> tuple[str, str]:
    """(answer form, canonical country) of the paragraph's subject.

    The canonical country (for "same nationality?") prefers the word after "is a"/"was an"
    in the opening sentence ("was a German-born Chilean film director" -> Chile). The answer
    form follows how 2Wiki wrote its gold strings: the paragraph's first nationality word
    ("American", "Austria" in "(born 1908 in Bad Ischl, Austria)"), except that English,
    Scottish and Welsh people are "British" (Wikidata: United Kingdom) and Indians "India"
    (every such gold answer in train)."""
    ments = [m for m in country_mentions(text) if m[1] not in REGIONS]
    if not ments:
        return "", ""
    word, country = ments[0][1], ments[0][2]
    answer = {"United Kingdom": "British", "India": "India"}.get(country, word)
    m = re.search(r"\b(?:is|was|are|were)\s+(?:an?|the)\b", text)
    if m:
        sent_end = sentence_end(text, m.end())
        for pos, _, c in ments:
            if m.start() <= pos < sent_end:
                country = c
                break
    return answer, country


_WORK_NOUN = re.compile(
    r"\b(?:film|movie|documentary|series|band|group|album|song|magazine|newspaper|novel|"
    r"company|programme|program|show|drama|comedy|thriller|sitcom|opera)\b"
)


def location_country(para: Para) -> str:
    """Country of a place, work or organisation, for "located in / from the same country?".

    People: their nationality. Works: the demonym of the opening sentence ("is a 1982
    Nicaraguan film"). Places: the last country word of the opening sentence ("a village in
    ..., East Azerbaijan Province, Iran"; "in Moultrie, Georgia, United States")."""
    text = para.text
    if opening_paren(text)[0] >= 0 or re.search(r"\bborn\b", text[:200]):
        country = nationality(text)[1]
        if country:
            return country
    # skip the subject's own name ("Malian, Hamadan is a village ...")
    start = len(base_title(para.title)) if match_key(text[: len(para.title) + 5]).startswith(para.base_key) else 0
    ments = [m for m in country_mentions(text) if m[0] >= start]
    if not ments:
        return ""
    end = sentence_end(text, start)
    first_sentence = [m for m in ments if m[0] < end]
    if first_sentence:
        if _WORK_NOUN.search(text, 0, end):
            return first_sentence[0][2]
        return first_sentence[-1][2]
    return ments[0][2]


_CAUSES = [
    "heart attack",
    "heart failure",
    "myocardial infarction",
    "lung cancer",
    "stomach cancer",
    "pancreatic cancer",
    "breast cancer",
    "liver cancer",
    "prostate cancer",
    "brain tumor",
    "leukemia",
    "cancer",
    "stroke",
    "pneumonia",
    "tuberculosis",
    "suicide",
    "drowning",
    "cirrhosis",
    "diabetes",
    "kidney failure",
    "renal failure",
    "AIDS",
    "Alzheimer's disease",
    "Parkinson's disease",
    "car accident",
    "traffic collision",
    "plane crash",
    "aviation accident",
    "assassination",
    "murder",
    "execution",
    "hanged",
    "hanging",
    "cerebral hemorrhage",
    "heart disease",
    "natural causes",
    "influenza",
    "malaria",
    "cholera",
    "smallpox",
    "overdose",
    "emphysema",
    "sepsis",
    "COVID-19",
]
_CAUSE_RE = re.compile("|".join(re.escape(c) for c in _CAUSES), re.I)


_DIED_OF = re.compile(
    r"\b(?:died|death|dying|succumbed)\s+(?:\w+\s+){0,3}?(?:of|from|due to|to)\s+"
    r"(?:an?\s+|the\s+|complications\s+(?:of|from)\s+|(?:a\s+)?(?:sudden|long|short|"
    r"brief|massive)\s+)*([a-zA-Z' -]+?)(?=\s+(?:in|at|on|aged|while|after|and)\b|[,.;(]|$)"
)

# a short lower-case phrase after "died of" is the cause unless it opens like these: no cause
# is named in "died in 1950", "died of his wounds", "died of old age"
_NOT_A_CAUSE = NAME_BARRIERS | {"his", "her", "their", "a", "the", "old", "natural"}


def cause_of_death(text: str) -> str:
    """ "died of a heart attack" -> "heart attack"; a known cause anywhere as a fallback."""
    for m in _DIED_OF.finditer(text):
        phrase = m.group(1).strip()
        km = _CAUSE_RE.search(phrase)
        if km:
            return km.group(0)
        words = phrase.split()
        if 0 < len(words) <= 3 and phrase.islower() and words[0] not in _NOT_A_CAUSE:
            return phrase
    m = _CAUSE_RE.search(text)
    if m:
        return m.group(0)
    if re.search(r"\b(?:was|were)\s+(?:assassinated|murdered|killed)\b", text):
        return "assassination" if "assassin" in text else "murder"
    if re.search(r"\bexecuted\b", text):
        return "execution"
    return ""


_INSTITUTION = re.compile(
    r"(?:[A-Z][\w'.&-]*,?\s+(?:and\s+)?){0,5}(?:University|College|School|Institute|Academy|"
    r"Conservatory|Conservatoire|Polytechnic|Lyceum|Gymnasium|Seminary|Université|Universität|"
    r"Universidad|Università)(?:\s+(?:of|for)\s+(?:the\s+)?[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,3})?"
)
_EDU_CUE = re.compile(
    r"\b(?:graduated|graduate|graduating|studied|educated|attended|alumnus|alumna|enrolled|"
    r"degree|studies|trained|study|studying)\b"
)


def education(text: str) -> str:
    """Institution after an education cue ("studied film in London at London Film School");
    any named institution beats the first capitalised words after "in"/"at"."""
    fallback = ""
    for m in _EDU_CUE.finditer(text):
        end = min(sentence_end(text, m.end()), m.end() + 120)
        im = _INSTITUTION.search(text, m.end(), end)
        if im:
            return im.group(0).strip()
        pm = re.compile(r"\b(?:from|at|of|in)\s+(?:the\s+)?(?=[A-Z])").search(text, m.end(), end)
        if pm and not fallback:
            n = name_at(text, pm.end(), max_tokens=7)
            if n and n not in COUNTRY_LEVEL:
                fallback = n
    im = _INSTITUTION.search(text)
    return im.group(0).strip() if im else fallback


def burial(text: str) -> str:
    m = re.search(
        r"\b(?:buried|interred|entombed|laid to rest|grave\s+is|remains\s+(?:are|were))\b"
        r"(?:\s+\w+){0,3}?\s+(?:in|at)\s+",
        text,
    )
    if m:
        return place_after(text, m.end())
    m = re.search(r"(?:[A-Z][\w'.-]*\s+){1,4}(?:Cemetery|Cathedral|Abbey|Church|Mausoleum)", text)
    return m.group(0).strip() if m else ""


def employer(text: str) -> str:
    m = re.search(
        r"\b(?:worked|works|working|employed|taught|teaches|professor|lecturer|joined|employee)"
        r"\b(?:\s+\w+){0,3}?\s+(?:at|for|by|of)\s+(?:the\s+)?(?=[A-Z])",
        text,
    )
    if m:
        return name_at(text, m.end(), max_tokens=7)
    im = _INSTITUTION.search(text)
    return im.group(0).strip() if im else ""


def award(text: str) -> str:
    m = re.search(
        r"\b(?:won|received|awarded|recipient of|winner of|honored with|honoured with)\s+"
        r"(?:the\s+|an?\s+|two\s+|three\s+|several\s+)?(?=[A-Z])",
        text,
    )
    if m:
        n = name_at(text, m.end(), max_tokens=9)
        if n and n not in COUNTRY_OF and not re.match(r"(?:Bachelor|Master|Doctor|Ph)", n):
            return n
    m = re.search(
        r"(?:[A-Z][\w'.-]*\s+){1,5}(?:Award|Prize|Medal|Order)\b(?:\s+for\s+[A-Z]"
        r"[\w]*(?:\s+[A-Z][\w]*){0,3})?",
        text,
    )
    return m.group(0).strip() if m else ""


def release_date(text: str) -> Date | None:
    """Release / publication date of a work: "is a 1982 Nicaraguan film", "released on ..."."""
    m = re.search(r"\b(?:released|premiered|published|issued|aired)\b[^.;]{0,40}?", text)
    if m:
        ds = find_dates(text, m.end(), m.end() + 40)
        if ds:
            return ds[0]
    for d in find_dates(text, 0, 400):
        if 1000 <= d.sort[0] <= 2030:
            return d
    ds = find_dates(text)
    return ds[0] if ds else None


def read_attr(attr: str, para: Para) -> tuple[str, object]:
    """(answer text, comparable value) of `attr` in the paragraph; ('', None) if absent."""
    text = para.text
    if attr in ("birth", "death"):
        life = life_dates(text)
        d = life.birth if attr == "birth" else life.death
        return (d.text, d.sort) if d else ("", None)
    if attr == "lifespan":
        life = life_dates(text)
        if life.birth and life.death:
            b, d = life.birth.sort, life.death.sort
            return "", (d[0] - b[0]) * 372 + (d[1] - b[1]) * 31 + (d[2] - b[2])
        return "", None
    if attr == "release":
        d = release_date(text)
        return (d.text, d.sort) if d else ("", None)
    if attr == "nationality":
        word, country = nationality(text)
        return word, country or None
    if attr == "country":
        c = location_country(para)
        return c, c or None
    if attr in ("birthplace", "deathplace", "burial"):
        # The paragraph may not state this place. People often die (and are buried) where
        # they were born or lived, so another stated place of theirs beats no answer.
        order = {
            "birthplace": (birthplace, deathplace),
            "deathplace": (deathplace, birthplace),
            "burial": (burial, deathplace, birthplace),
        }[attr]
        for extract in order:
            p = extract(text)
            if p:
                return p, match_key(p)
        p = any_place(text)
        return p, match_key(p) or None
    extract = {
        "cause": cause_of_death,
        "education": education,
        "employer": employer,
        "award": award,
    }.get(attr)
    if extract is None:
        return "", None
    v = extract(text)
    return v, v or None

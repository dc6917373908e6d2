"""Relations between paragraphs: reading the object of a relation (director, composer,
performer, producer, founder, publisher, father, mother, spouse, sibling, child) from cue
phrases ("directed by", "son of A and B", "married") and following it to the object's own
paragraph (the "bridge"), with fallbacks for objects named without a known cue."""

from __future__ import annotations

import re
from collections.abc import Sequence

from explorer.reader.names import FEMALE_MARKERS, FEMALE_NAMES, name_after, name_after_span, same_person
from explorer.reader.paragraphs import Para, resolve_name
from explorer.reader.text import base_title, find_folded, match_key

# Cue patterns whose following name is the relation's object. Order matters: the first
# cue found in the paragraph wins, so precise cues come first.
_REL_CUES: dict[str, list[str]] = {
    "director": [
        r"\b(?:co-)?direct(?:ed|ing)(?:,?\s+(?:written|produced|and|co-written|edited|scripted"
        r"|photographed|starring)[\w\s,-]{0,40}?)?\s+by\b",
        r"\bdirector\s+(?=[A-Z])",
        r"\bfrom\s+director\b",
        r"\bfilm\s+by\b",
        r"\bDirected\s+by\b",
        r"\b(?:written|produced)\s+and\s+directed\s+by\b",
        r"\bfilm\s+of\b",
    ],
    "composer": [
        r"\bmusic\s+(?:was\s+|is\s+)?(?:composed|scored|written|given|directed)\s+by\b",
        r"\b(?:composed|scored)\s+by\b",
        r"\bmusic\s+(?:is\s+)?by\b",
        r"\bscore\s+by\b",
        r"\bcomposer\s+(?=[A-Z])",
        r"\bmusic\s+director\s+(?=[A-Z])",
        r"\bwritten\s+by\b",
        r"\bsongs?\s+by\b",
    ],
    "performer": [
        r"\b(?:recorded|performed|sung|released)\s+by\b",
        r"\b(?:song|single|album|duet|track|EP|ballad|number|version|recording)\s+"
        r"(?:(?!written|composed|produced)\w+\s+){0,3}?by\b",
        r"\brecorded\s+(?:\w+\s+){0,5}?by\b",
        r"\bby\b",
    ],
    "producer": [r"\bproduced\s+by\b", r"\bproducer\s+(?=[A-Z])"],
    "founder": [
        r"\b(?:founded|established|started|formed|co-founded)\s+(?:[\w,]+\s+){0,5}?by\b",
        r"\bfounder\s+(?=[A-Z])",
        r"\bcreated\s+by\b",
        r"\bfounders?\s+(?:was|were|is)\b",
    ],
    "publisher": [r"\bpublished\s+(?:\w+\s+){0,3}?by\b", r"\bpublisher\s+(?=[A-Z])"],
    "father": [
        r"\b(?:son|daughter|child|children|sons|daughters|heir|grandson)\s+of\b",
        r"\b(?:his|her)\s+father,?",
        r"\bfather\s+(?:was|is)\b",
        r"\bborn\s+to\b",
    ],
    "mother": [
        r"\b(?:his|her)\s+mother,?",
        r"\bmother\s+(?:was|is)\b",
    ],
    "spouse": [
        r"\b(?:[Ww]ife|[Hh]usband|[Ww]idow|[Ww]idower|[Ss]pouse|[Cc]onsort)\s+(?:of|to)\b",
        r"\b(?:was|is|were|got|been)\s+married\s+(?:to\s+)?",
        r"\bmarried\s+(?:to\s+)?",
        r"\b(?:his|her)\s+(?:\w+\s+)?(?:wife|husband|spouse),?",
        r"['’]s\s+(?:\w+\s+)?(?:wife|husband|spouse)\s+(?:was|is)?",
        r"\bmarriage\s+to\b",
    ],
    "sibling": [
        r"\b(?:brother|sister|sibling)\s+of\b",
        r"\b(?:his|her)\s+(?:\w+\s+)?(?:brother|sister),?",
    ],
    "child": [
        r"\b(?:father|mother|parent)\s+of\b",
        r"\b(?:his|her|their)\s+(?:\w+\s+)?(?:son|daughter),?",
    ],
}
_REL_RE = {r: [re.compile(p) for p in ps] for r, ps in _REL_CUES.items()}
# a "by" after a writing or producing verb names a writer or producer, not the performer
_WRITER_BY = re.compile(r"\b(?:compos|writ|lyric|word|produc|direct|publish|arrang)\w*\s+(?:[\w,]+\s+){0,3}by$")
# a question's husband or wife is read with the spouse cues
_REL_RE["husband"] = _REL_RE["wife"] = _REL_RE["spouse"]
# where a chunk title should appear near for "the X of the Y" (bridge) resolution
REL_WORDS: dict[str, tuple[str, ...]] = {
    "director": ("direct",),
    "composer": ("music", "compos", "score"),
    "performer": ("by", "record", "perform", "sung"),
    "producer": ("produc",),
    "founder": ("found", "establish", "started"),
    "publisher": ("publish", "produc", "imprint"),
    "father": ("son of", "daughter of", "father", "child of"),
    "mother": ("mother", " and "),
    "spouse": ("married", "wife", "husband", "marriage"),
    "husband": ("married", "husband"),
    "wife": ("married", "wife"),
    "sibling": ("brother", "sister"),
    "child": ("son", "daughter", "father of", "mother of"),
}


def parents(text: str) -> tuple[str, str]:
    """(father, mother) from "son of A and B", "born in X to A and B", "son of A by his wife
    B", "His parents were A and B". A female title or "her husband" marks A as the mother."""
    m = re.search(
        r"\b(?:son|daughter|child|children|sons|daughters|heir|offspring)\s+(?:\w+\s+)?of\b"
        r"|\b[Bb]orn\b[^.;]{0,50}?\bto\b|\bparents\s+(?:were|are)\b",
        text,
    )
    if not m:
        return "", ""
    first, end = name_after_span(text, m.end())
    if not first:
        return "", ""
    lead = text[m.end() : end]
    tail = text[end : end + 160]
    # skip "(later Emperor Friedrich III)" / ", Sr. (1858-1900)" between the two parents
    mm = re.match(r"(?:[^.;()]|\([^()]*\)|\b[A-Z][a-z]?\.){0,80}?(?:,\s*|\s+)(?:and|by|&)\s+(?:of\s+)?", tail)
    second = name_after(tail, mm.end()) if mm else ""
    first_is_mother = (
        bool(FEMALE_MARKERS.search(lead))
        or bool(re.match(r"[^.;]{0,40}?\bher\s+husband\b", tail))
        or bool(re.search(r", (?:Countess|Princess|Duchess|Queen|Lady|Empress)\b", first))
        or (first.split()[0] in FEMALE_NAMES and not (second and second.split()[0] in FEMALE_NAMES))
    )
    return (second, first) if first_is_mother else (first, second)


def relation_names(rel: str, para: Para) -> list[str]:
    """Candidate objects of `rel` stated in `para`, best first."""
    text = para.text
    names: list[str] = []
    other = ""  # the parent we are not asked about: never an answer for this one
    if rel in ("father", "mother"):
        father, mother = parents(text)
        this, other = (father, mother) if rel == "father" else (mother, father)
        if this:
            names.append(this)
    found: list[tuple[int, int, str]] = []  # (cue rank, position, name)
    for rank, cre in enumerate(_REL_RE.get(rel, ())):
        for m in cre.finditer(text):
            n = name_after(text, m.end())
            if not n or match_key(n) == para.base_key or (other and same_person(n, other)):
                continue
            # "composed in 1960 by X" names a writer; singers often write their own songs,
            # so only demote it
            demote = rel == "performer" and bool(_WRITER_BY.search(text[max(0, m.start() - 45) : m.end()]))
            found.append((rank + 10 * demote, m.start(), n))
    found.sort()  # precise cues first ("recorded by" outranks a bare "by"), then position
    for _, _, n in found:
        if n not in names:
            names.append(n)
    return names[:4]


def follow(rel: str, para: Para, paras: Sequence[Para]) -> tuple[str, Para | None]:
    """Follow one relation from `para`: (object name, the object's paragraph if read)."""
    names = relation_names(rel, para)
    for n in names:
        p = resolve_name(n, paras, exclude=para.title)
        if p is not None:
            return n, p
    # No cue gave a resolvable name: look for another paragraph's title mentioned in this
    # text close to a relation word ("It stars ... Nicholson and director Bob Rafelson").
    # For parents, skip the other parent ("daughter of King X and Queen Y").
    best, best_d = None, 1 << 30
    other = ""
    if rel in ("father", "mother"):
        other = parents(para.text)[1 if rel == "father" else 0]
    low = para.text.lower()
    mentioned: list[tuple[int, Para]] = []
    for p in paras:
        if p.title == para.title or len(p.base_key) < 4:
            continue
        if other and resolve_name(other, (p,)) is not None:
            continue
        i = find_folded(para.text, base_title(p.title))
        if i < 0:
            continue
        mentioned.append((i, p))
        for w in REL_WORDS.get(rel, ()):
            j = low.rfind(w, 0, i + 1)
            if j >= 0 and i - j < 80 and i - j < best_d:
                best, best_d = p, i - j
            j = low.find(w, i, i + len(p.title) + 40)  # "Marvel Comics' self-produced"
            if j >= 0 and 2 * (j - i) < best_d:
                best, best_d = p, 2 * (j - i)
    if best is not None:
        return base_title(best.title), best
    # The object's own paragraph may state the relation the other way round:
    # "Y directed X", "Y was the father of X".
    if rel in _INVERSE_CUES:
        name_k = para.base_key
        for p in paras:
            if p.title == para.title:
                continue
            for cue in _INVERSE_CUES[rel]:
                for m in re.finditer(cue, p.text):
                    if match_key(p.text[m.end() : m.end() + len(para.base_key) + 40]).startswith(name_k):
                        return base_title(p.title), p
    # Last resort: the relation is not worded in a way we know ("a song from Alexi Murdoch's
    # EP"), but a paragraph we read is named here; the earliest such mention.
    if mentioned and not names:
        kind = _KIND_WORDS.get(rel)

        def rank(ip: tuple[int, Para]) -> tuple[bool, int]:
            looks_right = kind is None or bool(kind.search(ip[1].text[:300]))
            return (not looks_right, ip[0])

        p = min(mentioned, key=rank)[1]
        return base_title(p.title), p
    return (names[0] if names else ""), None


# what the object's own paragraph says it is, to choose among mere mentions
_KIND_WORDS = {
    "director": re.compile(r"\b(?:director|filmmaker|directed)\b"),
    "composer": re.compile(r"\b(?:composer|music|songwriter)\b"),
    "performer": re.compile(r"\b(?:singer|band|musician|rapper|group|artist|duo|vocalist)\b"),
    "producer": re.compile(r"\bproducer\b"),
}

_INVERSE_CUES = {
    "director": [r"\bdirected\s+(?:the\s+)?(?:\w+\s+)?(?:film\s+)?[\"“]?"],
    "father": [r"\bfather\s+of\s+"],
    "mother": [r"\bmother\s+of\s+"],
    "spouse": [r"\b(?:wife|husband|married)\s+(?:of|to)?\s*"],
    "husband": [r"\b(?:husband\s+of|married)\s+"],
    "wife": [r"\b(?:wife\s+of|married)\s+"],
    "child": [r"\b(?:son|daughter)\s+of\s+"],
}

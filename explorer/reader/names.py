"""Names in running text: the capitalised name after a cue ("directed by Irish filmmaker Pat
O'Connor" -> "Pat O'Connor"), with the particles, titles and lead-in words that may sit
around one, and whether two spellings name the same person."""

from __future__ import annotations

import re

from explorer.reader.countries import is_adjective_demonym, is_demonym_word
from explorer.reader.dates import MONTH_WORDS
from explorer.reader.text import match_key, upper_initial

# lower-case particles that may sit inside a name ("Béla IV of Hungary", "Eduard von Borsody")
_CONNECTORS = set("de da di del della der den van von le la du dos das bin ibn al y of the e zu ter ten bint mac".split())
# titles in front of a name that Wikidata labels drop ("King Béla IV", "Senator Rush Holt")
LEAD_TITLES = set(
    "King Queen Emperor Empress Pope Sultan Tsar Senator Sheikh Gen. General Colonel Col. Captain "
    "Capt. Judge Justice Rev. Reverend Bishop Governor President Mr. Mrs. Ms. Dr. Doctor Professor "
    "Prof. Crown Lt. Lieutenant Major Admiral Chief Pharaoh Mayor Ayatollah Imam Madame Field Marshal "
    "US U.S.".split()
)
# noble titles that follow a name as part of it ("Margaret II, Countess of Flanders")
_NOBLE = (
    r"(?:\d+(?:st|nd|rd|th)\s+)?(?:Grand\s+)?(?:Duke|Duchess|Prince|Princess|Count|Countess|"
    r"Earl|Baron|Baroness|Baronet|Viscount|Viscountess|Marquess|Marquis|Lord|Lady|King|Queen|"
    r"Emperor|Empress|Elector|Electress|Margrave|Margravine|Landgrave|Archduke|Archduchess)\b"
)
_APPOSITIVE = re.compile(rf",\s+(?=(?:the\s+)?{_NOBLE})")
# words around a parent's name that mark her as the mother ("son of Queen X and Y")
FEMALE_MARKERS = re.compile(
    r"\b(?:Queen|Empress|Princess|Lady|Countess|Duchess|Archduchess|Margravine|Baroness|"
    r"Viscountess|Electress|Madame|Mrs\.|actress|singer\s+and\s+actress|her\s+husband)\b"
)
# common female given names: in "son of A and B" the father usually comes first, unless A
# is recognisably a woman ("son of Sarah Franklin and Richard Bache")
FEMALE_NAMES = set(
    "Mary Elizabeth Anne Anna Ann Margaret Catherine Katherine Jane Sarah Maria Marie Sophia "
    "Sophie Charlotte Louise Victoria Isabella Isabel Eleanor Alice Emma Helen Helena Frances "
    "Julia Agnes Joan Johanna Cecily Blanche Beatrice Matilda Adelaide Caroline Amelia Emily "
    "Grace Rose Ruth Esther Rebecca Rachel Martha Susan Susanna Lucy Laura Claire Clara Dorothy "
    "Edith Florence Ida Irene Josephine Judith Lydia Mabel Nancy Olga Patricia Virginia "
    "Christina Christine Barbara Hedwig Ingrid Astrid Kristina Eva Eve Fatima Fatimah Aisha "
    "Zainab Teresa Theresa Giovanna Francesca Carlotta Juana Isabelle Jeanne Madeleine "
    "Marguerite Henriette Antoinette Ekaterina Natalia Tatiana Irina Yelena Elena Anastasia "
    "Ludwika Zofia Jadwiga Augusta Wilhelmina Frederica Dorothea Ulrika Amalia Magdalena "
    "Elisabeth Ellen Lillian Lilian Jennifer Linda Deborah Priscilla Oona Constance Harriet "
    "Diana Marianne Hannah Gertrude Bertha Emilie Emilia Luisa Lucia Paola Silvia".split()
)
# capitalised sentence words that start no name ("The", "In", "Born")
_NOT_NAME = set(
    "The A An It He She They His Her This In On At After Before During With When While Since Their "
    "Its As For From By Born Following".split()
)
# abbreviations whose period does not end a name ("John F. Kennedy", "St. Louis", "Jr.")
_ABBREV = re.compile(
    r"(?:[A-Z]\.)+[A-Z]?\.?|Jr\.|Sr\.|St\.|Dr\.|Mr\.|Mrs\.|Ms\.|Gen\.|Lt\.|Col\.|Capt\.|"
    r"Rev\.|Hon\.|Mt\.|Ft\.|Bros\."
)
# a lead-in word that ends the search for a name ("married in 1874", "son of a farmer.")
NAME_BARRIERS = set(
    "in on at from since during until after before when while which who whom that was is had has with for he she they it".split()
)
# the unit the name and place readers walk: a run of non-space characters
TOKEN_RE = re.compile(r"[^\s]+")


def _name_span(text: str, pos: int, *, max_tokens: int = 7, appositive: bool = False) -> tuple[str, int]:
    """The capitalised name starting at `pos` and the index where it ends; ('', pos) if none.

    Walks tokens while they start upper case (or are particles such as "von", "of" followed
    by an upper-case token); stops at punctuation that ends a name. With `appositive`, a
    following noble title joins the name ("Frederick, Prince of Wales")."""
    out: list[str] = []
    pending: list[str] = []
    glue = False
    end = pos
    for m in TOKEN_RE.finditer(text, pos, min(len(text), pos + 200)):
        tok = m.group(0)
        lead = 0
        if not out:
            tok = tok.lstrip("\"“'‘(")
            lead = len(m.group(0)) - len(tok)
        cut = False
        for stop in ("(", '"', "“", "”"):
            k = tok.find(stop, 1)
            if k > 0:
                tok, cut = tok[:k], True
        word = tok.rstrip(",;:!?)”\"'")
        trail = tok[len(word) :]
        if word.endswith(".") and not _ABBREV.fullmatch(word):
            word, trail = word[:-1], "." + trail
        if not word:
            break
        if glue and out:
            out[-1] += word
        elif upper_initial(word) and not word[0].isdigit() and not (not out and (word in _NOT_NAME or word in MONTH_WORDS)):
            if pending and is_adjective_demonym(word):
                break  # "Sherman of American Civil War fame"
            out.extend(pending)
            pending = []
            out.append(word)
        elif out and word.lower() in _CONNECTORS and not trail:
            pending.append(word)
            continue
        else:
            break
        end = m.start() + lead + len(word)
        glue = word.endswith("-") and not trail
        if trail or cut or len(out) >= max_tokens:
            break
    if not out:
        return "", pos
    name = re.sub(r"-\s+", "-", " ".join(out)).strip()
    if appositive:
        am = _APPOSITIVE.match(text, end)
        if am:
            extra, extra_end = _name_span(text, am.end(), max_tokens=6)
            if extra:
                return f"{name}, {extra}", extra_end
    return name, end


def name_at(text: str, pos: int, *, max_tokens: int = 7) -> str:
    return _name_span(text, pos, max_tokens=max_tokens)[0]


def name_after_span(text: str, pos: int, *, skip: int = 5) -> tuple[str, int]:
    """Name after a cue, skipping lead-in words ("directed by Irish filmmaker X", "married
    to actress X", "son of King X", "and Muhammad's daughter Fatimah")."""
    for m in TOKEN_RE.finditer(text, pos, min(len(text), pos + 160)):
        tok = m.group(0).strip('"“”')
        bare = tok.rstrip(",:")
        if not bare:
            continue
        if bare[0].islower() or bare[0] in "&/":
            if bare in NAME_BARRIERS or tok.endswith((".", ";")) or skip <= 0:
                return "", pos
            skip -= 1
            continue
        if bare in LEAD_TITLES or is_demonym_word(bare) or bare.endswith(("'s", "’s")):
            skip -= 1
            if skip < 0:
                return "", pos
            continue
        return _name_span(text, m.start(), appositive=True)
    return "", pos


def name_after(text: str, pos: int) -> str:
    return name_after_span(text, pos)[0]


def same_person(a: str, b: str) -> bool:
    """ "Khamphoui" and "Queen Khamphoui"; "Ilse Pröhl" and "Ilse Pröhl Hess"."""
    ka, kb = set(match_key(a).split()), set(match_key(b).split())
    return bool(ka and kb) and (ka <= kb or kb <= ka)

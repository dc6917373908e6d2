"""Text helpers of the reader: folded keys for matching names to titles, title bases, answer
clean-up, sentence ends."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1 << 16)
def match_key(s: str) -> str:
    """Folded comparison key: accents stripped, lower case, punctuation to spaces.
    Question spellings ("Er Kann'S Nicht Lassen", "Polish-Russian War (Film)") then equal
    the titles they name."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = s.replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", s).split())


_PAREN_TAIL = re.compile(r"\s*\([^()]*\)\s*$")


def base_title(title: str) -> str:
    """Title without its trailing "(disambiguator)"."""
    return _PAREN_TAIL.sub("", title).strip() or title.strip()


def clean_answer(s: str) -> str:
    # The corpus was tokenised with spaces after hyphens ("Nils- Eric"); gold answers are
    # Wikidata labels ("Nils-Eric"), and the scorer deletes punctuation without a space.
    s = re.sub(r"(\w)- (\w)", r"\1-\2", s)
    return s.strip(" ,;:.\"'“”()") or s.strip()


_SENT_END = re.compile(r"(?<=[a-z0-9)\]\"”]{2})\.\s+(?=[A-Z\"“])")


def sentence_end(text: str, start: int = 0) -> int:
    """End of the sentence running at `start` ("Charlie A. Grey, Jr. High" is one sentence)."""
    m = _SENT_END.search(text, start)
    return m.start() if m else len(text)


def upper_initial(tok: str) -> bool:
    return bool(tok) and (tok[0].isupper() or tok[0].isdigit())


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """Lower case without accents, same length as `text` (so indices carry over)."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return folded if len(folded) == len(text) else text.lower()


@lru_cache(maxsize=1 << 14)
def find_folded(text: str, name: str) -> int:
    """Index in `text` where `name` occurs (accent/case/punctuation-insensitive), or -1."""
    words = re.findall(r"[0-9a-z]+", _fold(name))
    if not words:
        return -1
    pat = r"[\W_]*".join(re.escape(w) for w in words)
    m = re.search(rf"(?<![a-z0-9]){pat}(?![a-z0-9])", _fold(text))
    return m.start() if m else -1

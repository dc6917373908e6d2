"""Cue marks: a few words per chunk saying what kind of fact its text states ("born", "died",
"married", "parent" ...), shown for free with `env.previews: paragraph+cues`.

With one preview per paragraph nothing shown tells a paragraph's chunks apart but their position
and cost, so a policy stuck in a long biography can only read it in order (the father named in
the 11th chunk costs 10 chunks first). A cue mark is an index entry, not a preview: it is the
same fixed vocabulary for every chunk, it does not depend on the question, and the env counts it
in `tokens_shown` (one or two tokens per mark). Which marks a question needs is the policy's
business (explorer/policies/features.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

# tag -> pattern on the chunk's text; order is the order marks are shown in
CUE_PATTERNS: dict[str, str] = {
    "born": r"\bborn\b|\bbirth",
    "died": r"\bdied\b|\bdeath\b|\bkilled\b|\bexecuted\b|\bmurdered\b|\bassassinated\b",
    "buried": r"\bburied\b|\binterred\b|\bentombed\b",
    "married": r"\bmarri|\bwife\b|\bhusband\b|\bspouse\b|\bwidow",
    "parent": r"\b(?:son|daughter|child|heir)\s+of\b|\bfather\b|\bmother\b|\bborn\s+to\b|\bparents?\b",
    "child": r"\b(?:sons?|daughters?|children)\b(?!\s+of\b)",  # "daughter of" names a parent
    "directed": r"\bdirect(?:ed|or|ing)\b",
    "music": r"\bcompos|\bmusic\b|\bscored?\b",
    "produced": r"\bproduc(?:ed|er)\b",
    "founded": r"\bfound(?:ed|er|ers)\b|\bestablished\b",
    "published": r"\bpublish",
}
_CUE_RE = {tag: re.compile(p, re.IGNORECASE) for tag, p in CUE_PATTERNS.items()}


@lru_cache(maxsize=200_000)
def chunk_cues(text: str) -> tuple[str, ...]:
    """The cue marks of a chunk's text, in CUE_PATTERNS order."""
    return tuple(tag for tag, rx in _CUE_RE.items() if rx.search(text))


def marks_listed(previews: str, chunks_in_paragraph: int) -> bool:
    """Whether the env lists a chunk's cue marks: with `env.previews: paragraph+cues`, for each
    chunk of a multi-chunk paragraph (a one-chunk paragraph has nothing to tell apart). The env
    and the rollout viewer both ask this, so the page shows what the policy was shown."""
    return previews == "paragraph+cues" and chunks_in_paragraph > 1

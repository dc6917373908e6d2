"""Paragraphs: the chunks read so far merged per title, and matching the entity strings of a
question ("Polish-Russian War (Film)") or of running text ("G. W. Pabst") to them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from explorer.reader.text import base_title, match_key


class Para(NamedTuple):
    """A paragraph read so far: its chunks' texts joined, with its title's match keys."""

    title: str
    text: str
    key: str  # match_key(title)
    base_key: str  # match_key(base_title(title))


@lru_cache(maxsize=4096)
def merge_chunks(passages: tuple[tuple[str, str], ...]) -> tuple[Para, ...]:
    """Merge chunks of the same paragraph (chunks share a title) in reading order."""
    texts: dict[str, list[str]] = {}
    for title, text in passages:
        texts.setdefault(title, []).append(text)
    return tuple(Para(t, " ".join(parts), match_key(t), match_key(base_title(t))) for t, parts in texts.items())


def match_score(entity: str, para: Para) -> float:
    """How well a question's entity string names this paragraph (0 = not at all)."""
    ek, ebk = match_key(entity), match_key(base_title(entity))
    if not ek:
        return 0.0
    if ek == para.key:
        return 3.0
    if ebk == para.base_key:
        # same name, maybe different disambiguator: prefer the one whose "(...)" agrees
        return 2.5 if ek == ebk else 2.0
    if ek == para.base_key:
        return 2.2
    et, tt = set(ek.split()), set(para.key.split())
    common = et & set(para.base_key.split())
    if not common:
        return 0.0
    jac = len(et & tt) / len(et | tt)
    return jac if jac >= 0.5 else 0.0


def find_para(entity: str, paras: Sequence[Para], exclude: str = "") -> Para | None:
    """The paragraph a question entity names, if read."""
    best, best_score = None, 0.0
    for p in paras:
        if p.title == exclude:
            continue
        s = match_score(entity, p)
        if s > best_score:
            best, best_score = p, s
    if best is None and entity:
        # a title that differs from the question's spelling but whose text opens with it
        ek = match_key(base_title(entity))
        for p in paras:
            if p.title != exclude and match_key(p.text[: len(entity) + 10]).startswith(ek):
                return p
    return best


def _initial_matches(a: set[str], b: set[str]) -> int:
    """How many one-letter tokens on one side stand for a word of the other side."""
    return sum(1 for i in a if len(i) == 1 and any(len(w) > 1 and w[0] == i for w in b)) + sum(
        1 for i in b if len(i) == 1 and any(len(w) > 1 and w[0] == i for w in a)
    )


def resolve_name(name: str, paras: Sequence[Para], exclude: str = "") -> Para | None:
    """The paragraph about a person/work named `name` in running text ("Pat O'Connor" ->
    "Pat O'Connor (director)", "Duncan II" -> "Duncan II of Scotland")."""
    nk = match_key(name)
    if not nk:
        return None
    nt = nk.split()
    best, best_score = None, 0.0
    for p in paras:
        if p.title == exclude:
            continue
        if nk == p.base_key or nk == p.key:
            return p
        bt = p.base_key.split()
        full = set(nt) & set(bt)
        if not full:
            continue
        # initials match full names: "G. W. Pabst" is "Georg Wilhelm Pabst"
        common = len(full) + _initial_matches(set(nt) - full, set(bt) - full)
        # all of the shorter name inside the longer one, with at least two words or the
        # exact single word ("Bapu")
        shorter = min(len(set(nt)), len(set(bt)))
        if common == shorter and (common >= 2 or len(bt) == 1 or len(nt) == 1):
            score = common / max(len(nt), len(bt)) + 0.5
        elif common >= 2:
            score = common / max(len(nt), len(bt))
        else:
            continue
        if score > best_score:
            best, best_score = p, score
    return best if best_score >= 0.5 else None

"""Solving a question on the paragraphs read so far, and the two public calls built on it:
`answer_question` (the answer, with a best guess when the passages give none) and
`is_sufficient` (whether the plan's paragraphs were all read and gave what it needed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from explorer.reader.attributes import read_attr
from explorer.reader.names import name_after, same_person
from explorer.reader.paragraphs import Para, find_para, merge_chunks
from explorer.reader.questions import Query, parse_question
from explorer.reader.relations import REL_WORDS, follow, parents, relation_names
from explorer.reader.text import base_title, clean_answer, find_folded, match_key


class _Solution(NamedTuple):
    """A plan's outcome on the paragraphs read: the answer ('' if none) and whether it is final."""

    answer: str
    complete: bool  # the plan's paragraphs were all read and gave what it needed there


def _walk(entity: str, rels: tuple[str, ...], paras: tuple[Para, ...]) -> tuple[Para | None, str, bool]:
    """Follow `rels` from the entity's paragraph: (last paragraph reached, last name, ok)."""
    para = find_para(entity, paras)
    if para is None:
        return None, entity, False
    name = base_title(para.title)
    for rel in rels:
        name, nxt = follow(rel, para, paras)
        if nxt is None:
            return para, name, False
        para = nxt
    return para, name, True


def _solve_chain(q: Query, paras: tuple[Para, ...]) -> _Solution:
    entity = q.entities[0]
    if q.attr == "name":
        return _solve_name(q, paras)
    para, name, ok = _walk(entity, q.via, paras)
    if para is not None and ok:
        ans, _ = read_attr(q.attr, para)
        if ans:
            return _Solution(ans, True)
    # the bridge paragraph is missing or silent: answer from any other paragraph that has the
    # attribute (distractors are often about the right kind of entity)
    start = find_para(entity, paras)
    others = [p for p in paras if start is None or p.title != start.title]
    if start is not None:  # first those the entity's paragraph mentions ("story by Y")
        others.sort(key=lambda p: find_folded(start.text, base_title(p.title)) < 0)
    for p in others:
        ans, _ = read_attr(q.attr, p)
        if ans:
            return _Solution(ans, False)
    # not complete even when the chain was walked: the attribute may sit in a later chunk of
    # the last paragraph
    return _Solution("", False)


# other routes to the same relative: an uncle is either parent's brother; a father not named
# in X's paragraph may be found as X's mother's husband or as a sibling's father
_ALT_VIA: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    ("father", "sibling"): (("mother", "sibling"),),
    ("father",): (("mother", "spouse"), ("sibling", "father")),
    ("mother",): (("father", "spouse"), ("sibling", "mother")),
}


def _solve_name(q: Query, paras: tuple[Para, ...]) -> _Solution:
    """ "Who is the <relation> of X?": the answer is a name, not an attribute."""
    entity = q.entities[0]
    anchor = find_para(entity, paras)
    # 1. X's paragraph may say it outright: "Her paternal grandfather was Henry the Lion".
    if anchor is not None and len(q.via) > 1 and q.phrase:
        words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", q.phrase))
        m = re.search(rf"\b(?:his|her|their)\s+(?:\w+\s+)?{words},?\s+(?:(?:was|is)\s+)?", anchor.text, re.I)
        if m:
            n = name_after(anchor.text, m.end())
            if n:
                return _Solution(n, True)
    # A step-parent is the parent's spouse who is not X's own parent.
    not_this = ""
    if q.phrase in ("stepmother", "stepfather") and anchor is not None:
        not_this = parents(anchor.text)[q.phrase == "stepmother"]
    # 2. walk the chain and read the last relation's object
    for via in (q.via, *_ALT_VIA.get(q.via, ())):
        para, _, ok = _walk(entity, via[:-1], paras)
        if para is None or not ok:
            continue
        if not_this:
            names = [n for n in relation_names(via[-1], para) if not same_person(n, not_this)]
            if names:
                return _Solution(names[0], True)
        obj, obj_para = follow(via[-1], para, paras)
        if obj and not (not_this and same_person(obj, not_this)):
            if obj_para is not None and match_key(obj) in obj_para.base_key:
                obj = base_title(obj_para.title)
            return _Solution(obj, True)
    # 3. someone else's paragraph may state the relation: "she was the mother-in-law of X"
    direct = _direct_statement(q, paras)
    if direct:
        return _Solution(direct, True)
    return _Solution("", False)


def _direct_statement(q: Query, paras: tuple[Para, ...]) -> str:
    """A paragraph saying "... was the mother-in-law of X" answers "Who is X's
    mother-in-law?" with its own title."""
    if not q.phrase or q.phrase in REL_WORDS and q.phrase not in ("father", "mother"):
        return ""
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", q.phrase))
    target = base_title(q.entities[0])
    for p in paras:
        for m in re.finditer(rf"\b{words}\s+of\s+(?:\w+\s+){{0,2}}?", p.text):
            if find_folded(p.text[m.end() : m.end() + len(target) + 30], target) == 0:
                return base_title(p.title)
    return ""


def _solve_compare(q: Query, paras: tuple[Para, ...]) -> _Solution:
    values, complete = [], True
    for ent in q.entities:
        para, _, ok = _walk(ent, q.via, paras)
        val = None
        if para is not None and ok:
            _, val = read_attr(q.attr, para)
        complete = complete and ok and val is not None
        values.append(val)
    a, b = q.entities
    if q.kind == "same":
        va, vb = values
        if va is None or vb is None:
            return _Solution("no", complete)  # "no" is the majority answer
        return _Solution("yes" if va == vb else "no", complete)
    va, vb = values
    names = (clean_answer(base_title(a)), clean_answer(base_title(b)))
    if va is None and vb is None:
        return _Solution(names[0], False)
    if va is None or vb is None:
        # one side unknown: nothing to compare, so a coin flip; answer the side we can see
        return _Solution(names[0] if va is not None else names[1], False)
    if va == vb:
        return _Solution(names[0], complete)
    first_is_min = va < vb
    return _Solution(names[0] if first_is_min == (q.pick == "min") else names[1], complete)


@lru_cache(maxsize=4096)
def _solve(question: str, passages: tuple[tuple[str, str], ...]) -> _Solution:
    paras = merge_chunks(passages)
    q = parse_question(question, paras)
    if q.kind in ("same", "compare") and len(q.entities) == 2:
        return _solve_compare(q, paras)
    if q.kind == "chain" and q.entities:
        return _solve_chain(q, paras)
    return _Solution("", False)


def _fallback(question: str) -> str:
    """A guess when the passages gave nothing: "no" for yes/no questions (the majority
    answer), the first option of an "A or B" question, else a name from the question."""
    q = parse_question(question)
    low = question.lower()
    if re.match(r"\s*(?:are|is|was|were|do|does|did|can|could|has|have|had)\b", low):
        return "no"
    if q.kind == "compare" and q.entities:
        return clean_answer(base_title(q.entities[0]))
    if q.entities and q.kind != "chain":
        return clean_answer(base_title(q.entities[0]))
    words = re.findall(r"[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*", question[1:])
    return words[0] if words else "unknown"


def answer_question(question: str, passages: Sequence[tuple[str, str]]) -> str:
    """Answer from the (title, text) passages read so far; always returns a non-empty string
    (falls back to a best guess, e.g. 'yes' for yes/no questions, or a span of the
    question/passages)."""
    ps = tuple((str(t), str(x)) for t, x in passages)
    sol = _solve(question, ps)
    ans = clean_answer(sol.answer) if sol.answer else ""
    return ans or clean_answer(_fallback(question)) or "unknown"


def is_sufficient(question: str, passages: Sequence[tuple[str, str]]) -> bool:
    """True when the passages read probably contain enough to answer (so a policy can stop
    reading early). E.g. comparison questions need a passage for each compared entity;
    compositional need the bridge entity's paragraph too."""
    ps = tuple((str(t), str(x)) for t, x in passages)
    if not ps:
        return False
    q = parse_question(question, merge_chunks(ps))
    if q.kind == "unknown":
        return len(merge_chunks(ps)) >= 3
    return _solve(question, ps).complete

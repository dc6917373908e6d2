"""Chunk ranking: `relevance`, how worth opening a chunk is from its title and preview, given
the question's plan and what has been read (an entity of the question, a "bridge" name a
read paragraph points at, another chunk of a paragraph where the plan is stuck)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from explorer.reader.attributes import read_attr
from explorer.reader.dates import opening_paren
from explorer.reader.paragraphs import Para, find_para, match_score, merge_chunks, resolve_name
from explorer.reader.questions import parse_question
from explorer.reader.relations import relation_names
from explorer.reader.text import base_title, find_folded, match_key


def relevance(question: str, title: str, text: str, read: Sequence[tuple[str, str]]) -> float:
    """How worth opening a chunk is, given only its title and a short preview `text` (first
    ~24 tokens) and the passages already read. Higher = open sooner. Must reward: title/entity
    overlap with the question, and 'bridge' entities: titles or names that appear in
    already-read passages (e.g. for 'Where was the father of X born?', after reading X's
    paragraph which names the father Y, a chunk titled Y should score high)."""
    rd = tuple((str(t), str(x)) for t, x in read)
    paras = merge_chunks(rd)
    q = parse_question(question, paras)
    cand = Para(title, text, match_key(title), match_key(base_title(title)))
    read_titles = {p.title for p in paras}
    score = 0.0

    # 1. the chunk names an entity of the question (and its paragraph is not read yet)
    ent_score = max((match_score(e, cand) for e in q.entities), default=0.0)
    if ent_score == 0.0 and cand.base_key and len(cand.base_key) > 3:
        if f" {cand.base_key} " in f" {match_key(question)} ":
            ent_score = 1.5
    score += 2.0 * ent_score

    # 2. bridge: a read paragraph names this chunk's subject as the object of the relation
    #    the plan needs next (film -> director, person -> father ...)
    bridge, stuck = _plan_state(question, rd)
    if bridge:
        ck = cand.base_key
        for n in bridge:
            if resolve_name(n, (cand,)) is not None or (ck and ck in match_key(n)):
                score += 6.0
                break
    # weaker bridge: the chunk's title is mentioned anywhere in what was read
    if cand.base_key and len(cand.base_key) >= 4:
        for p in paras:
            if p.title != title and find_folded(p.text, base_title(title)) >= 0:
                score += 1.5
                break

    # 3. another chunk of a paragraph already read: worth it only while the plan still misses
    #    something there (the attribute or relation may sit in a later chunk)
    if title in read_titles:
        score -= 4.0
        if title in stuck:
            score += 5.0

    # 4. tie-breaks: the preview looks like the kind of page the plan needs next
    if q.via or q.attr in ("birth", "death", "birthplace", "deathplace", "nationality"):
        if opening_paren(text)[0] >= 0 or re.search(r"\bborn\b", text):
            score += 0.3
    qk = set(match_key(question).split()) - _STOP
    tk = set(match_key(title + " " + text).split()) - _STOP
    if qk:
        score += 0.5 * len(qk & tk) / len(qk)
    return score


_STOP = set(
    "the a an of in on and or who what when where which is was are were did do does film "
    "song director both same from for to s born died country nationality".split()
)


@lru_cache(maxsize=4096)
def _plan_state(question: str, read: tuple[tuple[str, str], ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    """Where the question's plan stands after `read`: (names the next hop points at, titles
    of read paragraphs where it is stuck: the relation or attribute it needs there was not
    found, so a later chunk of that paragraph may hold it)."""
    if not read:
        return (), frozenset()
    paras = merge_chunks(read)
    q = parse_question(question, paras)
    names_out: list[str] = []
    stuck: set[str] = set()
    for ent in q.entities:
        para = find_para(ent, paras)
        if para is None:
            continue
        for rel in q.via[: -1 if q.attr == "name" else None]:
            names = relation_names(rel, para)
            nxt = None
            for n in names:
                nxt = resolve_name(n, paras, exclude=para.title)
                if nxt is not None:
                    break
            if nxt is None:
                names_out.extend(names[:2])
                if not names:
                    stuck.add(para.title)
                break
            para = nxt
        else:
            if q.attr == "name":
                if q.via and not relation_names(q.via[-1], para):
                    stuck.add(para.title)
            elif q.attr and read_attr(q.attr, para)[1] is None:
                stuck.add(para.title)
    return tuple(names_out), frozenset(stuck)

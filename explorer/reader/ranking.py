"""Chunk ranking: `relevance`, how worth opening a chunk is from its title and preview, given
the question's plan and what has been read (an entity of the question, a "bridge" name a
read paragraph points at, another chunk of a paragraph where the plan is stuck)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from explorer.reader.attributes import read_attr
from explorer.reader.dates import opening_paren
from explorer.reader.paragraphs import Para, find_para, match_score, merge_chunks, resolve_name
from explorer.reader.questions import parse_question
from explorer.reader.relations import relation_names
from explorer.reader.text import base_title, find_folded, match_key


class RelevanceParts(NamedTuple):
    """The signals `relevance` adds up, kept apart so that a learned policy can weigh them
    itself (explorer/policies/features.py); `relevance` is their fixed, hand-set sum."""

    entity: float  # how well the chunk's title matches an entity of the question (0: not at all)
    plan_bridge: bool  # a read paragraph names this chunk's subject as the next hop of the plan
    weak_bridge: bool  # the chunk's title is mentioned somewhere in what was read
    read_before: bool  # another chunk of this paragraph was read
    stuck: bool  # ... and the plan is stuck there: what it needs may sit in a later chunk
    kind_hint: bool  # the preview looks like the kind of page the plan needs (a biography ...)
    overlap: float  # share of the question's content words in the title and preview
    q_kind: str  # the question plan's kind: compare | same | chain | unknown
    q_attr: str  # the attribute the plan reads at the end (birth, birthplace, name, ...)


@lru_cache(maxsize=400_000)
def relevance_parts(question: str, title: str, text: str, read: tuple[tuple[str, str], ...]) -> RelevanceParts:
    """The parts of `relevance` for a chunk with `title` and preview `text`, given `read`."""
    rd = tuple((str(t), str(x)) for t, x in read)
    paras = merge_chunks(rd)
    q = parse_question(question, paras)
    cand = Para(title, text, match_key(title), match_key(base_title(title)))

    # 1. the chunk names an entity of the question (and its paragraph is not read yet)
    entity = max((match_score(e, cand) for e in q.entities), default=0.0)
    if entity == 0.0 and cand.base_key and len(cand.base_key) > 3:
        if f" {cand.base_key} " in f" {match_key(question)} ":
            entity = 1.5
    # 2. bridge: a read paragraph names this chunk's subject as the object of the relation the
    #    plan needs next (film -> director, person -> father ...); weaker: the title is
    #    mentioned anywhere in what was read
    bridge, stuck = _plan_state(question, rd)
    ck = cand.base_key
    plan_bridge = any(resolve_name(n, (cand,)) is not None or (ck and ck in match_key(n)) for n in bridge)
    weak_bridge = bool(
        cand.base_key and len(cand.base_key) >= 4 and any(p.title != title and find_folded(p.text, base_title(title)) >= 0 for p in paras)
    )
    # 3. another chunk of a paragraph already read: worth it only while the plan still misses
    #    something there (the attribute or relation may sit in a later chunk)
    read_before = title in {p.title for p in paras}
    # 4. tie-breaks: the preview looks like the kind of page the plan needs next
    kind_hint = bool(
        (q.via or q.attr in ("birth", "death", "birthplace", "deathplace", "nationality"))
        and (opening_paren(text)[0] >= 0 or re.search(r"\bborn\b", text))
    )
    qk = set(match_key(question).split()) - _STOP
    tk = set(match_key(title + " " + text).split()) - _STOP
    overlap = len(qk & tk) / len(qk) if qk else 0.0
    return RelevanceParts(entity, plan_bridge, weak_bridge, read_before, read_before and title in stuck, kind_hint, overlap, q.kind, q.attr)


def relevance(question: str, title: str, text: str, read: Sequence[tuple[str, str]]) -> float:
    """How worth opening a chunk is, given only its title and a short preview `text` (first
    ~24 tokens) and the passages already read. Higher = open sooner. Must reward: title/entity
    overlap with the question, and 'bridge' entities: titles or names that appear in
    already-read passages (e.g. for 'Where was the father of X born?', after reading X's
    paragraph which names the father Y, a chunk titled Y should score high)."""
    p = relevance_parts(question, title, text, tuple((str(t), str(x)) for t, x in read))
    score = 2.0 * p.entity + (6.0 if p.plan_bridge else 0.0) + (1.5 if p.weak_bridge else 0.0)
    if p.read_before:
        score -= 4.0
        if p.stuck:
            score += 5.0
    if p.kind_hint:
        score += 0.3
    return score + 0.5 * p.overlap


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


# Which cue marks (explorer/cues.py, env.previews paragraph+cues) state what a question's plan
# reads: the relations it follows (q.via) and the attribute it reads at the end (q.attr).
NEEDED_CUES: dict[str, tuple[str, ...]] = {
    "birth": ("born",), "birthplace": ("born",), "death": ("died",), "deathplace": ("died",),
    "lifespan": ("born", "died"), "burial": ("buried",),
    "father": ("parent",), "mother": ("parent",), "sibling": ("parent", "child"), "child": ("child",),
    "spouse": ("married",), "husband": ("married",), "wife": ("married",),
    "director": ("directed",), "composer": ("music",), "producer": ("produced",),
    "founder": ("founded",), "publisher": ("published",),
}  # fmt: skip


@lru_cache(maxsize=100_000)
def needed_cues(question: str, read: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The cue marks that name a fact `question`'s plan needs, given what was read."""
    q = parse_question(question, merge_chunks(read))
    return frozenset(cue for step in (*q.via, q.attr) for cue in NEEDED_CUES.get(step, ()))

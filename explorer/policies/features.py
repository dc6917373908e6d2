"""The local policy's view of a state: its legal actions and a feature vector for each.

`action_set(obs)` lists `Open(i)` for each unopened chunk that fits in the budget and `Answer(c)`
for each answer candidate, and describes each action by the named features below. All of it is
rules (the features read the rules reader's relevance score, answer and sufficiency judgement);
what is learned is only the weight of each feature (explorer/policies/local.py). It is a pure
function of the observation (and of the `local_policy` stop rules, when set): no task labels, no
files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from explorer.config import LocalPolicyConfig
from explorer.policies.baselines import read_passages, stop_rules_answer
from explorer.reader import answer_question, is_sufficient, relevance
from explorer.reader.ranking import RelevanceParts, needed_cues, relevance_parts
from explorer.reward import normalize_answer
from explorer.types import Action, Answer, Observation, Open

K_BUCKETS = 7  # opens so far: 0, 1, ..., 5, 6+
FEATURES: tuple[str, ...] = (
    *(f"open&k={k}" for k in range(K_BUCKETS)),
    "open&sufficient",
    "open&budget_used",
    "open&q_yesno",
    "open&q_choice",
    "open.relevance_norm",
    "open.relevance_rank0",
    "open.relevance_rank1",
    "open.entity",
    "open.plan_bridge",
    "open.weak_bridge",
    "open.read_before",
    "open.stuck",
    "open.kind_hint",
    "open.overlap",
    "open.title_in_question",
    "open.title_in_read",
    "open.position0",
    "open.position1",
    "open.position2plus",
    "open.continues_paragraph",
    "open.continues_paragraph&not_sufficient",
    "open.continues_paragraph&stuck",
    "open.entity&position0",
    "open.plan_bridge&position0",
    "open.position0&q_life",
    "open.position0&q_chain",
    "open.position0&q_compare",
    "open.tokens_per_100",
    "open.cue_needed",
    "open.cue_needed&read_before",
    "open.cue_needed&stuck",
    "open.cue_other",
    *(f"answer&k={k}" for k in range(K_BUCKETS)),
    "answer&sufficient",
    "answer.is_rules_answer",
    "answer.is_rules_answer&sufficient",
    "answer.is_yes",
    "answer.is_no",
    "answer.yesno&q_yesno",
    "answer.yesno&not_q_yesno",
    "answer.in_question",
    "answer.option_of_question",
    "answer.is_read_title",
    "answer.n_words",
)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURES)}
N_FEATURES = len(FEATURES)
_YESNO_START = re.compile(r"^\s*(are|is|was|were|do|does|did|has|have|had|can|could)\b", re.IGNORECASE)
_OPTIONS = re.compile(r",\s*([^,?]+?)\s+or\s+([^,?]+?)\s*\?*\s*$")


@dataclass(frozen=True)
class ActionSet:
    """The legal actions of one state with their features: row i of `features` describes
    `actions[i]`."""

    actions: tuple[Action, ...]
    features: np.ndarray  # [n_actions, N_FEATURES], float64

    def index_of(self, action: Action) -> int | None:
        if isinstance(action, Answer):
            key = _norm(action.text)
            for i, a in enumerate(self.actions):
                if isinstance(a, Answer) and _norm(a.text) == key:
                    return i
            return None
        try:
            return self.actions.index(action)
        except ValueError:
            return None


def question_options(question: str) -> list[str]:
    """'Which film came out first, Blue Lake or Red Hill?' -> ['Blue Lake', 'Red Hill']."""
    m = _OPTIONS.search(question)
    return [m.group(1).strip(), m.group(2).strip()] if m else []


# The scorer's normalization, cached: the features normalize the same titles, options and read
# texts for every action of every sampled episode (a third of GRPO's time without the cache).
_norm = lru_cache(maxsize=200_000)(normalize_answer)
_TITLE_QUALIFIER = re.compile(r"\s*\(.*?\)\s*$")  # "Blue Lake (film)" -> "Blue Lake"


@lru_cache(maxsize=200_000)
def _rules(question: str, read: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
    """The rules answerer's answer and sufficiency for a reading state (cached: many sampled
    episodes of a GRPO group reach the same state)."""
    return answer_question(question, read), bool(read) and is_sufficient(question, read)


@lru_cache(maxsize=400_000)
def _relevance(question: str, title: str, preview: str, read: tuple[tuple[str, str], ...]) -> float:
    return relevance(question, title, preview, read)


LIFE_ATTRS = ("birth", "death", "birthplace", "deathplace", "lifespan")  # read from a biography's opening sentence


def _parts(question: str, title: str, preview: str, read: tuple[tuple[str, str], ...]) -> RelevanceParts:
    return relevance_parts(question, title, preview, read)


NO_STOP_RULES = LocalPolicyConfig()


def action_set(obs: Observation, stop: LocalPolicyConfig = NO_STOP_RULES) -> ActionSet:
    """All legal actions of `obs` with their features. Pure function of the observation.

    With `stop` rules (params.yaml `local_policy`), a state where they say stop (the reader is
    sufficient, or `max_opens` chunks are open) has one action: the rules answer, as the heuristic
    would answer there (all answer candidates if the reader has none)."""
    read = tuple(read_passages(obs))
    rules_answer, sufficient = _rules(obs.question, read)
    n_opened = sum(c.opened for c in obs.chunks)
    k = min(n_opened, K_BUCKETS - 1)
    must_answer = stop_rules_answer(n_opened, sufficient, stop.max_opens, stop.answer_when_sufficient)
    q_yesno = bool(_YESNO_START.match(obs.question))
    options = question_options(obs.question)
    q_norm = f" {_norm(obs.question)} "
    budget_used = 1.0 - obs.budget_left / max(1, obs.budget)
    views = {c.id: c for c in obs.chunks}

    actions: list[Action] = []
    rows: list[np.ndarray] = []
    fi = FEATURE_INDEX

    # --- open actions. The reader's relevance signals are per paragraph: with one preview per
    # paragraph, nothing shown tells a paragraph's chunks apart but their position and cost.
    candidates = [] if must_answer else [c for c in obs.chunks if not c.opened and c.n_tokens <= obs.budget_left]
    paragraphs = list(dict.fromkeys(c.paragraph for c in candidates))
    first_view = {p: next(c for c in candidates if c.paragraph == p) for p in paragraphs}
    parts = {p: _parts(obs.question, first_view[p].title, first_view[p].preview, read) for p in paragraphs}
    rel_p = {p: _relevance(obs.question, first_view[p].title, first_view[p].preview, read) for p in paragraphs}
    ranked = sorted(paragraphs, key=lambda p: -rel_p[p])  # stable: ties keep document order
    rank_p = {p: r for r, p in enumerate(ranked)}
    rel_max = max((abs(v) for v in rel_p.values()), default=1.0)
    last_open_pos: dict[int, int] = {}
    for c in obs.chunks:
        if c.opened:
            last_open_pos[c.paragraph] = max(last_open_pos.get(c.paragraph, -1), c.position)
    needed = needed_cues(obs.question, read)
    read_elsewhere = {p: _norm(" ".join(t for cid, t in obs.opened if views[cid].paragraph != p)) for p in paragraphs}
    for c in candidates:
        pt = parts[c.paragraph]
        x = np.zeros(N_FEATURES)
        x[fi[f"open&k={k}"]] = 1.0
        x[fi["open&sufficient"]] = float(sufficient)
        x[fi["open&budget_used"]] = budget_used
        x[fi["open&q_yesno"]] = float(q_yesno)
        x[fi["open&q_choice"]] = float(bool(options))
        x[fi["open.relevance_norm"]] = rel_p[c.paragraph] / rel_max if rel_max > 0 else 0.0
        x[fi["open.relevance_rank0"]] = float(rank_p[c.paragraph] == 0)
        x[fi["open.relevance_rank1"]] = float(rank_p[c.paragraph] == 1)
        x[fi["open.entity"]] = min(pt.entity, 2.0) / 2.0
        x[fi["open.plan_bridge"]] = float(pt.plan_bridge)
        x[fi["open.weak_bridge"]] = float(pt.weak_bridge)
        x[fi["open.read_before"]] = float(pt.read_before)
        x[fi["open.stuck"]] = float(pt.stuck)
        x[fi["open.kind_hint"]] = float(pt.kind_hint)
        x[fi["open.overlap"]] = pt.overlap
        title_norm = _norm(_TITLE_QUALIFIER.sub("", c.title))
        in_question = bool(title_norm) and f" {title_norm} " in q_norm
        in_read = len(title_norm) > 3 and title_norm in read_elsewhere[c.paragraph]  # a bridge: named by another paragraph
        continues = c.paragraph in last_open_pos and c.position == last_open_pos[c.paragraph] + 1
        first = c.position == 0
        x[fi["open.title_in_question"]] = float(in_question)
        x[fi["open.title_in_read"]] = float(in_read)
        x[fi["open.position0"]] = float(first)
        x[fi["open.position1"]] = float(c.position == 1)
        x[fi["open.position2plus"]] = float(c.position >= 2)
        x[fi["open.continues_paragraph"]] = float(continues)
        x[fi["open.continues_paragraph&not_sufficient"]] = float(continues and not sufficient)
        x[fi["open.continues_paragraph&stuck"]] = float(continues and pt.stuck)
        x[fi["open.entity&position0"]] = float(first and pt.entity > 0)
        x[fi["open.plan_bridge&position0"]] = float(first and pt.plan_bridge)
        x[fi["open.position0&q_life"]] = float(first and pt.q_attr in LIFE_ATTRS)
        x[fi["open.position0&q_chain"]] = float(first and pt.q_kind == "chain")
        x[fi["open.position0&q_compare"]] = float(first and pt.q_kind in ("compare", "same"))
        x[fi["open.tokens_per_100"]] = c.n_tokens / 100.0
        # cue marks (zero unless env.previews is paragraph+cues): the chunk says it states a fact
        # the plan needs, e.g. "died" for a place of death, "parent" for a father
        cue_needed = bool(needed.intersection(c.cues))
        x[fi["open.cue_needed"]] = float(cue_needed)
        x[fi["open.cue_needed&read_before"]] = float(cue_needed and pt.read_before)
        x[fi["open.cue_needed&stuck"]] = float(cue_needed and pt.stuck)
        x[fi["open.cue_other"]] = float(bool(c.cues) and not cue_needed)
        actions.append(Open(c.id))
        rows.append(x)

    # --- answer candidates (deduplicated by normalised text; the rules answer comes first)
    cand_texts = [rules_answer, "yes", "no", *options, *dict.fromkeys(t for t, _ in read)]
    if must_answer and _norm(rules_answer):
        cand_texts = [rules_answer]
    seen: set[str] = set()
    for text in cand_texts:
        key = _norm(text)
        if not key or key in seen:
            continue
        seen.add(key)
        is_yesno = key in ("yes", "no")
        x = np.zeros(N_FEATURES)
        x[fi[f"answer&k={k}"]] = 1.0
        x[fi["answer&sufficient"]] = float(sufficient)
        is_rules = key == _norm(rules_answer)
        x[fi["answer.is_rules_answer"]] = float(is_rules)
        x[fi["answer.is_rules_answer&sufficient"]] = float(is_rules and sufficient)
        x[fi["answer.is_yes"]] = float(key == "yes")
        x[fi["answer.is_no"]] = float(key == "no")
        x[fi["answer.yesno&q_yesno"]] = float(is_yesno and q_yesno)
        x[fi["answer.yesno&not_q_yesno"]] = float(is_yesno and not q_yesno)
        x[fi["answer.in_question"]] = float(not is_yesno and f" {key} " in q_norm)
        x[fi["answer.option_of_question"]] = float(any(_norm(o) == key for o in options))
        x[fi["answer.is_read_title"]] = float(any(_norm(t) == key for t, _ in read))
        x[fi["answer.n_words"]] = min(len(key.split()), 10) / 5.0
        actions.append(Answer(text))
        rows.append(x)
    return ActionSet(tuple(actions), np.array(rows))

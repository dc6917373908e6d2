"""The local policy's view of a state: its legal actions and a feature vector for each.

`action_set(obs)` lists `Open(i)` for each unopened chunk that fits in the budget and `Answer(c)`
for each answer candidate, and describes each action by the named features below. All of it is
rules (the features read the rules reader's relevance score, answer and sufficiency judgement);
what is learned is only the weight of each feature (explorer/policies/local.py). It is a pure
function of the observation: no task labels, no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from explorer.policies.baselines import read_passages
from explorer.reader import answer_question, is_sufficient, relevance
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
    "open.title_in_question",
    "open.title_in_read",
    "open.same_paragraph_opened",
    "open.first_of_paragraph",
    "open.tokens_per_100",
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
            key = normalize_answer(action.text)
            for i, a in enumerate(self.actions):
                if isinstance(a, Answer) and normalize_answer(a.text) == key:
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


@lru_cache(maxsize=200_000)
def _rules(question: str, read: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
    """The rules answerer's answer and sufficiency for a reading state (cached: many sampled
    episodes of a GRPO group reach the same state)."""
    return answer_question(question, read), bool(read) and is_sufficient(question, read)


@lru_cache(maxsize=400_000)
def _relevance(question: str, title: str, preview: str, read: tuple[tuple[str, str], ...]) -> float:
    return relevance(question, title, preview, read)


def action_set(obs: Observation) -> ActionSet:
    """All legal actions of `obs` with their features. Pure function of the observation."""
    read = tuple(read_passages(obs))
    rules_answer, sufficient = _rules(obs.question, read)
    k = min(sum(c.opened for c in obs.chunks), K_BUCKETS - 1)
    q_yesno = bool(_YESNO_START.match(obs.question))
    options = question_options(obs.question)
    q_norm = f" {normalize_answer(obs.question)} "
    budget_used = 1.0 - obs.budget_left / max(1, obs.budget)
    opened_titles = {c.title for c in obs.chunks if c.opened}
    read_text = " ".join(t for _, t in read).lower()

    actions: list[Action] = []
    rows: list[np.ndarray] = []
    fi = FEATURE_INDEX

    # --- open actions
    candidates = [c for c in obs.chunks if not c.opened and c.n_tokens <= obs.budget_left]
    rel = np.array([_relevance(obs.question, c.title, c.preview, read) for c in candidates])
    order = np.argsort(-rel, kind="stable") if len(rel) else np.array([], dtype=int)
    rank = np.empty(len(rel), dtype=int)
    rank[order] = np.arange(len(rel))
    rel_max = float(np.max(np.abs(rel))) if len(rel) else 1.0
    seen_titles: set[str] = set()
    for j, c in enumerate(candidates):
        x = np.zeros(N_FEATURES)
        x[fi[f"open&k={k}"]] = 1.0
        x[fi["open&sufficient"]] = float(sufficient)
        x[fi["open&budget_used"]] = budget_used
        x[fi["open&q_yesno"]] = float(q_yesno)
        x[fi["open&q_choice"]] = float(bool(options))
        x[fi["open.relevance_norm"]] = rel[j] / rel_max if rel_max > 0 else 0.0
        x[fi["open.relevance_rank0"]] = float(rank[j] == 0)
        x[fi["open.relevance_rank1"]] = float(rank[j] == 1)
        title_norm = normalize_answer(re.sub(r"\s*\(.*?\)\s*$", "", c.title))
        x[fi["open.title_in_question"]] = float(bool(title_norm) and f" {title_norm} " in q_norm)
        x[fi["open.title_in_read"]] = float(len(title_norm) > 3 and title_norm in normalize_answer(read_text))
        x[fi["open.same_paragraph_opened"]] = float(c.title in opened_titles)
        x[fi["open.first_of_paragraph"]] = float(c.title not in seen_titles)
        x[fi["open.tokens_per_100"]] = c.n_tokens / 100.0
        seen_titles.add(c.title)
        actions.append(Open(c.id))
        rows.append(x)

    # --- answer candidates (deduplicated by normalised text; the rules answer comes first)
    cand_texts = [rules_answer, "yes", "no", *options, *dict.fromkeys(t for t, _ in read)]
    seen: set[str] = set()
    for text in cand_texts:
        key = normalize_answer(text)
        if not key or key in seen:
            continue
        seen.add(key)
        is_yesno = key in ("yes", "no")
        x = np.zeros(N_FEATURES)
        x[fi[f"answer&k={k}"]] = 1.0
        x[fi["answer&sufficient"]] = float(sufficient)
        is_rules = key == normalize_answer(rules_answer)
        x[fi["answer.is_rules_answer"]] = float(is_rules)
        x[fi["answer.is_rules_answer&sufficient"]] = float(is_rules and sufficient)
        x[fi["answer.is_yes"]] = float(key == "yes")
        x[fi["answer.is_no"]] = float(key == "no")
        x[fi["answer.yesno&q_yesno"]] = float(is_yesno and q_yesno)
        x[fi["answer.yesno&not_q_yesno"]] = float(is_yesno and not q_yesno)
        x[fi["answer.in_question"]] = float(not is_yesno and f" {key} " in q_norm)
        x[fi["answer.option_of_question"]] = float(any(normalize_answer(o) == key for o in options))
        x[fi["answer.is_read_title"]] = float(any(normalize_answer(t) == key for t, _ in read))
        x[fi["answer.n_words"]] = min(len(key.split()), 10) / 5.0
        actions.append(Answer(text))
        rows.append(x)
    return ActionSet(tuple(actions), np.array(rows))

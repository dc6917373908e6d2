"""Answer scoring (the official 2Wiki / SQuAD normalisation) and the episode reward variants.

`normalize_answer`, `exact_match` and `token_f1` follow the official 2WikiMultihopQA evaluation
script (itself the SQuAD / HotpotQA one): lower-case, drop punctuation, drop the articles
a/an/the, collapse white space. As in that script, when either side normalises to yes / no /
noanswer the two must match exactly to score any F1.
This is part of the evaluation contract: change it only on purpose, with before/after numbers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Literal

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred_norm, gold_norm = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (pred_norm in special or gold_norm in special) and pred_norm != gold_norm:
        return 0.0
    pred_tokens, gold_tokens = pred_norm.split(), gold_norm.split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    n_same = sum(common.values())
    if n_same == 0:
        return 0.0
    precision = n_same / len(pred_tokens)
    recall = n_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


RewardVariant = Literal["f1", "shaped", "f1_cost", "f1_pool_cost"]


@dataclass(frozen=True)
class RewardConfig:
    """The original study's reward ablation, as named variants.

    - `f1`: token F1 of the answer (0 when the episode ends without one).
    - `shaped`: F1 + `answer_bonus` for ending with a well-formed answer
      - `cost_coef` * tokens_read / budget - `invalid_penalty` per refused action.
    - `f1_cost`: F1 - `cost_coef` * tokens_read / budget.
    - `f1_pool_cost`: F1 - `cost_coef` * tokens_read / pool tokens, the pool being all of the
      question's chunks (what read-all reads): the price of reading as a share of reading it all,
      the same for a short pool as for a long one.
    """

    variant: RewardVariant = "f1_pool_cost"
    answer_bonus: float = 0.1
    cost_coef: float = 0.5
    invalid_penalty: float = 0.05

    def __post_init__(self) -> None:
        if self.variant not in ("f1", "shaped", "f1_cost", "f1_pool_cost"):
            raise ValueError(f"reward.variant must be f1, shaped, f1_cost or f1_pool_cost, got {self.variant!r}")


def episode_reward(
    cfg: RewardConfig, f1: float, answered: bool, tokens_read: int, budget: int, n_invalid: int, pool_tokens: int = 0
) -> float:
    cost_fraction = tokens_read / budget if budget > 0 else 0.0
    if cfg.variant == "f1":
        return f1
    if cfg.variant == "f1_pool_cost":
        return f1 - cfg.cost_coef * (tokens_read / pool_tokens if pool_tokens > 0 else 0.0)
    if cfg.variant == "f1_cost":
        return f1 - cfg.cost_coef * cost_fraction
    return f1 + (cfg.answer_bonus if answered else 0.0) - cfg.cost_coef * cost_fraction - cfg.invalid_penalty * n_invalid

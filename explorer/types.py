"""Typed values passed between modules: tasks, actions, observations, steps, episodes.

Everything here is a frozen dataclass (or a StrEnum) so that a value handed from the env to a
policy, or from a rollout to the trainer, cannot be changed behind the other side's back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """One piece of evidence the agent may open.

    `id` is the chunk's position in its task (0..n-1), stable for a given source record and
    chunking params. A paragraph longer than `data.max_chunk_tokens` becomes several chunks that
    share `title` and `paragraph`.
    """

    id: int
    title: str
    text: str
    n_tokens: int  # Qwen3 tokens of `text`: what opening this chunk costs
    preview: str  # the first `preview_tokens` tokens of `text`, shown for free
    paragraph: int  # index of the source paragraph in the record's context
    first_sentence: int  # index (within that paragraph) of the chunk's first sentence
    n_sentences: int


@dataclass(frozen=True)
class Task:
    """One question with its pool of chunks. `answer` and `gold_chunk_ids` are never shown to
    a policy through the observation; only the oracle policy and the reward read them."""

    id: str
    type: str
    question: str
    answer: str
    chunks: tuple[Chunk, ...]
    gold_chunk_ids: tuple[int, ...]
    evidences: tuple[tuple[str, str, str], ...] = ()
    # Other accepted spellings of the answer (Wikidata aliases), when the source gives them: the
    # official 2Wiki evaluation scores a prediction against the answer and its aliases (max).
    answer_aliases: tuple[str, ...] = ()

    @property
    def gold_answers(self) -> tuple[str, ...]:
        return (self.answer, *self.answer_aliases)

    @property
    def min_reading_cost(self) -> int:
        """Tokens needed to open exactly the gold chunks."""
        return sum(self.chunks[i].n_tokens for i in self.gold_chunk_ids)

    @property
    def all_reading_cost(self) -> int:
        return sum(c.n_tokens for c in self.chunks)


# ----------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Open:
    chunk_id: int


@dataclass(frozen=True)
class Summarize:
    note: str


@dataclass(frozen=True)
class Answer:
    text: str


@dataclass(frozen=True)
class Unparsable:
    """Text a language-model policy produced that is not an action. The env treats it as an
    invalid action (a wasted step), never as an exception."""

    raw: str
    error: str


Action = Open | Summarize | Answer | Unparsable


def action_to_dict(action: Action) -> dict[str, Any]:
    kind = {Open: "open", Summarize: "summarize", Answer: "answer", Unparsable: "unparsable"}
    return {"kind": kind[type(action)], **asdict(action)}


def action_from_dict(d: dict[str, Any]) -> Action:
    kind = d["kind"]
    if kind == "open":
        return Open(int(d["chunk_id"]))
    if kind == "summarize":
        return Summarize(d["note"])
    if kind == "answer":
        return Answer(d["text"])
    if kind == "unparsable":
        return Unparsable(d["raw"], d["error"])
    raise ValueError(f"unknown action kind {kind!r}")


# ----------------------------------------------------------------------------- env I/O


class StopReason(StrEnum):
    """Why an episode ended. ANSWERED is termination; the others are truncation."""

    ANSWERED = "answered"
    BUDGET_EXHAUSTED = "budget_exhausted"  # the agent tried to spend more than it had left
    STEP_CAP = "step_cap"  # max_steps actions without an answer


@dataclass(frozen=True)
class ChunkView:
    """What the agent sees of a chunk before (and after) opening it. With `env.previews:
    paragraph` (the default) `preview` is its paragraph's preview, the same for every chunk of
    the paragraph, and shown once per paragraph."""

    id: int
    title: str
    preview: str
    n_tokens: int
    opened: bool
    paragraph: int = 0  # index of the source paragraph
    position: int = 0  # the chunk's index within its paragraph (0: the paragraph's first chunk)
    cues: tuple[str, ...] = ()  # env.previews paragraph+cues: the chunk's cue marks (explorer/cues.py)


@dataclass(frozen=True)
class Observation:
    question: str
    chunks: tuple[ChunkView, ...]
    opened: tuple[tuple[int, str], ...]  # (chunk id, full text) still shown in the context
    notes: tuple[str, ...]
    budget: int
    budget_left: int
    step: int
    max_steps: int
    last_error: str | None = None  # why the previous action was refused, if it was
    previews: str = "paragraph"  # env.previews: one preview per paragraph (+ cue marks per chunk), or one per chunk


@dataclass(frozen=True)
class StepResult:
    observation: Observation
    reward: float  # 0.0 until the episode ends; the episode reward on the final step
    done: bool
    stop_reason: StopReason | None
    invalid: str | None = None  # why this action was refused (the step still counts)
    cost: int = 0  # budget tokens this action spent
    metrics: dict[str, float] = field(default_factory=dict)  # final step only: f1, em, ...


@dataclass(frozen=True)
class Transition:
    action: Action
    invalid: str | None
    cost: int
    budget_left: int


@dataclass(frozen=True)
class Episode:
    """A finished trajectory. The initial observation is reproducible from the task, so we store
    the actions and their outcomes; `explorer episodes show` replays them through the env."""

    task_id: str
    policy: str
    transitions: tuple[Transition, ...]
    stop_reason: StopReason
    answer: str | None
    reward: float
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "policy": self.policy,
            "stop_reason": str(self.stop_reason),
            "answer": self.answer,
            "reward": self.reward,
            "metrics": self.metrics,
            "steps": [
                {
                    "action": action_to_dict(t.action),
                    "invalid": t.invalid,
                    "cost": t.cost,
                    "budget_left": t.budget_left,
                }
                for t in self.transitions
            ],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Episode:
        return Episode(
            task_id=d["task_id"],
            policy=d["policy"],
            transitions=tuple(Transition(action_from_dict(s["action"]), s["invalid"], s["cost"], s["budget_left"]) for s in d["steps"]),
            stop_reason=StopReason(d["stop_reason"]),
            answer=d["answer"],
            reward=d["reward"],
            metrics=d["metrics"],
        )


# A policy maps what the agent sees to what it does. `rng` is the episode's randomness: anything
# with `.random()` (random.Random in the eval harness, numpy's Generator in training rollouts).
# A policy object may keep per-episode state (a conversation, a trace of its decisions): the
# callers make one per episode.
Policy = Callable[["Observation", Any], Action]
# A fresh policy for one task's episode: the oracle reads its task, and stateful policies (the
# language-model policy's conversation) must not carry one episode into the next.
PolicyFactory = Callable[["Task"], Policy]

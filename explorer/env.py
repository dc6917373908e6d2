"""ExplorerEnv: one task, one episode, synchronous, single-use.

What is charged to the budget (Qwen3 tokens, `env.budget`, default 2,000):
- opening a chunk costs the tokens of its full text (`Chunk.n_tokens`, shown beside each preview);
- writing a note (`summarize`) costs the note's tokens.
The question, the titles, the previews and the action instructions are free: every policy sees
them, so they are the same fixed prompt for all. `tokens_read` (the reading-cost metric) counts
opened chunk text only.

Outcomes (documented in the README, tested in tests/test_env.py):
- `Answer(text)` ends the episode (StopReason.ANSWERED) and scores `text`.
- An open or a note that costs more than the budget left is not performed and ends the episode
  without an answer (StopReason.BUDGET_EXHAUSTED): the budget is hard, and the agent sees every
  chunk's cost before it opens it.
- After `max_steps` actions without an answer the episode ends (StopReason.STEP_CAP).
- Refused actions (unknown chunk, already-open chunk, empty or over-long note, empty answer,
  unparsable text) change nothing but use up a step; the reason is in `StepResult.invalid` and
  in the next observation's `last_error`. They never raise.
- `summarize(note)` also folds the context: the full texts opened so far leave the observation
  and the note stands in for them (the chunks stay opened, so they cannot be re-read for free).
Stepping a finished env is a programming error and raises RuntimeError.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from explorer import tokens
from explorer.config import EnvConfig
from explorer.cues import chunk_cues, marks_listed
from explorer.render import render_observation
from explorer.reward import RewardConfig, episode_reward, exact_match, token_f1
from explorer.types import (
    Action,
    Answer,
    ChunkView,
    Episode,
    Observation,
    Open,
    StepResult,
    StopReason,
    Summarize,
    Task,
    Transition,
    Unparsable,
)


@lru_cache(maxsize=4096)
def shown_tokens(task: Task, cfg: EnvConfig) -> int:
    """Qwen3 tokens of the free text: the first observation as text (question, titles, previews,
    chunk ids and costs, instructions), what every policy is shown before it pays for anything."""
    return tokens.count(render_observation(ExplorerEnv(task, cfg).initial_observation()))


def _chunk_layout(task: Task, previews: str) -> tuple[list[int], list[str], list[tuple[str, ...]]]:
    """Each chunk's position within its paragraph, the preview shown for it (its paragraph's
    first chunk's preview with previews paragraph[+cues], its own with previews chunk) and its
    cue marks (previews paragraph+cues only)."""
    positions, shown, cues, first_preview, count = [], [], [], {}, {}
    n_in_paragraph = Counter(c.paragraph for c in task.chunks)
    for c in task.chunks:
        positions.append(count.get(c.paragraph, 0))
        count[c.paragraph] = positions[-1] + 1
        first_preview.setdefault(c.paragraph, c.preview)
        shown.append(c.preview if previews == "chunk" else first_preview[c.paragraph])
        cues.append(chunk_cues(c.text) if marks_listed(previews, n_in_paragraph[c.paragraph]) else ())
    return positions, shown, cues


class ExplorerEnv:
    def __init__(self, task: Task, cfg: EnvConfig | None = None, reward_cfg: RewardConfig | None = None):
        self.task = task
        self.cfg = cfg or EnvConfig()
        self.reward_cfg = reward_cfg or RewardConfig()
        self.budget_left = self.cfg.budget
        self.opened_ids: list[int] = []  # in opening order
        self.visible_ids: list[int] = []  # opened and not folded into a note
        self.notes: list[str] = []
        self.tokens_read = 0
        self.note_tokens = 0
        self.n_invalid = 0
        self.transitions: list[Transition] = []
        self.last_error: str | None = None
        self.stop_reason: StopReason | None = None
        self.answer: str | None = None
        self.final_metrics: dict[str, float] = {}
        self._positions, self._previews, self._cues = _chunk_layout(task, self.cfg.previews)

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def steps(self) -> int:
        return len(self.transitions)

    def observation(self) -> Observation:
        opened = set(self.opened_ids)
        return Observation(
            question=self.task.question,
            chunks=tuple(
                ChunkView(c.id, c.title, self._previews[i], c.n_tokens, c.id in opened, c.paragraph, self._positions[i], self._cues[i])
                for i, c in enumerate(self.task.chunks)
            ),
            opened=tuple((i, self.task.chunks[i].text) for i in self.visible_ids),
            notes=tuple(self.notes),
            budget=self.cfg.budget,
            budget_left=self.budget_left,
            step=self.steps,
            max_steps=self.cfg.max_steps,
            last_error=self.last_error,
            previews=self.cfg.previews,
        )

    initial_observation = observation

    def _refuse(self, why: str) -> str:
        self.n_invalid += 1
        return why

    def step(self, action: Action) -> StepResult:
        if self.done:
            raise RuntimeError(f"episode of task {self.task.id} already ended ({self.stop_reason}); envs are single-use")
        invalid: str | None = None
        cost = 0
        n_chunks = len(self.task.chunks)
        match action:
            case Open(chunk_id=cid):
                if not 0 <= cid < n_chunks:
                    invalid = self._refuse(f"unknown chunk id {cid} (valid ids: 0-{n_chunks - 1})")
                elif cid in self.opened_ids:
                    invalid = self._refuse(f"chunk {cid} is already open")
                elif self.task.chunks[cid].n_tokens > self.budget_left:
                    self.stop_reason = StopReason.BUDGET_EXHAUSTED
                else:
                    cost = self.task.chunks[cid].n_tokens
                    self.opened_ids.append(cid)
                    self.visible_ids.append(cid)
                    self.tokens_read += cost
            case Summarize(note=note):
                note = " ".join(note.split())
                n = tokens.count(note)
                if not note:
                    invalid = self._refuse("empty note")
                elif n > self.cfg.max_note_tokens:
                    invalid = self._refuse(f"note has {n} tokens; the limit is {self.cfg.max_note_tokens}")
                elif n > self.budget_left:
                    self.stop_reason = StopReason.BUDGET_EXHAUSTED
                else:
                    cost = n
                    self.notes.append(note)
                    self.visible_ids.clear()
                    self.note_tokens += n
            case Answer(text=text):
                if not text.strip():
                    invalid = self._refuse("empty answer")
                else:
                    self.answer = text.strip()
                    self.stop_reason = StopReason.ANSWERED
            case Unparsable(error=error):
                invalid = self._refuse(f"unparsable action: {error}")
            case _:
                raise TypeError(f"not an action: {action!r}")
        self.budget_left -= cost
        self.last_error = invalid
        self.transitions.append(Transition(action, invalid, cost, self.budget_left))
        if not self.done and self.steps >= self.cfg.max_steps:
            self.stop_reason = StopReason.STEP_CAP
        reward = 0.0
        if self.done:
            self.final_metrics = self._score()
            reward = self.final_metrics["reward"]
        return StepResult(
            observation=self.observation(), reward=reward, done=self.done, stop_reason=self.stop_reason,
            invalid=invalid, cost=cost, metrics=dict(self.final_metrics),
        )  # fmt: skip

    def _score(self) -> dict[str, float]:
        answered = self.answer is not None
        # max over the answer and its aliases, as the official 2Wiki evaluation scores
        f1 = max(token_f1(self.answer, g) for g in self.task.gold_answers) if answered else 0.0
        em = max(exact_match(self.answer, g) for g in self.task.gold_answers) if answered else 0.0
        gold = set(self.task.gold_chunk_ids)
        reward = episode_reward(
            self.reward_cfg, f1, answered, self.tokens_read, self.cfg.budget, self.n_invalid, self.task.all_reading_cost
        )
        return {
            "f1": f1, "em": em, "answered": float(answered), "reward": reward,
            "tokens_read": float(self.tokens_read), "note_tokens": float(self.note_tokens),
            "opens": float(len(self.opened_ids)), "steps": float(self.steps), "invalid": float(self.n_invalid),
            "gold_recall": len(gold & set(self.opened_ids)) / len(gold) if gold else 0.0,
            "tokens_shown": float(shown_tokens(self.task, self.cfg)),
        }  # fmt: skip

    def to_episode(self, policy: str) -> Episode:
        if not self.done:
            raise RuntimeError("episode has not ended")
        return Episode(
            task_id=self.task.id, policy=policy, transitions=tuple(self.transitions),
            stop_reason=self.stop_reason, answer=self.answer,  # type: ignore[arg-type]
            reward=self.final_metrics["reward"], metrics=dict(self.final_metrics),
        )  # fmt: skip

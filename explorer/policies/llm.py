"""The language-model policy: Qwen3 chat prompts built as token ids, token-in/token-out turns.

An episode is one growing token sequence, exactly what the model is shown and what it wrote:

    <|im_start|>system\\n{SYSTEM_PROMPT}<|im_end|>\\n
    <|im_start|>user\\n{render_observation(first observation)}<|im_end|>\\n
    <|im_start|>assistant\\n[<think>\\n\\n</think>\\n\\n]  <- thinking off: Qwen3's empty think block
    {sampled ids, verbatim}[<|im_end|>]                 <- <|im_end|> added only if the model did not write it
    \\n<|im_start|>user\\n{render_feedback(...)}<|im_end|>\\n
    <|im_start|>assistant\\n[<think>\\n\\n</think>\\n\\n]
    {sampled ids} ...

- Ids are built directly, offline (explorer/tokens.py): every text segment between two special
  tokens is encoded as one piece, which is what Qwen3's tokenizer does with the chat template's
  text (tests compare with `tokens.encode_with_specials` of the template text).
- Token-in/token-out: the ids the sampler returned are appended as they are and never decoded
  and re-encoded (decode -> encode does not always give the same ids back); the text is decoded
  only to parse the action. Qwen3's Jinja template would drop past `<think>` blocks when
  re-rendering a conversation; we never re-render, so the model's context is what it saw.
- Follow-up user turns carry only what changed (`render_feedback`): the opened chunk's text, the
  kept note or the refusal, and the budget. The question and the chunk list stay in the first
  turn. SUMMARIZE records and charges a note, but unlike the text observation it cannot take
  opened texts back out of a token sequence that only grows.
- Loss weights: 1 on sampled tokens (including a sampled closing `<|im_end|>`), 0 on everything
  else: system, observations, feedback, template tokens, the empty think block with thinking off
  (the template puts it there, the model did not write it) and an `<|im_end|>` we had to close a
  length-truncated reply with.
- An unparsable reply is an env outcome (`Unparsable` -> a refused, wasted step), never an error.
- A conversation that has grown to the model's context length gets no more replies: the sampler
  raises `ContextFull` instead of sending a request the service would refuse, and the policy
  plays a refused step (no tokens sampled); the episode goes on to the env's step cap.

This module does not import the Tinker SDK: a policy samples through any `Sampler` (the Tinker
one is explorer/backends/tinker_sdk.py), so prompts and bookkeeping are tested offline.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from explorer import tokens
from explorer.config import EnvConfig
from explorer.data.tasks import task_from_dict
from explorer.env import ExplorerEnv
from explorer.render import parse_action, render_action, render_observation
from explorer.types import Action, Episode, Observation, Open, Summarize, Unparsable

# Kept short: it is re-sent in every request of every episode and trained over in every datum
# (the first user turn already carries the question, the chunk list and the action syntax).
SYSTEM_PROMPT = "Answer multi-hop questions by opening as few evidence chunks as possible; each costs its tokens."

THINK, END_THINK = tokens.SPECIAL_TOKENS["<think>"], tokens.SPECIAL_TOKENS["</think>"]
STOP_TOKENS = (tokens.IM_END, tokens.ENDOFTEXT)  # sampling stops on these ids (kept in the reply)


def _nl() -> list[int]:
    return tokens.encode("\n")


def turn_ids(role: str, text: str) -> list[int]:
    """`<|im_start|>{role}\\n{text}<|im_end|>\\n` as ids."""
    return [tokens.IM_START, *tokens.encode(f"{role}\n{text}"), tokens.IM_END, *_nl()]


def assistant_prefix_ids(thinking: bool) -> list[int]:
    """The generation prompt: `<|im_start|>assistant\\n`, plus Qwen3's empty think block
    `<think>\\n\\n</think>\\n\\n` when thinking is off (enable_thinking=False)."""
    ids = [tokens.IM_START, *tokens.encode("assistant\n")]
    if not thinking:
        ids += [THINK, *tokens.encode("\n\n"), END_THINK, *tokens.encode("\n\n")]
    return ids


def initial_prompt_ids(obs: Observation, thinking: bool) -> list[int]:
    return turn_ids("system", SYSTEM_PROMPT) + turn_ids("user", render_observation(obs)) + assistant_prefix_ids(thinking)


def chat_template_text(messages: Sequence[tuple[str, str]], thinking: bool) -> str:
    """What Qwen3's chat template renders for (role, content) messages with
    add_generation_prompt=True (no tool calls, no reasoning in the history): the reference the
    tests compare `initial_prompt_ids` with, through `tokens.encode_with_specials`."""
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return text + "<|im_start|>assistant\n" + ("" if thinking else "<think>\n\n</think>\n\n")


def render_feedback(action: Action, obs: Observation) -> str:
    """The next user turn after `action`: only what changed, then the budget left (the action
    syntax is in the first turn; a feedback turn is re-sent with every later request)."""
    lines = []
    if obs.last_error:
        lines.append(f"Refused: {obs.last_error}")
    elif isinstance(action, Open):
        text = dict(obs.opened).get(action.chunk_id, "")
        title = next((c.title for c in obs.chunks if c.id == action.chunk_id), "")
        lines.append(f"[{action.chunk_id}] {title}: {text}")
    elif isinstance(action, Summarize):
        lines.append(f"Note kept: {action.note}")
    lines.append(f"{obs.budget_left} tokens left, step {obs.step + 1} of {obs.max_steps}.")
    return "\n".join(lines)


class ContextFull(Exception):
    """What a sampler raises instead of sending a prompt that leaves no room for a reply in the
    model's context (the service would answer it with HTTP 400)."""


class Sample(NamedTuple):
    """One sampled reply: token ids and the sampler's logprob of each."""

    tokens: list[int]
    logprobs: list[float]


class SampleFuture(Protocol):
    def result(self) -> list[Sample]: ...


class Sampler(Protocol):
    """Anything that continues a prompt: `submit(prompt_ids, n, temperature, seed)` returns a
    future of `n` samples (explorer.backends.tinker.TinkerSampler is the real one)."""

    def submit(self, prompt: list[int], num_samples: int, temperature: float, seed: int) -> SampleFuture: ...


@dataclass
class Conversation:
    """One episode's token sequence with, per token, whether the policy sampled it and the
    sampler's logprob (0.0 where not sampled). Token-in/token-out: ids only ever get appended."""

    thinking: bool
    tokens: list[int] = field(default_factory=list)
    sampled: list[bool] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    prompt_tokens_sent: int = 0  # sum of prompt lengths over the sample requests made for it
    n_samples: int = 0

    @classmethod
    def start(cls, obs: Observation, thinking: bool) -> Conversation:
        conv = cls(thinking)
        conv.add_context(initial_prompt_ids(obs, thinking))
        return conv

    def add_context(self, ids: Sequence[int]) -> None:
        self.tokens.extend(ids)
        self.sampled.extend([False] * len(ids))
        self.logprobs.extend([0.0] * len(ids))

    def add_reply(self, sample: Sample) -> Action:
        """Append the sampled ids verbatim and parse the action they spell."""
        if len(sample.tokens) != len(sample.logprobs):
            raise ValueError(f"{len(sample.tokens)} sampled tokens but {len(sample.logprobs)} logprobs")
        self.tokens.extend(sample.tokens)
        self.sampled.extend([True] * len(sample.tokens))
        self.logprobs.extend(float(x) for x in sample.logprobs)
        self.n_samples += 1
        return parse_action(reply_text(sample.tokens))

    def add_feedback(self, action: Action, obs: Observation) -> None:
        """Close the assistant turn (if the model did not) and open the next user and assistant
        turns. Everything added here has weight 0."""
        close = [] if self.tokens and self.tokens[-1] == tokens.IM_END else [tokens.IM_END]
        self.add_context(close + _nl() + turn_ids("user", render_feedback(action, obs)) + assistant_prefix_ids(self.thinking))

    @property
    def n_sampled(self) -> int:
        return sum(self.sampled)

    def training_arrays(self) -> tuple[list[int], list[int], list[float], list[float]]:
        """(model input, target tokens, weights, sampler logprobs) for next-token training,
        cut after the last sampled token (nothing after it has weight)."""
        last = max((i for i, s in enumerate(self.sampled) if s), default=-1)
        if last < 1:
            raise ValueError("no sampled token after the prompt: nothing to train on")
        toks = self.tokens[: last + 1]
        weights = [1.0 if s else 0.0 for s in self.sampled[1 : last + 1]]
        return toks[:-1], toks[1:], weights, self.logprobs[1 : last + 1]


_SPECIAL_NAMES = {i: name for name, i in tokens.SPECIAL_TOKENS.items()}


def reply_text(ids: Sequence[int]) -> str:
    """The text of a reply, without its stop token, for parsing only. Never raises: ids the
    tokenizer has no text for (Qwen3's embedding rows past the last special token) read as U+FFFD."""
    ids = list(ids)
    if ids and ids[-1] in STOP_TOKENS:
        ids = ids[:-1]
    enc, out, run = tokens.get_encoding(), [], []
    for i in ids:
        if 0 <= i < tokens.ENDOFTEXT:  # ordinary BPE ids are 0 .. 151642
            run.append(i)
            continue
        out.append(enc.decode_bytes(run))
        run = []
        out.append(_SPECIAL_NAMES.get(i, "\ufffd").encode())
    out.append(enc.decode_bytes(run))
    return b"".join(out).decode("utf-8", errors="replace")


class LLMPolicy:
    """A policy for the eval harness: `(Observation, rng) -> Action`, one conversation per
    episode (a new one whenever `obs.step == 0`; the harness runs episodes one at a time).
    Greedy (temperature 0) by default; the sampling seed comes from the episode's rng."""

    def __init__(self, sampler: Sampler, thinking: bool = False, temperature: float = 0.0, name: str = "llm"):
        self.sampler, self.thinking, self.temperature, self.name = sampler, thinking, temperature, name
        self.conv: Conversation | None = None
        self.last_action: Action | None = None

    def __call__(self, obs: Observation, rng: random.Random) -> Action:
        if obs.step == 0 or self.conv is None:
            self.conv = Conversation.start(obs, self.thinking)
        else:
            assert self.last_action is not None
            self.conv.add_feedback(self.last_action, obs)
        prompt = list(self.conv.tokens)
        try:
            sample = self.sampler.submit(prompt, 1, self.temperature, rng.getrandbits(31)).result()[0]
        except ContextFull as e:
            self.last_action = Unparsable("", f"{e}; no reply was sampled")
            return self.last_action
        self.conv.prompt_tokens_sent += len(prompt)
        self.last_action = self.conv.add_reply(sample)
        return self.last_action


def demo_conversation(line: dict[str, Any], thinking: bool) -> Conversation:
    """A demo episode (a line of data/demos/episodes.jsonl) as the conversation the LLM policy
    would have had, with the demonstrated actions as its (weight 1) replies: what Tinker SFT
    trains on, and what the cost estimate counts."""
    task = task_from_dict(line["task"])
    env = ExplorerEnv(task, EnvConfig(**line["env_config"]))
    conv = Conversation.start(env.initial_observation(), thinking)
    think = [THINK, *tokens.encode("\n\n"), END_THINK, *tokens.encode("\n\n")] if thinking else []
    for t in Episode.from_dict(line).transitions:
        reply = think + tokens.encode(render_action(t.action)) + [tokens.IM_END]
        conv.add_reply(Sample(reply, [0.0] * len(reply)))
        result = env.step(t.action)
        if result.done:
            break
        conv.add_feedback(t.action, result.observation)
    return conv

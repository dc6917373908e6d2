"""What a Tinker run sends, estimated before it runs, from the demo episodes' actions rendered
exactly as the GRPO loop renders them (`explorer cost`).

Per GRPO step every one of the batch_size x group_size episodes is its own chain of sample
requests (explorer/backends/tinker.py): turn k re-sends the whole conversation so far as its
prompt. So most prompt tokens are a prefix the service has just seen: the group's first turn
(the same prompt for all its episodes) and each episode's previous turn. `new_prompt` counts
only the tokens that are not such a prefix: what a prefix cache cannot serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.policies.llm import demo_conversation


@dataclass
class EpisodeTokens:
    turns: list[tuple[int, int]] = field(default_factory=list)  # (prompt tokens, sampled tokens) per turn

    @property
    def train(self) -> int:  # forward_backward input tokens of the episode's datum
        return self.turns[-1][0] + self.turns[-1][1] - 1

    @property
    def new_after_first(self) -> int:
        """Prompt tokens of turns 2.. that are not the previous turn's prompt + reply."""
        return sum(p - (p0 + r0) for (p0, r0), (p, _) in zip(self.turns, self.turns[1:], strict=False))


def episode_tokens(line: dict[str, Any], thinking: bool, reply_tokens: int | None = None) -> EpisodeTokens:
    """The token counts the GRPO loop would see for a demo episode's actions: the prompt of every
    turn and the reply (the action + <|im_end|>, with thinking on the empty think block too), or
    replies of a fixed `reply_tokens` each (e.g. max_tokens: replies cut at the limit)."""
    conv = demo_conversation(line, thinking)
    runs: list[tuple[int, int]] = []  # (start, length) of each reply in the token sequence
    for i, s in enumerate(conv.sampled):
        if s and (i == 0 or not conv.sampled[i - 1]):
            runs.append((i, 0))
        if s:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
    out, shift = EpisodeTokens(), 0
    for start, n in runs:
        r = n if reply_tokens is None else reply_tokens
        out.turns.append((start + shift, r))
        shift += r - n
    return out


def step_tokens(episodes: list[EpisodeTokens], batch_size: int, group_size: int) -> dict[str, float]:
    """Expected tokens of one GRPO step if every episode looked like a random one of `episodes`:
    every turn of every episode is one request; training sends every episode of the kept groups
    (all kept here)."""
    first = np.mean([e.turns[0][0] for e in episodes])
    later = np.mean([sum(p for p, _ in e.turns[1:]) for e in episodes])
    new_later = np.mean([e.new_after_first for e in episodes])
    sampled = np.mean([sum(n for _, n in e.turns) for e in episodes])
    train = np.mean([e.train for e in episodes])
    n = batch_size * group_size
    return {"turns": float(np.mean([len(e.turns) for e in episodes])), "first_prompt": float(first), "later_prompts": float(later),
            "sampled_per_episode": float(sampled), "train_per_episode": float(train), "prompt": float(n * (first + later)),
            "new_prompt": float(batch_size * first + n * new_later), "sampled": float(n * sampled), "train": float(n * train)}  # fmt: skip


def cost_report(params: Any, lines: list[dict[str, Any]], source: str) -> str:
    """Markdown: tokens per GRPO step and per seed for `params`, from the demo episodes `lines`."""
    g, t = params.grpo, params.tinker
    out = [f"{len(lines)} episodes from {source}; batch_size {g.batch_size} x group_size {g.group_size}; max_tokens {t.max_tokens}", "",
           "Per GRPO step (all groups kept):", "",
           "| replies | thinking | turns / ep | 1st prompt | later prompts / ep | sampled / ep | train / ep | prompt / step | not a cached prefix | sampled / step | train / step |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for thinking in (False, True):
        for label, reply in (("the action", None), (f"max_tokens ({t.max_tokens})", t.max_tokens)):
            c = step_tokens([episode_tokens(d, thinking, reply) for d in lines], g.batch_size, g.group_size)
            out.append(f"| {label} | {'on' if thinking else 'off'} | {c['turns']:.2f} | {c['first_prompt']:.0f} | {c['later_prompts']:.0f} | "
                       f"{c['sampled_per_episode']:.0f} | {c['train_per_episode']:.0f} | {c['prompt']:,.0f} | {c['new_prompt']:,.0f} | "
                       f"{c['sampled']:,.0f} | {c['train']:,.0f} |")  # fmt: skip
    eps = [episode_tokens(d, t.thinking) for d in lines]
    n_val = params.data.val_size
    ev = step_tokens(eps, n_val, 1)
    n_evals = g.steps // g.eval_every + (g.steps % g.eval_every != 0) + 1  # + step 0 (the SFT start)
    sft = sum(e.train for e in eps)
    c = step_tokens(eps, g.batch_size, g.group_size)
    total = g.steps * (c["prompt"] + c["sampled"]) + n_evals * (ev["prompt"] + ev["sampled"])
    out += ["", f"Greedy val eval ({n_val} questions, every {g.eval_every} steps and at step 0: {n_evals} evals), each: "
            f"prompt {ev['prompt']:,.0f}, sampled {ev['sampled']:,.0f}",
            f"SFT per seed ({len(lines)} demos x {t.sft_epochs} epochs): train {sft * t.sft_epochs:,.0f} tokens",
            f"One seed, {g.steps} GRPO steps (replies as the demos): sampling (prompt + sampled) {total:,.0f}, train {g.steps * c['train']:,.0f} tokens"]  # fmt: skip
    return "\n".join(out) + "\n"

"""What a Tinker run sends and costs, estimated before it runs, from the demo episodes' actions
rendered exactly as the GRPO loop renders them (`explorer cost`), priced with `tinker.prices`.

Per GRPO step every one of the batch_size x group_size episodes is its own chain of sample
requests (explorer/backends/tinker.py): turn k re-sends the whole conversation so far as its
prompt. So most prompt tokens are a prefix the service has just seen: the group's first turn
(the same prompt for all its episodes) and each episode's previous turn. `new_prompt` counts
only the tokens that are not such a prefix: what a prefix cache cannot serve. The dollars are
given both ways: every prompt token at the prefill price ("no cache"), and only `new_prompt` at
it, the rest at the cached-prefill price ("cache"). A run logs what the service reported
(`cost/*` metrics).

The cost of a whole run adds the greedy val evals inside GRPO, SFT (train tokens), the evaluate
stage (SFT and GRPO checkpoints of every seed on val and dev) and storage: the checkpoints that
files point at when the run ends (per seed: SFT's state and sampler weights, GRPO's best and last),
each kept for tinker.checkpoint_ttl_seconds (resume points in between are deleted as the run goes
unless tinker.keep_old_checkpoints, and live minutes, not weeks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.backends.tinker_store import GB, MONTH_S, estimated_bytes
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


def _dollars(prices: Any, c: dict[str, float], cached: bool) -> float:
    """One step's (or eval's) dollars; with `cached`, only `new_prompt` is uncached prefill."""
    hits = c["prompt"] - c["new_prompt"] if cached else 0.0
    return prices.dollars(prefill=c["prompt"], cached=hits, sampled=c["sampled"], train=c.get("train_billed", 0.0))


def run_costs(params: Any, lines: list[dict[str, Any]], n_dev: int) -> dict[str, Any]:
    """Tokens and dollars per GRPO step, per seed and per run (all `train.seeds`) for `params`,
    with the demo episodes `lines` as what the policy plays (thinking as configured)."""
    g, t = params.grpo, params.tinker
    eps = [episode_tokens(d, t.thinking) for d in lines]
    step = step_tokens(eps, g.batch_size, g.group_size) | {}
    step["train_billed"] = step["train"]
    val = step_tokens(eps, params.data.val_size, 1)
    n_evals = g.steps // g.eval_every + (g.steps % g.eval_every != 0) + 1  # + step 0 (the SFT start)
    sft_train = sum(e.train for e in eps) * t.sft_epochs
    evaluate = {k: v * 2 for k, v in step_tokens(eps, params.data.val_size + n_dev, 1).items()}  # SFT and GRPO checkpoints
    gb = {kind: estimated_bytes(t, kind) / GB for kind in ("state", "sampler")}
    months = t.checkpoint_ttl_seconds / MONTH_S
    stored_gb = 3 * (gb["state"] + gb["sampler"])  # SFT final, GRPO best and last: each a state and sampler weights
    if t.keep_old_checkpoints:
        stored_gb += gb["state"] * (
            math.ceil(g.steps / t.grpo_save_every) + math.ceil(len(sft_schedule_steps(params, len(lines))) / t.sft_save_every)
        )
    out: dict[str, Any] = {"step": step, "val_eval": val, "n_evals": n_evals, "sft_train": sft_train, "evaluate": evaluate,
                           "storage_gb": stored_gb, "storage_dollars": t.prices.dollars(gb_months=stored_gb * months)}  # fmt: skip
    for cached in (False, True):
        key = "cache" if cached else "no_cache"
        per_step = _dollars(t.prices, step, cached)
        per_seed = (g.steps * per_step + n_evals * _dollars(t.prices, val, cached) + t.prices.dollars(train=sft_train)
                    + out["storage_dollars"])  # fmt: skip
        out[key] = {
            "step": per_step,
            "seed": per_seed,
            "run": len(params.train.seeds) * per_seed + _dollars(t.prices, evaluate, cached) * len(params.train.seeds),
        }
    return out


def sft_schedule_steps(params: Any, n_demos: int) -> range:
    t = params.tinker
    return range(t.sft_epochs * math.ceil(n_demos / t.sft_batch_size))


def cost_report(params: Any, lines: list[dict[str, Any]], source: str, n_dev: int = 0) -> str:
    """Markdown: tokens and dollars per GRPO step, per seed and per run for `params`, from the demo
    episodes `lines`, priced with `tinker.prices` (whose source is printed)."""
    g, t, pr = params.grpo, params.tinker, params.tinker.prices
    out = [f"{len(lines)} episodes from {source}; batch_size {g.batch_size} x group_size {g.group_size}; max_tokens {t.max_tokens}", "",
           "Tokens per GRPO step (all groups kept, so train is its maximum):", "",
           "| replies | thinking | turns / ep | 1st prompt | later prompts / ep | sampled / ep | train / ep | prompt / step | not a cached prefix | sampled / step | train / step |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for thinking in (False, True):
        for label, reply in (("the action", None), (f"max_tokens ({t.max_tokens})", t.max_tokens)):
            c = step_tokens([episode_tokens(d, thinking, reply) for d in lines], g.batch_size, g.group_size)
            out.append(f"| {label} | {'on' if thinking else 'off'} | {c['turns']:.2f} | {c['first_prompt']:.0f} | {c['later_prompts']:.0f} | "
                       f"{c['sampled_per_episode']:.0f} | {c['train_per_episode']:.0f} | {c['prompt']:,.0f} | {c['new_prompt']:,.0f} | "
                       f"{c['sampled']:,.0f} | {c['train']:,.0f} |")  # fmt: skip
    r = run_costs(params, lines, n_dev)
    ev, n = r["val_eval"], len(params.train.seeds)
    out += ["", f"Greedy val eval ({params.data.val_size} questions, every {g.eval_every} steps and at step 0: {r['n_evals']} evals), each: "
            f"prompt {ev['prompt']:,.0f} ({ev['new_prompt']:,.0f} not a cached prefix), sampled {ev['sampled']:,.0f}",
            f"SFT per seed ({len(lines)} demos x {t.sft_epochs} epochs): train {r['sft_train']:,.0f} tokens",
            f"evaluate stage per seed (SFT + GRPO checkpoints on val {params.data.val_size} + dev {n_dev}): prompt {r['evaluate']['prompt']:,.0f}, "
            f"sampled {r['evaluate']['sampled']:,.0f}",
            f"Storage per seed at the end: {r['storage_gb']:.2f} GB (estimated sizes) for {t.checkpoint_ttl_seconds / 86400:g} days",
            "", f"Dollars (thinking {'on' if t.thinking else 'off'}, replies as the demos), at the prices of `tinker.prices`:", "",
            f"| prefill | per GRPO step | per seed ({g.steps} steps, evals, SFT, storage) | per run ({n} seeds + evaluate) |", "|---|---|---|---|"]  # fmt: skip
    for key, label in (("no_cache", f"every prompt token at ${pr.prefill}/M"), ("cache", f"cached prefixes at ${pr.cached_prefill}/M")):
        out.append(f"| {label} | ${r[key]['step']:.4f} | ${r[key]['seed']:.2f} | ${r[key]['run']:.2f} |")
    out += ["", f"Prices (USD per million tokens; storage per GB-month): prefill {pr.prefill}, cached prefill {pr.cached_prefill}, "
            f"sample {pr.sample}, train {pr.train}, storage {pr.storage_gb_month}; read {pr.read or '?'}", f"Source: {' '.join(pr.source) or '(none given)'}"]  # fmt: skip
    return "\n".join(out) + "\n"

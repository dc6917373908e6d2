"""Text views of tasks and trajectories: `explorer inspect` (a task as the agent sees it, and a
policy's episode on it) and `explorer episodes show` (a recorded episode, replayed step by step)."""

from __future__ import annotations

from pathlib import Path

from explorer.config import EnvConfig
from explorer.data.tasks import task_from_dict
from explorer.env import ExplorerEnv
from explorer.harness import read_episodes
from explorer.render import render_action, render_observation
from explorer.reward import RewardConfig
from explorer.types import Episode, Task

BUDGET_RULES = (
    "Budget rules: opening a chunk charges its full text's Qwen3 tokens (shown as 'tok'); a note "
    "charges its tokens. The question, titles, previews and instructions are free. An open or note "
    "costing more than the budget left ends the episode unanswered."
)


def pick_task(tasks: list[Task], key: str) -> Task:
    """A task by id, or by 0-based index in the list."""
    for t in tasks:
        if t.id == key:
            return t
    if key.isdigit() and int(key) < len(tasks):
        return tasks[int(key)]
    raise SystemExit(f"no task with id or index {key!r} (there are {len(tasks)})")


def print_gold(task: Task) -> None:
    print("\n--- gold (not shown to the agent) ---")
    aliases = f"    aliases (also scored as correct): {', '.join(task.answer_aliases)}" if task.answer_aliases else ""
    print(f"answer: {task.answer}    type: {task.type}    id: {task.id}{aliases}")
    print(f"gold chunks: {list(task.gold_chunk_ids)} (minimum reading cost {task.min_reading_cost} tokens of {task.all_reading_cost})")
    for i in task.gold_chunk_ids:
        c = task.chunks[i]
        print(f"  [{i}] {c.title}: {c.text}")
    if task.evidences:
        print("evidences: " + "; ".join(" | ".join(e) for e in task.evidences))


def replay(task: Task, episode: Episode, env_cfg: EnvConfig, reward_cfg: RewardConfig) -> None:
    """Print every observation the agent saw and what it did, by re-running the env."""
    env = ExplorerEnv(task, env_cfg, reward_cfg)
    obs = env.initial_observation()
    for i, t in enumerate(episode.transitions):
        print(f"=============== step {i + 1} — what the agent sees ===============")
        print(render_observation(obs))
        r = env.step(t.action)
        outcome = f"refused: {r.invalid}" if r.invalid else f"cost {r.cost}, budget left {r.observation.budget_left}"
        print(f">>> {render_action(t.action)}    ({outcome})")
        obs = r.observation
    print(f"=============== end: {env.stop_reason} ===============")
    print(f"answer: {env.answer!r}   " + "  ".join(f"{k}={v:g}" for k, v in env.final_metrics.items()))
    if env.final_metrics != episode.metrics:
        print(f"warning: replay metrics differ from the recorded ones: {episode.metrics}")


def show_episode(path: Path, key: str) -> None:
    """Replay the episode of task id `key` (or the `key`-th line, 0-based) of an episodes.jsonl."""
    for i, d in enumerate(read_episodes(path)):
        if d["task_id"] == key or str(i) == key:
            task = task_from_dict(d["task"], str(path), i + 1)
            print(f"episode of policy {d['policy']} on task {task.id} ({path}, episode {i})\n{BUDGET_RULES}\n")
            replay(task, Episode.from_dict(d), EnvConfig(**d["env_config"]), RewardConfig(**d["reward_config"]))
            print_gold(task)
            return
    raise SystemExit(f"no episode for task id (or 0-based index) {key!r} in {path}")

"""`params.yaml` is the one config. Each section parses into a frozen dataclass that rejects
unknown keys, so a typo like `grpo.lr_rate` is an error, not a silently ignored setting."""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from explorer.io import atomic_write_text
from explorer.prices import TinkerPrices
from explorer.reward import RewardConfig

T = TypeVar("T")
DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class DataConfig:
    """Where raw records come from and how they become tasks (see README "Data")."""

    # auto | local:PATH | hub:ID. `auto` uses $EXPLORER_2WIKI_DIR, else ../shared/data/2wiki if
    # it exists, else the hub id below; the choice is printed and recorded in the manifest.
    source: str = "auto"
    hub_id: str = "framolfese/2WikiMultihopQA"
    hub_train_split: str = "train"
    hub_dev_split: str = "validation"
    train_file: str = "train.jsonl"  # names inside a local source folder
    dev_file: str = "dev.jsonl"
    train_size: int = 5000  # capped (loudly) at what the source has after the val hold-out
    val_size: int = 100  # held out from the official train split, for checkpoint selection
    dev_size: int = 0  # official dev records to use as the test split; 0 = all
    seed: int = 0  # shuffles the train source before the val hold-out
    # Longer paragraphs are split at sentence boundaries (a sentence is never cut); 0 = one chunk
    # per sentence.
    max_chunk_tokens: int = 48
    preview_tokens: int = 16  # the free preview: a paragraph's (or, with env.previews chunk, a chunk's) first tokens
    on_error: str = "stop"  # stop | skip: what a malformed record does (skip counts them)
    out_dir: str = "data/prepared"

    def __post_init__(self) -> None:
        if self.on_error not in ("stop", "skip"):
            raise ConfigError(f"data.on_error must be stop or skip, got {self.on_error!r}")
        if not (self.max_chunk_tokens == 0 or self.max_chunk_tokens >= 8) or self.preview_tokens < 0:
            raise ConfigError("data.max_chunk_tokens must be 0 (one chunk per sentence) or >= 8, and data.preview_tokens >= 0")


PREVIEW_MODES = ("paragraph", "paragraph+cues", "chunk")


@dataclass(frozen=True)
class EnvConfig:
    budget: int = 2000  # Qwen3 tokens the agent may spend on opened text and notes
    # Enough for read-all at any chunking here (at most 81 chunks a question, one per sentence) + answer.
    max_steps: int = 100
    max_note_tokens: int = 64
    # What is shown for free: one preview per paragraph, its chunks listed under it with their
    # costs (so finer chunks do not buy free reading); paragraph+cues: the same, each chunk's cost
    # followed by its cue marks (explorer/cues.py); or (chunk) one preview per chunk.
    previews: str = "paragraph"

    def __post_init__(self) -> None:
        if self.budget < 1 or self.max_steps < 1 or self.max_note_tokens < 1:
            raise ConfigError("env.budget, env.max_steps and env.max_note_tokens must be >= 1")
        if self.previews not in PREVIEW_MODES:
            raise ConfigError(f"env.previews must be one of {', '.join(PREVIEW_MODES)}, got {self.previews!r}")


@dataclass(frozen=True)
class BaselineConfig:
    policies: tuple[str, ...] = ("random", "heuristic", "read_all", "gold_reading", "oracle")
    split: str = "dev"
    seed: int = 0
    out_dir: str = "reports/baseline"


@dataclass(frozen=True)
class DemosConfig:
    n_demos: int = 450  # demonstration episodes on the train split (the original study used 450)
    policy: str = "gold_reading"  # gold_reading (reads the supporting-fact labels; train only) | heuristic
    split: str = "train"
    out_dir: str = "data/demos"  # episodes.jsonl (the eval format: `explorer episodes show` reads it)


@dataclass(frozen=True)
class TrainConfig:
    # Every training seed gets its own SFT and GRPO run (models/{sft,grpo}/seed{N}); results are
    # reported as mean and spread over them.
    seeds: tuple[int, ...] = (0, 1, 2)
    # local: the numpy log-linear policy on this CPU. tinker: Qwen3 + LoRA trained through the
    # Tinker SDK (needs TINKER_API_KEY); same stages, same env, reward and demos.
    backend: str = "local"

    def __post_init__(self) -> None:
        if self.backend not in ("local", "tinker"):
            raise ConfigError(f"train.backend must be local or tinker, got {self.backend!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"train.seeds must be a non-empty list of distinct ints, got {list(self.seeds)}")


TTL_RANGE = (3600, 10 * 365 * 24 * 3600)  # the SDK's: save_state / save_weights_for_sampler ttl_seconds


@dataclass(frozen=True)
class TinkerConfig:
    """Settings of the Tinker backend (used when train.backend is tinker)."""

    base_model: str = "Qwen/Qwen3-8B"
    lora_rank: int = 32  # a power of two up to the model's maximum (checked against the service)
    base_url: str = ""  # empty: $TINKER_BASE_URL, else the SDK's default (the real service)
    sft_lr: float = 1e-4
    grpo_lr: float = 5e-6  # the original study's
    max_tokens: int = 48  # per action the model writes
    thinking: bool = False  # Qwen3 chat template with or without a <think> block
    sft_epochs: int = 2  # passes over the demos (each demo episode is one datum)
    sft_batch_size: int = 32  # demo episodes per optimizer step
    loss_fn: str = "importance_sampling"  # GRPO loss: importance_sampling | ppo (ppo clips at 1 -/+ grpo.clip_eps)
    sft_save_every: int = 10  # SFT steps between saved training states (and at the end)
    grpo_save_every: int = 5  # GRPO steps between resume points (used instead of grpo.checkpoint_every)
    checkpoint_ttl_seconds: int = 7 * 24 * 3600  # every checkpoint the service stores expires after this
    keep_old_checkpoints: bool = False  # false: delete resume points and best checkpoints nothing points at
    prices: TinkerPrices = field(default_factory=TinkerPrices)

    def __post_init__(self) -> None:
        if self.loss_fn not in ("importance_sampling", "ppo"):
            raise ConfigError(f"tinker.loss_fn must be importance_sampling or ppo, got {self.loss_fn!r}")
        if self.lora_rank < 1 or self.max_tokens < 1 or self.sft_epochs < 0 or self.sft_batch_size < 1:
            raise ConfigError("tinker.lora_rank, max_tokens and sft_batch_size must be >= 1 and sft_epochs >= 0")
        if self.lora_rank & (self.lora_rank - 1):
            raise ConfigError(f"tinker.lora_rank must be a power of two (Tinker accepts only those), got {self.lora_rank}")
        if self.sft_save_every < 1 or self.grpo_save_every < 1:
            raise ConfigError("tinker.sft_save_every and tinker.grpo_save_every must be >= 1")
        lo, hi = TTL_RANGE
        if not lo <= self.checkpoint_ttl_seconds <= hi:
            raise ConfigError(
                f"tinker.checkpoint_ttl_seconds must be in [{lo} (1 hour), {hi} (10 years)], got {self.checkpoint_ttl_seconds}"
            )


@dataclass(frozen=True)
class LocalPolicyConfig:
    """Opt-in stop rules of the local policy, the heuristic's own (README "The learned policy")."""

    max_opens: int = 0  # 0: no cap
    answer_when_sufficient: bool = False

    def __post_init__(self) -> None:
        if self.max_opens < 0:
            raise ConfigError(f"local_policy.max_opens must be >= 0 (0: no cap), got {self.max_opens}")

    active = property(lambda self: self.max_opens > 0 or self.answer_when_sufficient)  # any rule on


@dataclass(frozen=True)
class SFTConfig:
    """Behaviour cloning of the demos into the local policy."""

    epochs: int = 10
    batch_size: int = 64  # steps per minibatch
    lr: float = 0.05
    weight_decay: float = 0.01  # keeps the cloned policy soft enough for GRPO to explore
    out_dir: str = "models/sft"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("sft.epochs and sft.batch_size must be >= 1 and sft.lr > 0")


@dataclass(frozen=True)
class GRPOConfig:
    """Group-relative policy optimisation of the local policy, starting from the SFT checkpoint."""

    steps: int = 60
    batch_size: int = 8  # questions per step
    group_size: int = 16  # sampled episodes per question
    lr: float = 0.02
    clip_eps: float = 0.2  # PPO-style clip range of the importance ratio
    kl_coef: float = 0.0  # exact KL(policy || SFT policy) over each state's action set
    entropy_coef: float = 0.0
    epochs_per_step: int = 4  # gradient passes over each batch of rollouts
    temperature: float = 1.0  # sampling temperature during rollouts (eval is greedy)
    normalize_advantages: bool = True  # divide by the group's reward std (GRPO); else only centre
    eval_every: int = 10  # greedy eval on val; the checkpoint with the best val reward is kept
    checkpoint_every: int = 1
    viewer_every: int = 20  # a rollout-viewer page of the step's groups every N steps (0: none)
    out_dir: str = "models/grpo"

    def __post_init__(self) -> None:
        if (
            min(
                self.steps,
                self.batch_size,
                self.group_size,
                self.epochs_per_step,
                self.eval_every,
                self.checkpoint_every,
                self.viewer_every + 1,
            )
            < 1
        ):
            raise ConfigError("grpo.steps, batch_size, group_size, epochs_per_step, eval_every and checkpoint_every must be >= 1")
        if self.lr <= 0 or self.clip_eps <= 0 or self.temperature <= 0 or self.kl_coef < 0:
            raise ConfigError("grpo.lr, clip_eps and temperature must be > 0 and grpo.kl_coef >= 0")


@dataclass(frozen=True)
class EvaluateConfig:
    splits: tuple[str, ...] = ("val", "dev")
    # heuristic, read-all and every GRPO seed again with env.budget set to each (budgets.json)
    budgets: tuple[int, ...] = (128, 256, 512, 2000)
    out_dir: str = "reports/eval"

    def __post_init__(self) -> None:
        if any(b < 1 for b in self.budgets):
            raise ConfigError(f"evaluate.budgets must be >= 1, got {list(self.budgets)}")


@dataclass(frozen=True)
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"  # a relative sqlite path is made absolute against the project root (tracking.py)
    experiment: str = "tinker-explorer"
    enabled: bool = True


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    demos: DemosConfig = field(default_factory=DemosConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tinker: TinkerConfig = field(default_factory=TinkerConfig)
    local_policy: LocalPolicyConfig = field(default_factory=LocalPolicyConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        if self.train.backend == "tinker" and self.local_policy.active:
            raise ConfigError("local_policy stop rules apply to the local backend only: turn them off with train.backend tinker")


def project_root() -> Path:
    """The project's folder: $EXPLORER_PROJECT_ROOT if set; else, inside a DVC temporary
    experiment copy (`<repo>/.dvc/tmp/exps/<tmp>/`, made by `dvc exp run --temp` or a queue),
    the repo that holds it; else the current folder. Relative data and tracking paths resolve
    against it, so experiments read the same data and log into the same MLflow store."""
    if os.environ.get("EXPLORER_PROJECT_ROOT"):
        return Path(os.environ["EXPLORER_PROJECT_ROOT"]).resolve()
    cwd = Path.cwd().resolve()
    parts = cwd.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return cwd


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], d: Any, where: str) -> T:
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in d.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.exists():
        if path != DEFAULT_PARAMS:
            # A mistyped --params must not silently run on defaults.
            raise ConfigError(f"{path}: params file not found")
        print(f"note: no {path} in {Path.cwd()}; using the built-in defaults", file=sys.stderr)
        return Params()
    return from_dict(Params, read_yaml(path), str(path))


def read_yaml(path: Path) -> Any:
    """A YAML file's content, or a ConfigError naming the file and the line that does not parse."""
    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None


# ----------------------------------------------------------------------------- overrides
# `explorer pipeline -S KEY=VALUE`, the flow's `params_overrides`: validated, then written into params.yaml.


def flatten(d: dict[str, Any], prefix: str = "") -> typing.Iterator[tuple[str, Any]]:
    """{"grpo": {"steps": 5}} -> ("grpo.steps", 5): a nested override sets keys, it never replaces a
    whole section (which would silently reset the keys it leaves out to their defaults)."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from flatten(v, key + ".")
        else:
            yield key, v


def set_dotted(doc: dict, key: str, value: Any) -> None:
    """doc["grpo"]["steps"] = value for key "grpo.steps"; a ruamel document keeps a flow-style list
    (`seeds: [0, 1]`) on one line."""
    *path, last = key.split(".")
    if not last or not all(path):
        raise ConfigError(f"override {key!r}: expected dotted keys like grpo.steps")
    node = doc
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    old = node.get(last)
    if isinstance(value, list) and getattr(old, "fa", None) is not None and old.fa.flow_style():
        from ruamel.yaml.comments import CommentedSeq

        value = CommentedSeq(value)
        value.fa.set_flow_style()
    node[last] = value


def parse_set_params(items: list[str]) -> dict[str, Any]:
    """`-S grpo.steps=5 -S train.seeds=[0]`: values are YAML, as with `dvc exp run -S`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"-S {item!r}: expected KEY=VALUE, e.g. -S grpo.steps=10")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"-S {item!r}: the value is not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return out


def apply_overrides(path: Path, overrides: dict[str, Any]) -> Params:
    """Validate params.yaml with the dotted-key overrides applied (unknown keys and wrong types are a
    ConfigError) and, if anything changes, write it back atomically with its comments, key order
    and quoting kept. Like `dvc exp run -S`, the change stays: dvc.lock then records what ran with
    it, and restoring the file afterwards would make every stage that read it stale."""
    raw = read_yaml(path)
    merged = copy.deepcopy(raw)
    for key, value in overrides.items():
        set_dotted(merged, key, value)
    params = from_dict(Params, merged, f"{path.name} with overrides {overrides}")
    if merged != raw:
        from ruamel.yaml import YAML  # only an override needs it

        rt = YAML()  # round-trip mode
        rt.preserve_quotes = True  # comments, key order and quoting survive
        doc = rt.load(path.read_text(encoding="utf-8"))
        for key, value in overrides.items():
            set_dotted(doc, key, value)
        buf = io.StringIO()
        rt.dump(doc, buf)
        atomic_write_text(path, buf.getvalue())
    return params

"""Raw 2Wiki records -> chunked tasks -> train / val / dev splits (the `prepare` stage).

Two record layouts are accepted, line by line, from local JSONL files or from the dataset hub:
- raw 2Wiki: `_id, type, question, answer, context: [[title, [sent, ...]], ...],
  supporting_facts: [[title, sent_idx], ...], evidences: [[s, r, o], ...]`
- hub dict-of-lists (FlashRAG and parquet copies): `context: {title: [...], content|sentences:
  [[...], ...]}`, `supporting_facts: {title: [...], sent_id: [...]}`, and optionally the fields
  under `metadata` and the answer as `golden_answers[0]`.

Bad input: a line that is not JSON, a missing or mistyped field, or a supporting fact whose
title is not in the context raises `DataError` naming file, line and field (`on_error: stop`,
the default) or is skipped and counted in the manifest (`on_error: skip`). A supporting fact
whose sentence index points past its paragraph (one real dev record does) is not fatal: the
paragraph is still gold, so the index is clamped to the paragraph's last sentence and a warning
naming file, line and field is printed and recorded. Nothing is written until every split is
built, and then atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer import tokens
from explorer.config import DataConfig, Params, load_params, project_root
from explorer.io import atomic_write_json, atomic_write_jsonl, sha256_file
from explorer.types import Chunk, Task

SHARED_2WIKI_DIR = Path("../shared/data/2wiki")  # relative to the project root
SPLITS = ("train", "val", "dev")


class DataError(ValueError):
    def __init__(self, file: str, line: int, field: str, message: str) -> None:
        self.file, self.line, self.field = file, line, field
        super().__init__(f"{file}:{line}: field '{field}': {message}")


class DataSourceError(ValueError):
    """The configured source cannot be read at all (as opposed to a bad record in it)."""


@dataclass(frozen=True)
class RawRecord:
    id: str
    type: str
    question: str
    answer: str
    context: tuple[tuple[str, tuple[str, ...]], ...]
    supporting_facts: tuple[tuple[str, int], ...]
    evidences: tuple[tuple[str, str, str], ...]
    origin: str = ""  # "file:line" (or "hub:id[split]:row") for error messages
    answer_aliases: tuple[str, ...] = ()


@dataclass
class LoadReport:
    """What reading one source found: counts, skipped lines and warnings (all with file:line)."""

    source: str
    records: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""


# ----------------------------------------------------------------------------- parsing


def _get(obj: dict[str, Any], key: str, file: str, line: int, tp: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise DataError(file, line, key, "missing")
    value = obj[key]
    if not isinstance(value, tp):
        raise DataError(file, line, key, f"expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")
    return value


def _parse_context(ctx: Any, file: str, line: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if isinstance(ctx, dict):  # hub dict-of-lists
        titles = ctx.get("title")
        sents = ctx.get("content", ctx.get("sentences"))
        if not isinstance(titles, list) or not isinstance(sents, list) or len(titles) != len(sents):
            raise DataError(file, line, "context", "dict layout needs equal-length 'title' and 'content'/'sentences' lists")
        pairs = list(zip(titles, sents, strict=True))
    elif isinstance(ctx, list):
        pairs = []
        for i, p in enumerate(ctx):
            if isinstance(p, dict):
                p = [p.get("title"), p.get("sentences", p.get("content"))]
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise DataError(file, line, f"context[{i}]", "expected [title, [sentence, ...]]")
            pairs.append((p[0], p[1]))
    else:
        raise DataError(file, line, "context", f"expected a list or a dict, got {type(ctx).__name__}")
    out = []
    for i, (title, sents) in enumerate(pairs):
        if not isinstance(title, str) or not isinstance(sents, list) or not all(isinstance(s, str) for s in sents):
            raise DataError(file, line, f"context[{i}]", "expected a title string and a list of sentence strings")
        out.append((title, tuple(sents)))
    if not out:
        raise DataError(file, line, "context", "no paragraphs")
    return tuple(out)


def _parse_supporting(sf: Any, file: str, line: int) -> tuple[tuple[str, int], ...]:
    if isinstance(sf, dict):
        titles, ids = sf.get("title"), sf.get("sent_id")
        if not isinstance(titles, list) or not isinstance(ids, list) or len(titles) != len(ids):
            raise DataError(file, line, "supporting_facts", "dict layout needs equal-length 'title' and 'sent_id' lists")
        pairs = list(zip(titles, ids, strict=True))
    elif isinstance(sf, list):
        pairs = [tuple(p) if isinstance(p, list | tuple) else (None, None) for p in sf]
    else:
        raise DataError(file, line, "supporting_facts", f"expected a list or a dict, got {type(sf).__name__}")
    out = []
    for i, p in enumerate(pairs):
        if len(p) != 2 or not isinstance(p[0], str) or not isinstance(p[1], int) or isinstance(p[1], bool):
            raise DataError(file, line, f"supporting_facts[{i}]", "expected [title, sentence_index]")
        out.append((p[0], p[1]))
    if not out:
        raise DataError(file, line, "supporting_facts", "empty")
    return tuple(out)


def _parse_evidences(ev: Any) -> tuple[tuple[str, str, str], ...]:
    # Evidence triples are informational (shown by `explorer inspect`), so an odd shape is dropped
    # rather than fatal.
    if isinstance(ev, list):
        return tuple(tuple(map(str, t)) for t in ev if isinstance(t, list | tuple) and len(t) == 3)  # type: ignore[misc]
    return ()


def parse_record(obj: Any, file: str, line: int) -> RawRecord:
    """One JSON object in either layout -> RawRecord, or DataError naming file, line and field."""
    if not isinstance(obj, dict):
        raise DataError(file, line, "<record>", f"expected a JSON object, got {type(obj).__name__}")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    merged = {**meta, **{k: v for k, v in obj.items() if k != "metadata"}}
    rid = merged.get("_id", merged.get("id"))
    if not isinstance(rid, str | int) or rid == "":
        raise DataError(file, line, "_id", "missing (expected '_id' or 'id')")
    golden = merged.get("golden_answers")
    if "answer" not in merged and isinstance(golden, list) and golden:
        merged["answer"] = golden[0]
    # The hub layout lists the answer with its aliases; the official scorer accepts any of them.
    aliases = (
        tuple(dict.fromkeys(a for a in golden if isinstance(a, str) and a.strip() and a != merged["answer"]))
        if isinstance(golden, list)
        else ()
    )
    question = _get(merged, "question", file, line, str)
    answer = _get(merged, "answer", file, line, str)
    qtype = _get(merged, "type", file, line, str)
    if not question.strip():
        raise DataError(file, line, "question", "empty")
    context = _parse_context(_get(merged, "context", file, line, (list, dict)), file, line)
    supporting = _parse_supporting(_get(merged, "supporting_facts", file, line, (list, dict)), file, line)
    titles = {t for t, _ in context}
    lowered = {t.lower() for t in titles}
    for i, (title, _) in enumerate(supporting):
        if title not in titles and title.lower() not in lowered:
            raise DataError(file, line, f"supporting_facts[{i}]", f"title {title!r} is not in the context")
    return RawRecord(
        id=str(rid), type=qtype, question=question, answer=answer, context=context,
        supporting_facts=supporting, evidences=_parse_evidences(merged.get("evidences")),
        origin=f"{file}:{line}", answer_aliases=aliases,
    )  # fmt: skip


def _iter_parsed(rows: Iterable[tuple[int, Any]], file: str, on_error: str, report: LoadReport) -> Iterator[RawRecord]:
    for line_no, obj in rows:
        try:
            if isinstance(obj, DataError):
                raise obj
            yield parse_record(obj, file, line_no)
            report.records += 1
        except DataError as e:
            if on_error == "stop":
                raise
            report.skipped.append(str(e))


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                yield line_no, DataError(str(path), line_no, "<json>", f"not valid JSON ({e.msg} at column {e.colno})")


def read_records(path: Path | str, on_error: str = "stop") -> tuple[list[RawRecord], LoadReport]:
    """Records of a local JSONL file in either layout (a `.json` file holding one list works too)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    report = LoadReport(source=str(path), sha256=sha256_file(path))
    if path.suffix == ".json":
        rows: Iterable[tuple[int, Any]] = enumerate(json.loads(path.read_text(encoding="utf-8")), start=1)
    else:
        rows = _json_lines(path)
    return list(_iter_parsed(rows, str(path), on_error, report)), report


def load_hub_records(hub_id: str, split: str, on_error: str = "stop", **load_kwargs: Any) -> tuple[list[RawRecord], LoadReport]:
    """Records from the dataset hub via `datasets.load_dataset(hub_id, split=split)`. The
    `line` in error messages is the row number (1-based) in that split. `load_kwargs` pass
    through (the tests use `data_files=` to run this same path on a local file)."""
    import datasets  # slow import, only needed here

    try:
        ds = datasets.load_dataset(hub_id, split=split, **load_kwargs)
    except Exception as e:  # network, unknown id or split: say what was tried and what to do instead
        raise DataSourceError(
            f"could not load 2Wiki records from the dataset hub ({hub_id!r}, split {split!r}): {type(e).__name__}: {e}. "
            "Offline? Point data.source at local files (local:PATH) or set $EXPLORER_2WIKI_DIR."
        ) from e
    report = LoadReport(source=f"hub:{hub_id}[{split}]")
    h = hashlib.sha256()
    rows = []
    for i, row in enumerate(ds, start=1):
        h.update(json.dumps(row, sort_keys=True, default=str).encode())
        rows.append((i, row))
    report.sha256 = h.hexdigest()
    return list(_iter_parsed(rows, report.source, on_error, report)), report


# ----------------------------------------------------------------------------- chunking


def _find_paragraph(context: tuple[tuple[str, tuple[str, ...]], ...], title: str) -> int:
    for i, (t, _) in enumerate(context):
        if t == title:
            return i
    for i, (t, _) in enumerate(context):
        if t.lower() == title.lower():
            return i
    raise KeyError(title)


def _split_paragraph(sentences: tuple[str, ...], max_tokens: int) -> list[tuple[int, int]]:
    """Greedy sentence packing: (first, end) sentence ranges whose joined text has at most
    `max_tokens` tokens. A single sentence over the limit stays whole: we never cut a sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end in range(1, len(sentences) + 1):
        if end - start > 1 and tokens.count(" ".join(sentences[start:end])) > max_tokens:
            spans.append((start, end - 1))
            start = end - 1
    if sentences:
        spans.append((start, len(sentences)))
    return spans


def make_task(rec: RawRecord, cfg: DataConfig) -> tuple[Task, list[str]]:
    """Chunk a record. Returns the task and warnings (e.g. a clamped supporting-fact index)."""
    warnings: list[str] = []
    chunks: list[Chunk] = []
    sentence_to_chunk: dict[tuple[int, int], int] = {}
    for p, (title, sents) in enumerate(rec.context):
        if not sents:
            sents = ("",)
        for first, end in _split_paragraph(sents, cfg.max_chunk_tokens):
            text = " ".join(s.strip() for s in sents[first:end]).strip()
            cid = len(chunks)
            chunks.append(Chunk(
                id=cid, title=title, text=text, n_tokens=tokens.count(text),
                preview=tokens.truncate(text, cfg.preview_tokens), paragraph=p,
                first_sentence=first, n_sentences=end - first,
            ))  # fmt: skip
            for s in range(first, end):
                sentence_to_chunk[(p, s)] = cid
    gold: set[int] = set()
    for i, (title, sent) in enumerate(rec.supporting_facts):
        p = _find_paragraph(rec.context, title)
        n_sents = max(1, len(rec.context[p][1]))
        if not 0 <= sent < n_sents:
            warnings.append(
                f"{rec.origin}: field 'supporting_facts[{i}]' (_id {rec.id}): sentence index {sent} is past the end of "
                f"{title!r} ({n_sents} sentences); using its last sentence"
            )
            sent = min(max(sent, 0), n_sents - 1)
        gold.add(sentence_to_chunk[(p, sent)])
    task = Task(
        id=rec.id, type=rec.type, question=rec.question, answer=rec.answer, chunks=tuple(chunks),
        gold_chunk_ids=tuple(sorted(gold)), evidences=rec.evidences, answer_aliases=rec.answer_aliases,
    )  # fmt: skip
    return task, warnings


def make_tasks(records: list[RawRecord], cfg: DataConfig) -> tuple[list[Task], list[str]]:
    tasks, warnings = [], []
    for rec in records:
        task, w = make_task(rec, cfg)
        tasks.append(task)
        warnings.extend(w)
    return tasks, warnings


# ----------------------------------------------------------------------------- (de)serialising


def task_to_dict(task: Task) -> dict[str, Any]:
    # answer_aliases only when there are some: raw-layout tasks serialise as before.
    aliases = {"answer_aliases": list(task.answer_aliases)} if task.answer_aliases else {}
    return {
        "id": task.id, "type": task.type, "question": task.question, "answer": task.answer, **aliases,
        "gold_chunk_ids": list(task.gold_chunk_ids),
        "evidences": [list(e) for e in task.evidences],
        "chunks": [
            {"id": c.id, "title": c.title, "text": c.text, "n_tokens": c.n_tokens, "preview": c.preview,
             "paragraph": c.paragraph, "first_sentence": c.first_sentence, "n_sentences": c.n_sentences}
            for c in task.chunks
        ],
    }  # fmt: skip


def task_from_dict(d: dict[str, Any], file: str = "<tasks>", line: int = 0) -> Task:
    try:
        chunks = tuple(Chunk(**c) for c in d["chunks"])
        return Task(
            id=d["id"], type=d["type"], question=d["question"], answer=d["answer"], chunks=chunks,
            gold_chunk_ids=tuple(d["gold_chunk_ids"]), evidences=tuple(tuple(e) for e in d.get("evidences", [])),
            answer_aliases=tuple(d.get("answer_aliases", ())),
        )  # fmt: skip
    except KeyError as e:
        raise DataError(file, line, str(e.args[0]), "missing in prepared task") from e
    except TypeError as e:
        raise DataError(file, line, "chunks", f"malformed prepared chunk ({e})") from e


def _looks_prepared(obj: Any) -> bool:
    return isinstance(obj, dict) and "chunks" in obj and "gold_chunk_ids" in obj


def read_tasks(path: Path | str, cfg: DataConfig | None = None) -> list[Task]:
    """Tasks from a prepared split file, or from a raw 2Wiki file in either layout (chunked on
    the fly with `cfg`'s chunking params), so eval needs no prepare step for a new file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such tasks file: {path}")
    with path.open(encoding="utf-8") as f:
        first = next((ln for ln in f if ln.strip()), "")
    try:
        prepared = _looks_prepared(json.loads(first))
    except json.JSONDecodeError:
        prepared = False
    if prepared:
        out = []
        for line_no, obj in _json_lines(path):
            if isinstance(obj, DataError):
                raise obj
            out.append(task_from_dict(obj, str(path), line_no))
        return out
    cfg = cfg or DataConfig()
    records, report = read_records(path, cfg.on_error)
    tasks, warnings = make_tasks(records, cfg)
    for msg in report.skipped + warnings:
        print(f"warning: {msg}", file=sys.stderr)
    return tasks


# ----------------------------------------------------------------------------- the prepare stage


@dataclass(frozen=True)
class ResolvedSource:
    kind: str  # local | hub
    location: str  # folder path or hub id
    why: str


def _local_folder(path: str) -> str:
    """A relative folder resolves against the project root, not the current folder, so a
    `dvc exp run --temp` copy reads the same files as the workspace."""
    p = Path(path).expanduser()
    if p.is_absolute() or project_root().resolve() == Path.cwd().resolve():
        return str(p)  # as given, so the manifest shows the setting the user wrote
    return str((project_root() / p).resolve())


def resolve_source(cfg: DataConfig, environ: dict[str, str] | None = None) -> ResolvedSource:
    env = os.environ if environ is None else environ
    spec = cfg.source
    if spec.startswith("local:"):
        return ResolvedSource("local", _local_folder(spec.removeprefix("local:")), "data.source names a local folder")
    if spec.startswith("hub:"):
        return ResolvedSource("hub", spec.removeprefix("hub:"), "data.source names a hub id")
    if spec != "auto":
        raise ValueError(f"data.source must be auto, local:PATH or hub:ID, got {spec!r}")
    if env.get("EXPLORER_2WIKI_DIR"):
        return ResolvedSource("local", _local_folder(env["EXPLORER_2WIKI_DIR"]), "data.source=auto and $EXPLORER_2WIKI_DIR is set")
    shared = project_root() / SHARED_2WIKI_DIR
    if (shared / cfg.train_file).exists():
        shown = SHARED_2WIKI_DIR if shared.resolve() == (Path.cwd() / SHARED_2WIKI_DIR).resolve() else shared.resolve()
        return ResolvedSource("local", str(shown), f"data.source=auto and {shown} exists")
    return ResolvedSource("hub", cfg.hub_id, f"data.source=auto, no $EXPLORER_2WIKI_DIR and no {SHARED_2WIKI_DIR}")


def load_source(src: ResolvedSource, cfg: DataConfig) -> tuple[list[RawRecord], LoadReport, list[RawRecord], LoadReport]:
    if src.kind == "local":
        folder = Path(src.location)
        train, train_rep = read_records(folder / cfg.train_file, cfg.on_error)
        dev, dev_rep = read_records(folder / cfg.dev_file, cfg.on_error)
    else:
        train, train_rep = load_hub_records(src.location, cfg.hub_train_split, cfg.on_error)
        dev, dev_rep = load_hub_records(src.location, cfg.hub_dev_split, cfg.on_error)
    return train, train_rep, dev, dev_rep


def build_splits(
    train_records: list[RawRecord], dev_records: list[RawRecord], cfg: DataConfig
) -> tuple[dict[str, list[RawRecord]], list[str]]:
    """Pure split logic: val is held out of the official train split (a seeded shuffle), so
    checkpoint selection never sees the dev questions we report on. Returns splits and notes
    about any size that had to be capped."""
    notes = []
    shuffled = list(train_records)
    random.Random(cfg.seed).shuffle(shuffled)
    if cfg.val_size >= len(shuffled):
        raise ValueError(f"data.val_size={cfg.val_size} leaves no training records (source has {len(shuffled)})")
    val = shuffled[: cfg.val_size]
    rest = shuffled[cfg.val_size :]
    if cfg.train_size > len(rest):
        notes.append(f"train: data.train_size={cfg.train_size} but the source has {len(rest)} after the val hold-out; using {len(rest)}")
    train = rest[: cfg.train_size]
    dev = dev_records if cfg.dev_size <= 0 else dev_records[: cfg.dev_size]
    if 0 < len(dev_records) < cfg.dev_size:
        notes.append(f"dev: data.dev_size={cfg.dev_size} but the source has {len(dev_records)}; using {len(dev_records)}")
    return {"train": train, "val": val, "dev": dev}, notes


def split_path(cfg: DataConfig, split: str) -> Path:
    return Path(cfg.out_dir) / f"{split}.jsonl"


def prepare(params: Params) -> dict[str, Any]:
    """Build every split in memory, then write them and the manifest atomically."""
    cfg = params.data
    src = resolve_source(cfg)
    print(f"data source: {src.kind} {src.location} ({src.why})", file=sys.stderr)
    train_recs, train_rep, dev_recs, dev_rep = load_source(src, cfg)
    splits, notes = build_splits(train_recs, dev_recs, cfg)
    tasks: dict[str, list[Task]] = {}
    warnings: list[str] = []
    for name, recs in splits.items():
        tasks[name], w = make_tasks(recs, cfg)
        warnings.extend(w)
    for msg in notes + train_rep.skipped + dev_rep.skipped + warnings:
        print(f"warning: {msg}", file=sys.stderr)
    manifest = {
        "source": {"kind": src.kind, "location": src.location, "why": src.why},
        "inputs": {
            name: {"source": rep.source, "records": rep.records, "sha256": rep.sha256, "skipped": rep.skipped}
            for name, rep in (("train", train_rep), ("dev", dev_rep))
        },
        "splits": {
            name: {
                "tasks": len(ts),
                "types": dict(Counter(t.type for t in ts)),
                "chunks": sum(len(t.chunks) for t in ts),
                "avg_tokens_all": round(sum(t.all_reading_cost for t in ts) / max(1, len(ts)), 1),
                "avg_tokens_gold": round(sum(t.min_reading_cost for t in ts) / max(1, len(ts)), 1),
            }
            for name, ts in tasks.items()
        },
        "params": {
            k: getattr(cfg, k) for k in ("train_size", "val_size", "dev_size", "seed", "max_chunk_tokens", "preview_tokens", "on_error")
        },
        "notes": notes,
        "warnings": warnings,
    }
    for name, ts in tasks.items():
        atomic_write_jsonl(split_path(cfg, name), (task_to_dict(t) for t in ts))
    atomic_write_json(Path(cfg.out_dir) / "manifest.json", manifest)
    return manifest


def main(params: Params | None = None) -> int:
    from explorer.tracking import stage_run

    params = params or load_params()
    manifest = prepare(params)
    with stage_run(
        params.tracking, "prepare", {"stage": "prepare", "data.source": f"{manifest['source']['kind']}:{manifest['source']['location']}"}
    ) as run:
        run.log_params({f"data.{k}": v for k, v in manifest["params"].items()} | {"data.source": params.data.source})
        run.log_metrics({f"data/{name}_tasks": v["tasks"] for name, v in manifest["splits"].items()})
        run.set_tags({f"data.{name}.sha256": v["sha256"] for name, v in manifest["inputs"].items()})
        run.log_artifact(Path(params.data.out_dir) / "manifest.json")
    sizes = ", ".join(f"{k} {v['tasks']}" for k, v in manifest["splits"].items())
    print(f"prepared {sizes} tasks from {manifest['source']['kind']} {manifest['source']['location']} -> {params.data.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

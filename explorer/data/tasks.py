"""Records -> tasks: chunking at sentence boundaries, gold chunks, and the prepared-task format.

A paragraph longer than `data.max_chunk_tokens` becomes several chunks (a sentence is never cut);
gold chunks are those holding a supporting-fact sentence. `read_tasks` reads a prepared split or a
raw file in either layout (chunked on the fly), so evaluation needs no prepare step.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from explorer import tokens
from explorer.config import DataConfig
from explorer.data.records import DataError, RawRecord, json_lines, read_records
from explorer.layout import SPLITS, split_file
from explorer.types import Chunk, Task


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
    `max_tokens` tokens (0: one sentence per range). A single sentence over the limit stays
    whole: we never cut a sentence."""
    if max_tokens == 0:
        return [(i, i + 1) for i in range(len(sentences))]
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


_CHUNK_FIELDS = {
    "id": int,
    "title": str,
    "text": str,
    "n_tokens": int,
    "preview": str,
    "paragraph": int,
    "first_sentence": int,
    "n_sentences": int,
}


def task_from_dict(d: Any, file: str = "<tasks>", line: int = 0) -> Task:
    """A prepared task (the format `task_to_dict` writes), checked field by field: anything else is
    a DataError naming file, line and field, never a crash later in the env."""
    if not isinstance(d, dict):
        raise DataError(file, line, "<task>", f"expected a JSON object, got {type(d).__name__}")
    for key in ("id", "type", "question", "answer"):
        if key not in d:
            raise DataError(file, line, key, "missing in prepared task")
        if not isinstance(d[key], str):
            raise DataError(file, line, key, f"expected a string, got {type(d[key]).__name__}")
    raw_chunks = d.get("chunks")
    if not isinstance(raw_chunks, list) or not raw_chunks:
        raise DataError(file, line, "chunks", "missing, empty or not a list")
    chunks = []
    for i, c in enumerate(raw_chunks):
        if not isinstance(c, dict) or set(c) != set(_CHUNK_FIELDS):
            raise DataError(file, line, f"chunks[{i}]", f"expected an object with exactly {sorted(_CHUNK_FIELDS)}")
        for key, tp in _CHUNK_FIELDS.items():
            if not isinstance(c[key], tp) or isinstance(c[key], bool):
                raise DataError(file, line, f"chunks[{i}].{key}", f"expected {tp.__name__}, got {type(c[key]).__name__}")
        if c["id"] != i or c["n_tokens"] < 0:
            raise DataError(file, line, f"chunks[{i}]", "chunk ids must be 0, 1, ... in order and n_tokens >= 0")
        chunks.append(Chunk(**c))
    gold = d.get("gold_chunk_ids")
    if not isinstance(gold, list) or not all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < len(chunks) for g in gold):
        raise DataError(file, line, "gold_chunk_ids", f"expected a list of chunk ids in 0..{len(chunks) - 1}")
    evidences = d.get("evidences", [])
    aliases = d.get("answer_aliases", [])
    if not isinstance(evidences, list) or not all(isinstance(e, list) and all(isinstance(x, str) for x in e) for e in evidences):
        raise DataError(file, line, "evidences", "expected a list of [subject, relation, object] string lists")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise DataError(file, line, "answer_aliases", "expected a list of strings")
    return Task(
        id=d["id"], type=d["type"], question=d["question"], answer=d["answer"], chunks=tuple(chunks), gold_chunk_ids=tuple(gold),
        evidences=tuple(tuple(e) for e in evidences), answer_aliases=tuple(aliases),
    )  # fmt: skip


def _looks_prepared(obj: Any) -> bool:
    return isinstance(obj, dict) and "chunks" in obj and "gold_chunk_ids" in obj


def read_tasks(path: Path | str, cfg: DataConfig | None = None) -> list[Task]:
    """Tasks from a prepared split file, or from a raw 2Wiki file in either layout (chunked on
    the fly with `cfg`'s chunking params), so eval needs no prepare step for a new file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such tasks file: {path}")
    first = next((obj for _, obj in json_lines(path)), None) if path.is_file() else None
    if _looks_prepared(first):
        out: list[Task] = []
        seen: dict[str, int] = {}
        for line_no, obj in json_lines(path):
            if isinstance(obj, DataError):
                raise obj
            if not isinstance(obj, dict):
                raise DataError(str(path), line_no, "<record>", f"expected a JSON object, got {type(obj).__name__}")
            task = task_from_dict(obj, str(path), line_no)
            if task.id in seen:
                raise DataError(str(path), line_no, "id", f"duplicate id {task.id!r} (first on line {seen[task.id]})")
            seen[task.id] = line_no
            out.append(task)
        return out
    cfg = cfg or DataConfig()
    records, report = read_records(path, cfg.on_error)
    tasks, warnings = make_tasks(records, cfg)
    for msg in report.skipped + warnings:
        print(f"warning: {msg}", file=sys.stderr)
    return tasks


def resolve_tasks(spec: str, cfg: DataConfig) -> tuple[list[Task], str]:
    """A split name (train/val/dev, from the prepare stage) or a file: prepared or raw 2Wiki."""
    if spec in SPLITS:
        path = split_file(cfg, spec)
        if not path.exists():
            raise FileNotFoundError(
                f"split {spec!r} is not prepared yet ({path} missing): run `explorer data build` or `dvc repro prepare`"
            )
        return read_tasks(path), spec
    return read_tasks(spec, cfg), spec

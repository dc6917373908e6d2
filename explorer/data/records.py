"""Raw 2Wiki records: parsing both layouts, from local JSONL files or the dataset hub.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.io import sha256_file


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
    first_line: dict[str, int] = {}  # record id -> the line it was first seen on
    for line_no, obj in rows:
        try:
            if isinstance(obj, DataError):
                raise obj
            rec = parse_record(obj, file, line_no)
            if rec.id in first_line:
                # two answers for one id would overwrite each other in predictions.json
                raise DataError(file, line_no, "_id", f"duplicate id {rec.id!r} (first on line {first_line[rec.id]})")
            first_line[rec.id] = line_no
            yield rec
            report.records += 1
        except DataError as e:
            if on_error == "stop":
                raise
            report.skipped.append(str(e))
    if not first_line and not report.skipped:
        raise DataError(file, 0, "<file>", "no records (the file is empty or holds only blank lines)")


def json_lines(path: Path, label: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the DataError that says why not) for each non-blank line. Lines
    are read as bytes and decoded one by one, so a byte that is not UTF-8 is reported with its
    line and column instead of failing the whole file. Errors name the file `label` (default: path)."""
    name = label or str(path)
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield (
                    line_no,
                    DataError(name, line_no, "<bytes>", f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"),
                )
                continue
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                yield line_no, DataError(name, line_no, "<json>", f"not valid JSON ({e.msg} at column {e.colno})")
            except RecursionError:
                yield line_no, DataError(name, line_no, "<json>", "nested too deeply to parse")


def read_records(path: Path | str, on_error: str = "stop", label: str | None = None) -> tuple[list[RawRecord], LoadReport]:
    """Records of a local JSONL file in either layout (a `.json` file holding one list works too).
    `label` names the file in errors and the report (default: `path`)."""
    path = Path(path)
    name = label or str(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {name}" + ("" if name == str(path) else f" ({path})"))
    if path.is_dir():
        raise DataError(name, 0, "<file>", "is a folder, not a data file")
    report = LoadReport(source=name, sha256=sha256_file(path))
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(name, getattr(e, "lineno", 0), "<json>", f"not a JSON list of records ({e})") from None
        if not isinstance(doc, list):
            raise DataError(name, 1, "<json>", f"expected a list of records, got {type(doc).__name__}")
        rows: Iterable[tuple[int, Any]] = enumerate(doc, start=1)
    else:
        rows = json_lines(path, name)
    return list(_iter_parsed(rows, name, on_error, report)), report


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

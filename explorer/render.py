"""The text interface for language-model policies: Observation -> text, text -> Action.

Action schema (one action per reply, on its first non-empty line; case-insensitive keyword):
    OPEN <chunk id>        read a chunk (costs its tokens)
    SUMMARIZE <note>       write a one-line note; it replaces the opened texts in your context
    ANSWER <answer>        final answer: an entity name, a date, or yes / no
`<think>...</think>` blocks are ignored. Anything else parses to `Unparsable`, which the env
treats as a refused action (a wasted step), never an exception.
`parse_action(render_action(a)) == a` for every action whose note/answer is one line of text
with single spaces (the renderer collapses white space, the env does the same with notes).
"""

from __future__ import annotations

import re

from explorer.types import Action, Answer, Observation, Open, Summarize, Unparsable

ACTION_HELP = (
    "Reply with exactly one action on one line:\n"
    "OPEN <id>         read chunk <id> (costs the tokens shown beside it)\n"
    "SUMMARIZE <note>  keep a short note; it replaces the opened texts in your context\n"
    "ANSWER <answer>   give the final answer: a short entity name, a date, or yes/no"
)

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_ACTION = re.compile(r"^\s*(open|summarize|answer)\b\s*:?\s*(.*?)\s*$", re.IGNORECASE)
# OPEN takes one number, optionally wrapped: OPEN 3, OPEN [3], OPEN(3). Notes and answers are
# kept verbatim (a date answer may well contain parentheses).
_CHUNK_ID = re.compile(r"^(?:\[\s*(\d+)\s*\]|\(\s*(\d+)\s*\)|(\d+))$")


def render_action(action: Action) -> str:
    match action:
        case Open(chunk_id=cid):
            return f"OPEN {cid}"
        case Summarize(note=note):
            return f"SUMMARIZE {' '.join(note.split())}"
        case Answer(text=text):
            return f"ANSWER {' '.join(text.split())}"
        case Unparsable(raw=raw):
            return raw
    raise TypeError(f"not an action: {action!r}")


def parse_action(text: str) -> Action:
    body = _THINK.sub("", text)
    line = next((ln for ln in body.splitlines() if ln.strip()), "")
    m = _ACTION.match(line)
    if not m:
        return Unparsable(text, "expected a line starting with OPEN, SUMMARIZE or ANSWER")
    keyword, arg = m.group(1).lower(), m.group(2)
    if keyword == "open":
        idm = _CHUNK_ID.match(arg)
        if not idm:
            return Unparsable(text, f"OPEN needs a chunk id number, got {arg!r}")
        return Open(int(next(g for g in idm.groups() if g is not None)))
    if not arg:
        return Unparsable(text, f"{keyword.upper()} needs text after it")
    arg = " ".join(arg.split())
    return Summarize(arg) if keyword == "summarize" else Answer(arg)


def render_observation(obs: Observation) -> str:
    lines = [
        f"Question: {obs.question}",
        f"Budget: {obs.budget_left} of {obs.budget} tokens left. Step {obs.step + 1} of {obs.max_steps}.",
        "",
    ]
    if obs.previews in ("paragraph", "paragraph+cues"):
        # One preview per paragraph; its chunks listed under it with their costs, so finer chunks
        # add only an id and a number each to the free text, never more preview (with cues: and
        # each chunk's cue marks, a word or two from a fixed list).
        marks = ":what it mentions" if obs.previews == "paragraph+cues" else ""
        lines.append(f"Paragraphs: title: preview ... [chunk ids] each chunk's cost in tokens (* = opened){marks}")
        by_paragraph: dict[int, list] = {}
        for c in obs.chunks:
            by_paragraph.setdefault(c.paragraph, []).append(c)
        for chunks in by_paragraph.values():
            ids = f"[{chunks[0].id}]" if len(chunks) == 1 else f"[{chunks[0].id}-{chunks[-1].id}]"  # a paragraph's ids are consecutive
            costs = "/".join(f"{c.n_tokens}{'*' if c.opened else ''}{':' + ','.join(c.cues) if c.cues else ''}" for c in chunks)
            lines.append(f"{chunks[0].title}: {' '.join(chunks[0].preview.split())} ... {ids} {costs}")
    else:
        lines.append("Chunks ([id] title (cost in tokens): preview):")
        for c in obs.chunks:
            mark = " [opened]" if c.opened else ""
            lines.append(f"[{c.id}] {c.title} ({c.n_tokens} tok){mark}: {' '.join(c.preview.split())} ...")
    if obs.opened:
        lines += ["", "Opened:"]
        titles = {c.id: c.title for c in obs.chunks}
        lines += [f"[{cid}] {titles[cid]}: {text}" for cid, text in obs.opened]
    if obs.notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in obs.notes]
    if obs.last_error:
        lines += ["", f"Your last action was refused: {obs.last_error}"]
    lines += ["", ACTION_HELP]
    return "\n".join(lines)

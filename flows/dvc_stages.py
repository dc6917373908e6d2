"""What the pipeline flow asks of DVC, answered with facts rather than DVC's log lines.

- Which stages, in which order: DVC's own graph (`dvc.repo.Repo(root).index.graph`).
- One stage: `Repo.reproduce(stage, single_item=True)`, which returns the stages DVC reproduced
  (none: it was up to date) and raises DVC's exception types (`dvc.lock.LockError`: another DVC
  process holds the repo lock). DVC's StageCmdFailedError carries the command's exit status only
  in its English message, so the command's shell records it: DVC runs every stage command as
  `$SHELL -c CMD` (dvc/stage/run.py), and with SHELL set to STAGE_SHELL below, each command's
  exit status is appended to $EXPLORER_STAGE_EXIT_FILE. A command that ran and exited 2 is bad
  input (the `explorer` CLI's exit code for config and data errors).
- One pipeline run at a time per checkout: `pipeline_lock`.

The DVC calls run in a child process, this file run as a script (`python -P flows/dvc_stages.py
graph|repro ...`), which writes its answer as JSON to a file: DVC keeps its logging, signal
handling and repo lock in its own process and main thread (not in a flow process that `serve`
keeps alive for days), and its output reaches the Prefect log line by line as it is written.
The child imports nothing from this project (`-P`: not even the folder it is in).
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

# The stages of dvc.yaml, upstream first. A Literal so that the Prefect UI offers them as choices;
# tests/test_flows.py checks it against dvc.yaml.
StageName = Literal["prepare", "baseline", "demos", "sft", "grpo", "evaluate", "report"]
STAGE_NAMES: tuple[str, ...] = get_args(StageName)
BAD_INPUT_EXIT = 2  # the `explorer` CLI's exit code for config and data errors (explorer/cli.py)
EXIT_FILE_ENV = "EXPLORER_STAGE_EXIT_FILE"
# The shell DVC runs each stage command with: /bin/sh, then the command's exit status appended to
# $EXPLORER_STAGE_EXIT_FILE. Written next to the child's answer file for each call.
STAGE_SHELL = """#!/bin/sh
/bin/sh "$@"
status=$?
if [ -n "$EXPLORER_STAGE_EXIT_FILE" ]; then echo "$status" >> "$EXPLORER_STAGE_EXIT_FILE"; fi
exit $status
"""
LOCK_FILE = Path(".dvc") / "tmp" / "explorer-pipeline.lock"  # in the project root
TAIL_LINES = 30
STOP_GRACE_SECONDS = 10.0


def dvc_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # `explorer` (the stages' commands) from this interpreter's venv, also when `serve` was started
    # without activating it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_SITE_CACHE_DIR", str(root / ".dvc" / "tmp" / "site_cache"))  # not /var/tmp
    env.update(extra or {})
    return env


def dvc_tmp(root: Path) -> Path:
    """<root>/.dvc/tmp, DVC's scratch folder (ignored by DVC and git), made if missing; a folder
    with no .dvc is refused rather than made to look like a DVC project."""
    if not (root / ".dvc").is_dir():
        raise ValueError(f"{root} is not a DVC project (no .dvc folder); set EXPLORER_PROJECT_ROOT to the project's folder")
    (root / ".dvc" / "tmp").mkdir(exist_ok=True)
    return root / ".dvc" / "tmp"


def _run_child(args: list[str], root: Path, env: dict[str, str], echo: Callable[[str], None] | None) -> tuple[int, list[str], dict | None]:
    """This file as a child process in `root`: (exit code, its output lines, its JSON answer or None).
    The child gets its own session, so a Ctrl-C at the terminal reaches the flow, which stops the
    child and the stage command under it (SIGINT, then SIGKILL) instead of leaving them running."""
    with tempfile.TemporaryDirectory(prefix="explorer-dvc-", dir=dvc_tmp(root)) as tmp:
        answer = Path(tmp) / "answer.json"
        cmd = [sys.executable, "-P", str(Path(__file__).resolve()), *args, "--answer", str(answer)]
        lines: list[str] = []
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if echo and line.strip():
                    echo(line.rstrip("\n"))
            proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        return proc.returncode, lines, json.loads(answer.read_text()) if answer.exists() else None


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGINT, STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


# -----------------------------------------------------------------------------
# Which stages, in which order


def stage_graph(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """The stages (dvc.yaml order) and, for each, the stages it depends on, from DVC's index: a
    stage added to dvc.yaml is picked up without touching this file (and the StageName test fails
    until it is named there too)."""
    rc, lines, answer = _run_child(["graph"], root, dvc_env(root), None)
    if answer is None or answer.get("error"):
        detail = answer["error"] if answer else "\n".join(lines[-TAIL_LINES:])
        raise RuntimeError(f"DVC could not read the pipeline in {root}: {detail}")
    return answer["stages"], {s: set(up) for s, up in answer["upstream"].items()}


def plan_stages(order: list[str], upstream: dict[str, set[str]], requested: list[str] | None, force: bool) -> list[tuple[str, bool]]:
    """(stage, forced) pairs, upstream first: the requested stages (default: all) and every stage
    they depend on. Each task runs `dvc repro --single-item`, which never looks upstream, so the
    upstream stages get their own tasks; DVC skips the up-to-date ones in about a second.
    (Plain `dvc repro <stage>` would run a stale upstream stage inside the downstream stage's
    task: wrong retries, wrong timing, wrong MLflow child run.) `force` applies to the requested
    stages only, not to what they depend on."""
    unknown = sorted(set(requested or ()) - set(order))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; dvc.yaml has {order}")
    wanted = set(requested or order)
    todo, closure = list(wanted), set()
    while todo:
        s = todo.pop()
        if s not in closure:
            closure.add(s)
            todo.extend(upstream.get(s, ()))
    ordered: list[str] = []  # topological order, ties broken by dvc.yaml order
    while len(ordered) < len(closure):
        s = next(s for s in order if s in closure and s not in ordered and upstream.get(s, set()) & closure <= set(ordered))
        ordered.append(s)
    return [(s, force and s in wanted) for s in ordered]


# -----------------------------------------------------------------------------
# One stage


@dataclass
class ReproOutcome:
    """What one `reproduce` of a stage did. status: ran (its command ran), restored (DVC restored
    its outputs from the run cache), up to date (skipped), or failed; then `command_exit` is the
    exit status of the command that failed (None: DVC failed before or after running it),
    `locked` whether another DVC process held the repo lock, `killed_by` the signal that ended the
    DVC process before it could answer, and `error` DVC's error message."""

    status: Literal["ran", "restored", "up to date", "failed"]
    command_exit: int | None = None
    locked: bool = False
    killed_by: int | None = None
    error: str = ""
    lines: list[str] = field(default_factory=list)  # the output, stdout and stderr interleaved


def repro(stage: str, root: Path, env: dict[str, str], force: bool = False, echo: Callable[[str], None] | None = None) -> ReproOutcome:
    """`dvc repro --single-item <stage> [--force]` in `root`, through DVC's Python API in a child
    process, each output line passed to `echo` (the Prefect log) as it comes."""
    rc, lines, answer = _run_child(["repro", stage, *(["--force"] if force else [])], root, env, echo)
    if answer is None:  # the child died before answering (killed, out of memory)
        killed_by = -rc if rc < 0 else None
        return ReproOutcome("failed", killed_by=killed_by, error=f"the DVC process exited with {rc} without an answer", lines=lines)
    exits = answer["command_exits"]
    if answer["error"]:
        failed = exits[-1] if exits and exits[-1] != 0 else None
        return ReproOutcome("failed", command_exit=failed, locked=answer["locked"], error=answer["error"], lines=lines)
    return ReproOutcome("ran" if exits else "restored" if answer["reproduced"] else "up to date", lines=lines)


class StageFailed(RuntimeError):
    """A stage's `reproduce` failed on attempt `attempt`."""

    def __init__(self, stage: str, outcome: ReproOutcome, attempt: int):
        self.stage, self.outcome, self.attempt = stage, outcome, attempt
        tail = outcome.lines[-TAIL_LINES:]
        if outcome.command_exit == BAD_INPUT_EXIT:
            cause = f"its command exited with {BAD_INPUT_EXIT} (bad config or data: not retried)"
        elif outcome.command_exit is not None:
            cause = f"its command exited with {outcome.command_exit}"
        elif outcome.locked:
            cause = f"another DVC process holds the repo lock ({outcome.error})"
        elif outcome.killed_by is not None:
            cause = f"the DVC process was killed by signal {outcome.killed_by}"
        else:
            cause = f"DVC: {outcome.error}"
        super().__init__(f"stage {stage!r} failed on attempt {attempt}: {cause}. Last {len(tail)} lines of its output:\n" + "\n".join(tail))

    def __reduce__(self) -> tuple:  # pickles with its fields (Prefect may serialize a task's exception)
        return StageFailed, (self.stage, self.outcome, self.attempt)

    @property
    def command_exit(self) -> int | None:
        return self.outcome.command_exit

    @property
    def transient(self) -> bool:
        """Worth a retry: the stage's command ran and died of something other than bad input (a
        Tinker fault, a kill), the DVC process was killed, or another DVC process held the repo
        lock. Anything else DVC refused (missing inputs, a bad dvc.yaml) would fail the same way
        again."""
        if self.outcome.command_exit is not None:
            return self.outcome.command_exit != BAD_INPUT_EXIT
        return self.outcome.locked or self.outcome.killed_by is not None


# -----------------------------------------------------------------------------
# One pipeline run at a time per checkout


class PipelineBusy(RuntimeError):
    pass


_held: dict[Path, int] = {}  # lock files this process holds -> nesting depth


@contextmanager
def pipeline_lock(root: Path) -> Iterator[None]:
    """Hold the checkout's pipeline lock, or raise PipelineBusy at once naming who holds it. DVC's
    own lock does not do this: each stage is its own `dvc repro`, and DVC even releases its lock
    while a stage's command runs. flock: the kernel releases it when the holder exits, however it
    exits, so a killed run leaves no stale lock. Re-entrant within a process: `explorer pipeline`
    takes it before Prefect starts (so a second run is refused at once), then the flow again
    (which also covers runs of a served deployment)."""
    path = (dvc_tmp(root) / LOCK_FILE.name).resolve()
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    f = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "holder unknown"
        f.close()
        raise PipelineBusy(f"the pipeline is already running in {root} ({holder}; lock file {path})") from None
    f.truncate(0)
    f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    f.flush()
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        f.truncate(0)
        f.close()  # closing releases the flock


# -----------------------------------------------------------------------------
# The child process: DVC's Python API


def _error_text(exc: BaseException) -> str:
    """DVC's message and the causes it wraps, e.g. "failed to reproduce 'sft': failed to run: ..."."""
    parts, e = [], exc
    while e is not None and len(parts) < 5:
        if str(e) and str(e) not in parts:
            parts.append(str(e))
        e = e.__cause__ or e.__context__
    return ": ".join(parts) or type(exc).__name__


def _child(argv: list[str]) -> int:
    command, *rest = argv
    answer_path = Path(rest[rest.index("--answer") + 1])
    answer: dict = {"error": ""}
    from dvc.lock import LockError
    from dvc.repo import Repo

    try:
        if command == "graph":
            with Repo(".") as repo:
                stages = [s for s in repo.index.stages if getattr(s, "cmd", None)]
                names = [s.addressing for s in stages]
                graph = repo.index.graph  # edges run from a stage to the stages it depends on
                answer["stages"] = names
                answer["upstream"] = {
                    s.addressing: sorted(d.addressing for d in graph.successors(s) if d.addressing in names) for s in stages
                }
        else:
            stage, force = rest[0], "--force" in rest
            exit_file, shell = answer_path.with_suffix(".exits"), answer_path.with_name("stage_shell.sh")
            shell.write_text(STAGE_SHELL)
            shell.chmod(0o755)
            os.environ["SHELL"], os.environ[EXIT_FILE_ENV] = str(shell), str(exit_file)
            answer |= {"reproduced": False, "locked": False, "command_exits": []}
            try:
                with Repo(".") as repo:
                    answer["reproduced"] = bool(repo.reproduce(stage, single_item=True, force=force))
            finally:
                answer["command_exits"] = [int(x) for x in exit_file.read_text().split()] if exit_file.exists() else []
    except (Exception, KeyboardInterrupt) as e:  # every failure is answered; only a kill goes unanswered
        answer["error"] = _error_text(e) if not isinstance(e, KeyboardInterrupt) else "interrupted"
        answer["locked"] = any(isinstance(x, LockError) for x in (e, e.__cause__, e.__context__))
        print(f"ERROR: {answer['error']}", file=sys.stderr, flush=True)
    tmp = answer_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(answer))
    tmp.replace(answer_path)  # the parent reads a whole answer or none
    return 1 if answer["error"] else 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))

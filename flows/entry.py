"""The flow's entry point: `explorer pipeline` and `explorer serve` (explorer/cli.py hands their
arguments over), also `python -m flows.entry run|serve`.

    explorer pipeline [--stage S ...] [-S key=value ...] [--backend local|tinker] [--force]
    explorer serve [--cron "0 3 * * *"] [--name tinker-explorer]

Before anything slow starts: a second pipeline run in the same checkout is refused (the pipeline
lock), and with a Prefect API configured (PREFECT_API_URL) it must answer, or the command says in
one line which URL does not and exits 1.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from flows.dvc_stages import STAGE_NAMES

# The one place that decides the project root (explorer.config.project_root reads it; so do the
# stages and the flow runs of `serve`, which inherit it): the repo that holds this file, since
# `serve` may be started from any folder, unless EXPLORER_PROJECT_ROOT names another.
REPO = Path(__file__).resolve().parents[1]
HEALTH_TIMEOUT_SECONDS = 3.0
PAUSE_TIMEOUT_SECONDS = 8.0
SERVER_HINT = "prefect server start --host 127.0.0.1 --background --analytics-off"


def prefect_api_problem(timeout: float = HEALTH_TIMEOUT_SECONDS) -> str | None:
    """None when no Prefect API is configured (runs then start a temporary one) or when it answers
    `<api>/health`; otherwise one line saying which URL does not answer. Any HTTP reply counts as
    an answer (a hosted API may want a key even for that)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        return None
    try:
        urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return (
            f"the Prefect API at {url} (PREFECT_API_URL) does not answer ({reason}); "
            f"start it (`{SERVER_HINT}`) or unset PREFECT_API_URL to run without a server"
        )
    return None


def run(args: argparse.Namespace) -> int:
    from explorer.config import ConfigError, parse_set_params, project_root
    from flows.dvc_stages import PipelineBusy, pipeline_lock

    try:
        overrides = parse_set_params(args.set_param)
        with pipeline_lock(project_root()):  # the flow takes it again (re-entrant): this refuses a second run at once
            if problem := prefect_api_problem():
                print(f"error: {problem}", file=sys.stderr)
                return 1
            from flows.pipeline import KEEP_BACKEND, pipeline_flow

            summary = pipeline_flow(
                stages=tuple(args.stages or STAGE_NAMES),
                params_overrides=overrides,
                backend=args.backend or KEEP_BACKEND,
                force=args.force,
                retries=args.retries,
            )
    except PipelineBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pipeline interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        print(f"pipeline failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


def pause_deployment(name: str, timeout: float = PAUSE_TIMEOUT_SECONDS) -> str:
    """Pause the served deployment, giving up after `timeout` s (the server may be gone already:
    Prefect's own pause on shutdown would retry it for minutes). Returns what happened, one line."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    outcome = [f"the Prefect API did not answer within {timeout:.0f} s; deployment {name!r} is left as it was (active)"]

    deadline = time.monotonic() + timeout

    def pause() -> None:
        # A busy server may answer 5xx (its SQLite store locked); that is retried until the
        # deadline. Anything else (no server, no such deployment) is final at once.
        while True:
            try:
                with (
                    temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}),
                    get_client(sync_client=True, httpx_settings={"timeout": timeout / 2}) as c,
                ):
                    c.pause_deployment(c.read_deployment_by_name(name).id)
                outcome[0] = f"paused deployment {name!r}: its schedule creates no runs until it is resumed or served again"
                return
            except Exception as e:  # noqa: BLE001 (reported, never raised: serve is shutting down)
                outcome[0] = f"could not pause deployment {name!r} ({type(e).__name__}: {e}); it is left as it was"
                status = getattr(getattr(e, "response", None), "status_code", 0)
                if not (isinstance(status, int) and status >= 500) or time.monotonic() + 0.5 > deadline:
                    return
                time.sleep(0.5)

    t = threading.Thread(target=pause, daemon=True)
    t.start()
    t.join(timeout)
    return outcome[0]


class StopRequest:
    """What SIGINT and SIGTERM do to `serve`. Prefect's Runner.handle_sigterm calls sys.exit while
    the runner is still starting; a signal handler's exception lands in whatever Python code runs
    at that moment, and where that is a weakref callback or a __del__ it is printed and dropped
    ("Exception ignored ... SystemExit: 0"), and serve ran on (a CI run under load hit this). So
    the handler first of all sets `asked`, which cannot be dropped (a plain attribute: a lock,
    as in threading.Event, could deadlock a handler that a second signal interrupts), and
    `serve_until_stopped` polls it. By `mode`:
    - "starting" (before the event loop runs: registering the deployment): it also raises
      KeyboardInterrupt, so that a slow start-up stops at once; if that is dropped, `asked` still
      keeps the runner from starting;
    - "serving": the first signal only sets `asked`; a second one raises KeyboardInterrupt, for
      when the orderly stop hangs;
    - "pausing" (serve is ending): nothing more, so that Ctrl-C cannot cut the pause short (it
      has a deadline)."""

    def __init__(self) -> None:
        self.asked = False
        self.mode = "starting"

    def __call__(self, signum: int, frame: object) -> None:
        again, self.asked = self.asked, True
        if self.mode == "starting" or (self.mode == "serving" and again):
            raise KeyboardInterrupt


def install_stop(runner, stop: StopRequest) -> None:
    """`stop` as the handler of SIGINT and SIGTERM, also once the runner starts: Runner.start
    installs `self.handle_sigterm` for SIGTERM, which the instance attribute makes `stop`.
    Started with `&` from a script, a process inherits SIGINT as ignored: this makes it count."""
    runner.handle_sigterm = stop
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


async def serve_until_stopped(runner, stop: StopRequest, poll_seconds: float = 0.2) -> None:
    """Run `runner.start()` until it ends or `stop` is asked; then stop the runner the way Prefect
    does on SIGTERM (Runner.astop: cancel a run in progress, stop polling) and wait for it to end.
    A stop asked while the runner is still starting waits for it to have started (its services
    are then shut down in order by its own exit), or for its start to fail."""
    import asyncio

    stop.mode = "serving"
    start = asyncio.ensure_future(runner.start())
    while not start.done() and not stop.asked:
        await asyncio.sleep(poll_seconds)
    if not start.done():
        while not runner.started and not start.done():
            await asyncio.sleep(poll_seconds / 4)
        # even when the runner set `stopping` itself (a failed cancellation observer): its
        # polling loops run until astop cancels them
        if runner.started:
            await runner.astop()
    await start  # returns once the runner has shut down; raises what its start raised


def serve(args: argparse.Namespace) -> int:
    if problem := prefect_api_problem():
        print(f"error: {problem}", file=sys.stderr)
        return 1
    import asyncio

    from prefect.runner import Runner
    from prefect.schedules import Cron
    from prefect.settings import get_current_settings
    from prefect.types.entrypoint import EntrypointType

    from flows.pipeline import FLOW_NAME, pipeline_flow

    has_server = bool(get_current_settings().api.url)
    if not has_server:
        print(
            "note: PREFECT_API_URL is not set, so the deployment lives in a temporary server that ends with this process.\n"
            f"      For the UI: {SERVER_HINT}; export PREFECT_API_URL=http://127.0.0.1:4200/api",
            file=sys.stderr,
        )
    # What Flow.serve does, with the runner in hand so that SIGINT stops it the way Prefect stops
    # it on SIGTERM (cancel a run in progress, stop polling). On its own, Prefect's SIGINT path
    # waits for a run in progress to finish, for as long as it takes.
    # limit=1: two pipeline runs at once would fight over the DVC lock; a second one waits.
    # pause_on_shutdown=False: Prefect's pause retries for minutes if the server went first;
    # pause_deployment below does it with a deadline.
    runner = Runner(name=args.name, pause_on_shutdown=False, limit=1)
    stop = StopRequest()
    install_stop(runner, stop)  # before the deployment is registered and the runner starts
    name = f"{FLOW_NAME}/{args.name}"
    try:
        runner.add_flow(
            pipeline_flow,
            name=args.name,
            schedules=[Cron(args.cron, timezone=args.timezone)],
            tags=["tinker-explorer"],
            entrypoint_type=EntrypointType.MODULE_PATH,  # flows.pipeline.pipeline_flow, importable wherever serve runs
        )
        print(f"serving deployment {name!r} ({args.cron} {args.timezone}); run it now: prefect deployment run {name!r}", file=sys.stderr)
        print("Ctrl-C or SIGTERM stops serve (a run in progress is cancelled) and pauses the deployment.", file=sys.stderr)
        if not stop.asked:
            asyncio.run(serve_until_stopped(runner, stop))
    except KeyboardInterrupt:  # a signal before the runner's loop ran, or a second one
        pass
    finally:
        stop.mode = "pausing"
        if has_server:
            print(f"serve stopped; {pause_deployment(name)}", file=sys.stderr)
    return 0


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run or serve the Tinker-Explorer pipeline flow.")
    sub = p.add_subparsers(dest="command", required=True)
    # `explorer pipeline ...` hands over its own argv: there the run command is called `pipeline`
    r = sub.add_parser(
        "pipeline" if prog == "explorer" else "run", help="one flow run now (a temporary Prefect unless PREFECT_API_URL is set)"
    )
    r.add_argument(
        "--stage", action="append", dest="stages", choices=STAGE_NAMES, help="a stage to bring up to date (repeatable; default: all)"
    )
    r.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE", help="set a params.yaml key first (repeatable)")
    r.add_argument("--backend", choices=["local", "tinker"], help="set train.backend (default: as params.yaml has it)")
    r.add_argument("--force", action="store_true", help="rerun the named stages even if up to date")
    r.add_argument("--retries", type=int, default=2, help="retries of sft, grpo and evaluate (default 2)")
    s = sub.add_parser("serve", help="register a scheduled deployment and run what it schedules (blocks; Ctrl-C or SIGTERM stops it)")
    s.add_argument("--cron", default="0 3 * * *", help='cron schedule (default "0 3 * * *")')
    s.add_argument("--timezone", default="UTC", help="timezone of the cron schedule (default UTC)")
    s.add_argument("--name", default="tinker-explorer", help="deployment name (default tinker-explorer)")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m flows.entry") -> int:
    os.environ.setdefault("EXPLORER_PROJECT_ROOT", str(REPO))
    args = build_parser(prog).parse_args(argv)
    return serve(args) if args.command == "serve" else run(args)


if __name__ == "__main__":
    sys.exit(main())

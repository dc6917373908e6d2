"""One module per DVC stage (dvc.yaml runs `python -m explorer.stages.<name>`), each a
`main(params)` that does the I/O around pure functions: prepare -> baseline -> demos -> sft ->
grpo -> evaluate -> report. `explorer <stage>` runs the same `main`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from explorer.config import ConfigError, Params, load_params
from explorer.data.records import DataError
from explorer.tracking import preflight

# Bad config, bad data, a missing input or a rejected key: a clear one-line error and exit code 2,
# which the pipeline flow does not retry (it would fail again). Anything else is a bug or a fault.
BAD_INPUT = (ConfigError, DataError, FileNotFoundError, ValueError)
BAD_INPUT_EXIT = 2


def guarded(body: Callable[[], int]) -> int:
    """Run `body`; bad input becomes one line and exit 2 (not retried), an OS error while reading
    or writing (a full disk, a read-only folder) one line and exit 1. No traceback for either:
    outputs are written atomically, so the previous version of each is intact."""
    try:
        return body()
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT_EXIT
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        print(
            f"error: {e.strerror or e}{where}; no file was left half-written (each output holds its previous version or a whole new one)",
            file=sys.stderr,
        )
        return 1


def run_main(main: Callable[[Params], int], params_path: str = "params.yaml") -> int:
    """`python -m explorer.stages.X`: load params.yaml, check the tracking server, run the stage."""

    def body() -> int:
        params = load_params(params_path)
        preflight(params.tracking)
        return main(params)

    return guarded(body)

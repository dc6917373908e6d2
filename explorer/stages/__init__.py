"""One module per DVC stage (dvc.yaml runs `python -m explorer.stages.<name>`), each a
`main(params)` that does the I/O around pure functions: prepare -> baseline -> demos -> sft ->
grpo -> evaluate -> report. `explorer <stage>` runs the same `main`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from explorer.config import ConfigError, Params, load_params
from explorer.data.records import DataError

# Bad config, bad data, a missing input or a rejected key: a clear one-line error and exit code 2,
# which the pipeline flow does not retry (it would fail again). Anything else is a bug or a fault.
BAD_INPUT = (ConfigError, DataError, FileNotFoundError, ValueError)
BAD_INPUT_EXIT = 2


def run_main(main: Callable[[Params], int], params_path: str = "params.yaml") -> int:
    """Load params.yaml, run a stage's `main`, and turn bad input into one line and exit 2."""
    try:
        return main(load_params(params_path))
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT_EXIT

"""Prefect orchestration of the DVC pipeline (see flows/README.md).

Prefect reads its settings when it is first imported, so the defaults are set here, before any
module of this package imports it. Each is a default: a value already in the environment wins.
"""

import os

# An ephemeral (no-server) Prefect start takes 13-25 s here and the default 20 s timeout
# sometimes fails (DESIGN.md section 4).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# No network here, and nothing to report to.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

"""Prefect orchestration of the DVC pipeline (see flows/README.md): pipeline.py is the flow,
entry.py its entry point (`explorer pipeline`, `explorer serve`), dvc_stages.py what it asks DVC.

Prefect reads its settings when it is first imported, so the defaults are set here, before any
module of this package imports it. Each is a default: a value already in the environment wins.
"""

import os

# An ephemeral (no-server) Prefect start takes 13-25 s here and the default 20 s timeout
# sometimes fails (DESIGN.md section 4).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# No network here, and nothing to report to: a Prefect server started with analytics on dies
# offline (DESIGN.md section 4). This covers the temporary servers the flows start.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

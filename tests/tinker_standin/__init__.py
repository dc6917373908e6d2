"""Test stand-in for the Tinker training service (see README.md in this folder)."""

from .server import (
    DEFAULT_API_KEYS,
    DEFAULT_EOS_TOKEN_IDS,
    DEFAULT_VOCAB_SIZE,
    SDK_VERSION,
    Checkpoint,
    Fault,
    Faults,
    LogEntry,
    OpRecord,
    RequestLog,
    StandIn,
)

__all__ = [
    "DEFAULT_API_KEYS",
    "DEFAULT_EOS_TOKEN_IDS",
    "DEFAULT_VOCAB_SIZE",
    "SDK_VERSION",
    "Checkpoint",
    "Fault",
    "Faults",
    "LogEntry",
    "OpRecord",
    "RequestLog",
    "StandIn",
]

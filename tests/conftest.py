from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_2WIKI, raw_record

from explorer.config import DataConfig
from explorer.data.records import RawRecord, parse_record
from explorer.data.tasks import make_task


@pytest.fixture
def task():
    rec: RawRecord = parse_record(raw_record(), "fixture.jsonl", 1)
    t, warnings = make_task(rec, DataConfig())
    assert warnings == []
    return t


@pytest.fixture
def shared_2wiki() -> Path:
    if not (SHARED_2WIKI / "dev.jsonl").exists():
        pytest.skip(f"real 2Wiki records not found at {SHARED_2WIKI} (they live in the workplace's shared/ folder)")
    return SHARED_2WIKI

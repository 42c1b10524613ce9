"""The JSON report: the run, per capability its verdict, percentage and every check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ..capabilities import BY_NAME
from ..results import RunResult


def document(result: RunResult) -> dict[str, object]:
    doc = {"suite": "smsgate-conformance", "header": result.header,
           "generated": datetime.now(UTC).isoformat(timespec="seconds"), **result.as_dict()}
    for capability in doc["capabilities"]:  # type: ignore[attr-defined]
        known = BY_NAME.get(capability["name"])
        capability["meaning"] = known.meaning if known else ""
    return doc


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(document(result), indent=2) + "\n", encoding="utf-8")

"""The SMSGate OpenAPI 3.1 document (``smsgate.yaml``) shipped as package data."""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any

import yaml

__all__ = ["SPEC_PATH", "load_spec", "spec_json_bytes"]

SPEC_PATH: pathlib.Path = pathlib.Path(__file__).resolve().with_name("smsgate.yaml")


@functools.cache
def load_spec() -> dict[str, Any]:
    """Parse the document once; the returned dict is shared, so copy it before changing it."""
    with SPEC_PATH.open(encoding="utf-8") as stream:
        spec = yaml.safe_load(stream)
    if not isinstance(spec, dict):
        raise ValueError(f"{SPEC_PATH} does not hold a mapping")
    return spec


@functools.cache
def spec_json_bytes() -> bytes:
    """The document serialised as UTF-8 JSON (what ``/api/docs/doc.json`` serves)."""
    return json.dumps(load_spec(), ensure_ascii=False).encode("utf-8")

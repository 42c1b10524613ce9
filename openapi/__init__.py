"""The SMSGate OpenAPI 3.1 document (``smsgate.yaml``) shipped as package data."""

from __future__ import annotations

import functools
import json
import pathlib
import tomllib
from typing import Any

import yaml

__all__ = ["SCHEMATHESIS_CONFIG", "SPEC_PATH", "load_spec", "schemathesis_operations", "spec_json_bytes"]

SPEC_PATH: pathlib.Path = pathlib.Path(__file__).resolve().with_name("smsgate.yaml")
# schemathesis' configuration for this document: the checks it must pass, and each documented exception.
SCHEMATHESIS_CONFIG: pathlib.Path = SPEC_PATH.with_name("schemathesis.toml")


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


def schemathesis_operations() -> list[dict[str, Any]]:
    """The per-operation exceptions of `schemathesis.toml` (each with its reason there), as schemathesis'
    `operations` config list: what any run against this document must honour."""
    with SCHEMATHESIS_CONFIG.open("rb") as stream:
        return list(tomllib.load(stream).get("operations", []))

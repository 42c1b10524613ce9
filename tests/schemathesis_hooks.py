"""schemathesis hooks for runs against a live reference server (`SCHEMATHESIS_HOOKS=schemathesis_hooks`).

- The device whose token authenticates the mobile operations must survive the run: a DELETE of its id (ids
  seen in responses are reused) goes to an id nobody has instead, which is still a 204.
- The upstream push relay allows 5 requests a minute per client IP: each push request names its own
  `X-Forwarded-For` address (the server under test trusts the loopback proxy), so its validation is tested
  rather than a documented 429 for everything after the fifth call.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import schemathesis

OWN_DEVICE_PATHS = {"/api/3rdparty/v1/devices/{id}", "/api/3rdparty/v1/device/{id}"}
_addresses = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    parameters = case.path_parameters or {}
    if case.operation.path in OWN_DEVICE_PATHS and parameters.get("id") == os.environ.get("SMSGATE_DEVICE_ID"):
        case.path_parameters = {**parameters, "id": "not-the-suite-device"}
    if case.operation.path == "/api/upstream/v1/push":
        case.headers = {**(case.headers or {}), "X-Forwarded-For": next(_addresses)}

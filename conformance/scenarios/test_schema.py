"""Part 1, schema: schemathesis over the spec, one check per operation plus the stateful run over its links.

The account is registered for this module alone (a new user where possible), when the module is imported:
schemathesis creates, changes and deletes things, and its device must survive (a DELETE of it is redirected
to an id nobody has).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis

from conformance.harness import repro
from conformance.harness import schema as spec
from conformance.harness.accounts import basic_header, new_user_authorization
from conformance.harness.polite import polite_session
from conformance.harness.target import Target, describe
from conformance.runner import selected_capabilities
from conformance.settings import Settings, active

SETTINGS = active()
FULL = spec.load(SETTINGS)
THIRDPARTY = spec.load(SETTINGS, tags={"User"})
MOBILE = spec.load(SETTINGS, tags={"Device"})
HEALTH = spec.load(SETTINGS, operation_ids=set(spec.HEALTH))
own_device: dict[str, str] = {"id": ""}
SESSION = polite_session()  # paced, 429s waited out; schemathesis' own probes (ignored_auth...) use it too


def note(case: schemathesis.Case) -> None:
    """The generated case, for the report's digest of this check's inputs (auth left out: it is per run)."""
    # Left out: auth (per run), schemathesis' own random test-case id header, and "no body" (its marker object's
    # repr holds a memory address).
    headers = {k: v for k, v in (case.headers or {}).items()
               if k.lower() != "authorization" and not k.lower().startswith("x-schemathesis")}
    body = None if type(case.body).__name__ == "NotSet" else case.body
    parts = [case.method, case.formatted_path, case.query, headers, body]
    repro.note_input(json.dumps(parts, sort_keys=True, default=repr))


def call(case: schemathesis.Case) -> None:
    note(case)
    case.call_and_validate(session=SESSION)


def prepare(case: schemathesis.Case, any_device: bool = False) -> None:
    """Keeps the suite's device: a DELETE of it goes to an id nobody has. In the state machine every device
    DELETE does: it would take the device's messages with it (a cascade the contract requires), and a later
    step reading one of them would be reported as a created resource gone missing."""
    parameters = case.path_parameters or {}
    if case.operation.path.endswith(("/devices/{id}", "/device/{id}")) and case.method.upper() == "DELETE" and \
            (any_device or parameters.get("id") == own_device["id"]):
        case.path_parameters = {**parameters, "id": "not-the-suite-device"}


def register(settings: Settings) -> None:
    """A device (and user) for schemathesis, and the credentials on every schema.

    At import, not in a fixture: schemathesis fixes the explicit examples' auth when the tests are collected.
    """
    target = Target.main(settings)
    authorization = new_user_authorization(settings, target)  # a user of its own where the target allows it
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(target.mobile + "/device", json={"name": "conformance/schemathesis"}, headers=headers,
                          timeout=settings.request_timeout)
    if response.status_code == 401 and settings.login and settings.password:
        response = httpx.post(target.mobile + "/device", json={"name": "conformance/schemathesis"},
                              headers={"Authorization": basic_header(settings.login, settings.password)},
                              timeout=settings.request_timeout)
    assert response.status_code == 201, f"registering the schemathesis device: {describe(response)}"
    device = response.json()
    login, password = device["login"], device.get("password") or settings.password or ""
    own_device.update(id=device["id"])
    token = httpx.post(target.thirdparty + "/auth/token", json={"scopes": ["messages:list"]}, auth=(login, password),
                       timeout=settings.request_timeout)
    refresh = token.json().get("refresh_token") if token.status_code == 201 else None
    for schema in (FULL, THIRDPARTY, MOBILE, HEALTH):
        spec.authenticate(schema, login, password, device["token"], refresh)


if any(name.startswith("schema-") for name in selected_capabilities(SETTINGS)):
    register(SETTINGS)


@pytest.mark.capability("schema-3rdparty")
@THIRDPARTY.parametrize()
def test_thirdparty(case: schemathesis.Case) -> None:
    prepare(case)
    call(case)


@pytest.mark.capability("schema-mobile")
@MOBILE.parametrize()
def test_mobile(case: schemathesis.Case) -> None:
    call(case)


@pytest.mark.capability("schema-health")
@HEALTH.parametrize()
def test_health(case: schemathesis.Case) -> None:
    call(case)


@pytest.mark.capability("schema-stateful")
def test_stateful() -> None:
    found: list[BaseException] = []

    class Machine(FULL.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            prepare(case, any_device=True)
            repro.note_input(f"{case.method} {case.operation.path}")  # link-filled values are per run

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"session": SESSION}

        def validate_response(self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except Exception as exc:
                found.append(exc)
                raise

    examples = 100 if SETTINGS.thorough else max(5, SETTINGS.max_examples)
    try:
        Machine.run(settings=hypothesis.settings(
            max_examples=examples, stateful_step_count=8 if SETTINGS.thorough else 5, deadline=None, database=None,
            derandomize=True,  # the same steps every run (from the test itself, like the seed elsewhere)
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # a replay would meet a changed server
            suppress_health_check=list(hypothesis.HealthCheck)))
    except hypothesis.errors.Flaky:
        if found:
            raise found[0] from None

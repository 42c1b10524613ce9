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

from conformance.harness import blocking, repro
from conformance.harness import schema as spec
from conformance.harness.accounts import basic_header, how, new_user_authorization
from conformance.harness.polite import polite_session
from conformance.harness.target import Target, describe
from conformance.runner import selected_capabilities
from conformance.settings import Settings, active

SETTINGS = active()
TARGET = Target.main(SETTINGS)
FULL = spec.load(SETTINGS)
THIRDPARTY = spec.load(SETTINGS, tags={"User"})
MOBILE = spec.load(SETTINGS, tags={"Device"})
HEALTH = spec.load(SETTINGS, operation_ids=set(spec.HEALTH))
own_device: dict[str, str] = {"id": "", "token": "", "login": "", "password": ""}
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


@pytest.fixture(autouse=True)
def schema_account(request: pytest.FixtureRequest) -> None:
    """Blocked at once when the checks' own account is unusable (before Hypothesis runs and shrinks the case)."""
    if blocked["by"] and request.node.get_closest_marker("capability").args[0] != "schema-health":
        blocking.block(blocked["by"], blocked["why"])


def call(case: schemathesis.Case) -> None:
    note(case)
    prepare_items(case)
    response = case.call(session=SESSION)
    case.validate_response(response)
    not_vacuous(case, response)


# What list routes must show once the suite created items (a schema check of [] or {} proves nothing):
# (API, method, path ending) -> what was created. Only for a plain request (no filtering query).
LISTS = {("mobile", "GET", "/message"): "a message pending for this device",
         ("mobile", "GET", "/messages"): "a message pending for this device",
         ("mobile", "GET", "/webhooks"): "a webhook of this user",
         ("mobile", "GET", "/settings"): "stored settings (ping.interval_seconds)",
         ("thirdparty", "GET", "/webhooks"): "a webhook of this user",
         ("thirdparty", "GET", "/devices"): "this user's device",
         ("thirdparty", "GET", "/messages"): "a message of this user",
         ("thirdparty", "GET", "/message"): "a message of this user"}
blocked: dict[str, str] = {"by": "", "why": ""}  # set when the schema checks' own account is unusable
CREATED_SETTINGS = {"ping": {"interval_seconds": 1800}}


def list_route(case: schemathesis.Case) -> str | None:
    api = "mobile" if "/mobile/" in case.operation.path else "thirdparty"
    if set(case.query or {}) - {"order"} or case.path_parameters:
        return None
    return LISTS.get((api, case.method.upper(), "/" + case.operation.path.rstrip("/").rsplit("/", 1)[-1]))


def prepare_items(case: schemathesis.Case) -> None:
    """A list route's schema is checked on real items: a pending message exists right before GET /message."""
    what = list_route(case)
    if what is None or "pending" not in what:
        return
    pending = httpx.get(TARGET.mobile + "/message", headers={"Authorization": f"Bearer {own_device['token']}"},
                        timeout=SETTINGS.request_timeout)
    if pending.status_code == 200 and pending.json() == []:
        send_one(own_device["login"], own_device["password"])


def not_vacuous(case: schemathesis.Case, response: Any) -> None:
    what = list_route(case)
    if what is None or response.status_code != 200:
        return
    try:
        document = response.json()
    except ValueError:
        return  # the schema check has said what is wrong
    assert document not in ([], {}), (f"{case.method} {case.formatted_path} answered {document!r} although the suite "
                                     f"created {what} first: the schema check would prove nothing")


def send_one(login: str, password: str) -> None:
    message = {"textMessage": {"text": "conformance/schema"}, "phoneNumbers": ["+79990001234"],
               "deviceId": own_device["id"]}
    response = httpx.post(TARGET.thirdparty + "/messages", json=message, auth=(login, password),
                          timeout=SETTINGS.request_timeout)
    assert response.status_code == 202, f"creating a message for the schema checks: {describe(response)}"


def create_items(login: str, password: str) -> None:
    """Items for the list routes to show: a pending message, a webhook, stored settings."""
    send_one(login, password)
    hook = {"url": "https://conformance.example.org/schema", "event": "sms:received"}
    for method, path, payload, status in (("POST", "/webhooks", hook, 201),
                                          ("PATCH", "/settings", CREATED_SETTINGS, 200)):
        response = httpx.request(method, TARGET.thirdparty + path, json=payload, auth=(login, password),
                                 timeout=SETTINGS.request_timeout)
        assert response.status_code == status, f"creating items for the schema checks: {describe(response)}"


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
    target = TARGET
    authorization = new_user_authorization(settings, target)  # a user of its own where the target allows it
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(target.mobile + "/device", json={"name": "conformance/schemathesis"}, headers=headers,
                          timeout=settings.request_timeout)
    if response.status_code == 401 and settings.login and settings.password:
        response = httpx.post(target.mobile + "/device", json={"name": "conformance/schemathesis"},
                              headers={"Authorization": basic_header(settings.login, settings.password)},
                              timeout=settings.request_timeout)
    if response.status_code != 201:  # the checks are blocked (not a collection error: the run goes on)
        method = how(authorization, target)
        blocked.update(by=blocking.NEW_USER,
                       why=f"registering the schema checks' device ({method}): {describe(response)}")
        return
    device = response.json()
    login, password = device["login"], device.get("password") or settings.password or ""
    own_device.update(id=device["id"], token=device["token"], login=login, password=password)
    proof = httpx.get(target.thirdparty + "/devices", auth=(login, password), timeout=settings.request_timeout)
    if proof.status_code == 401:
        blocked.update(by=blocking.NEW_USER, why="the login and password registration returned are refused (Basic "
                                                 f"on the 3rd-party API): {describe(proof)}")
        return
    try:
        create_items(login, password)
    except AssertionError as exc:
        blocked.update(by="send::test_text_message", why=str(exc))
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

"""Issue #15 (API input and CA): control characters in ids, the Location header, non-ASCII digits, settings merged
across requests and beyond Java's int, numbers sent with skipPhoneValidation, ids differing in case, and what
the CA signs. Each test goes over HTTP (httpx.ASGITransport) to the real app and database."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from ca_testing import ca_client, ca_settings, make_csr, wait_for_status
from conftest import Api, make_settings, open_api
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from test_abuse_input import _counts

from reference_server.ca.authority import init_root

TP = "/api/3rdparty/v1"
MB = "/api/mobile/v1"
PHONE = "+79990001122"
# C0 (NUL, TAB, LF, CR, ESC), DEL and C1 (NEL, the last C1)
CONTROLS = ["\x00", "\t", "\n", "\r\n", "\x1b", "\x7f", "\x85", "\x9f"]


async def _user(api: Api) -> tuple[dict[str, Any], tuple[str, str], dict[str, str]]:
    user = await api.register(name="hostile/phone")
    return user, (user["login"], user["password"]), {"Authorization": f"Bearer {user['token']}"}


def _is_400_json(response: Any) -> bool:
    return response.status_code == 400 and isinstance(response.json().get("message"), str)


async def test_control_characters_in_client_ids_are_400_and_store_nothing(api: Api) -> None:
    user, auth, _ = await _user(api)
    http = api.client
    before = await _counts(api)
    for char in CONTROLS:
        ident = f"id{char}x"
        sent = await api.send(user, {"id": ident, "textMessage": {"text": "x"}, "phoneNumbers": [PHONE]})
        assert _is_400_json(sent), (repr(char), sent.status_code, sent.text)
        on_device = await api.send(user, {"deviceId": user["id"][:20] + char, "textMessage": {"text": "x"},
                                          "phoneNumbers": [PHONE]})
        assert _is_400_json(on_device), (repr(char), on_device.text)
        hooked = await http.post(f"{TP}/webhooks", auth=auth,
                                 json={"id": ident, "url": "https://x.example/h", "event": "sms:sent"})
        assert _is_400_json(hooked), (repr(char), hooked.text)
        encoded = quote(ident, safe="")
        for method, path in (("GET", f"{TP}/messages/{encoded}"), ("DELETE", f"{TP}/messages/{encoded}"),
                             ("GET", f"{TP}/message/{encoded}"), ("DELETE", f"{TP}/devices/{encoded}"),
                             ("DELETE", f"{TP}/webhooks/{encoded}")):
            response = await http.request(method, path, auth=auth)
            assert _is_400_json(response), (method, path, response.status_code, response.text)
        listed = await http.get(f"{TP}/messages", auth=auth, params={"deviceId": "d" * 20 + char[0]})
        assert _is_400_json(listed), (repr(char), listed.text)
    assert await _counts(api) == before
    assert (await http.get(f"{MB}/device", headers={"Authorization": f"Bearer {user['token']}"})).status_code == 200


async def test_control_characters_in_a_token_id_are_400(tmp_path: Path, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, JWT__SECRET="hostile-" + "0123456789abcdef" * 4)):
        _, auth, _ = await _user(api)
        for char in CONTROLS:
            response = await api.client.delete(f"{TP}/auth/token/{quote('jti' + char, safe='')}", auth=auth)
            assert _is_400_json(response), (repr(char), response.status_code, response.text)
        assert (await api.client.delete(f"{TP}/auth/token/no-such-jti", auth=auth)).status_code == 204


async def test_location_is_percent_encoded(sqlite_api: Api) -> None:
    user, auth, _ = await _user(sqlite_api)
    ident = "a b?#%ü€"
    sent = await sqlite_api.send(user, {"id": ident, "textMessage": {"text": "x"}, "phoneNumbers": [PHONE]})
    assert sent.status_code == 202, sent.text
    location = sent.headers["Location"]
    assert location == f"{TP}/messages/a%20b%3F%23%25%C3%BC%E2%82%AC"
    found = await sqlite_api.client.get(location, auth=auth)  # the header leads back to the message
    assert found.status_code == 200 and found.json()["id"] == ident


@pytest.mark.parametrize("value", ["٣", "３", "1_0", " 5", "5\n", "²"], ids=repr)
async def test_limit_and_offset_take_ascii_digits_only(sqlite_api: Api, value: str) -> None:
    _, auth, _ = await _user(sqlite_api)
    for name in ("limit", "offset"):
        response = await sqlite_api.client.get(f"{TP}/messages", auth=auth, params={name: value})
        assert _is_400_json(response), (name, response.status_code, response.text)
    assert (await sqlite_api.client.get(f"{TP}/messages", auth=auth, params={"limit": "+5"})).status_code == 200


async def test_settings_patch_validates_the_merged_document(api: Api) -> None:
    _, auth, _ = await _user(api)
    http = api.client
    first = await http.patch(f"{TP}/settings", auth=auth, json={"messages": {"send_interval_min": 10}})
    assert first.status_code == 200, first.text
    second = await http.patch(f"{TP}/settings", auth=auth, json={"messages": {"send_interval_max": 5}})
    assert _is_400_json(second), second.text
    assert "send_interval_max" in second.json()["message"]
    stored = (await http.get(f"{TP}/settings", auth=auth)).json()
    assert stored["messages"] == {"send_interval_min": 10}
    # a patch that makes the merge consistent again is fine
    third = await http.patch(f"{TP}/settings", auth=auth, json={"messages": {"send_interval_max": 10}})
    assert third.status_code == 200 and third.json()["messages"] == {"send_interval_min": 10, "send_interval_max": 10}


@pytest.mark.parametrize("section, key", [("messages", "send_interval_max"), ("messages", "limit_value"),
                                          ("messages", "log_lifetime_days"), ("ping", "interval_seconds"),
                                          ("logs", "lifetime_days"), ("webhooks", "retry_count")])
async def test_integer_settings_beyond_java_int_are_400(sqlite_api: Api, section: str, key: str) -> None:
    _, auth, _ = await _user(sqlite_api)
    http = sqlite_api.client
    for method in ("PUT", "PATCH"):
        for too_big in (2**31, 2**53, 2**63):
            response = await http.request(method, f"{TP}/settings", auth=auth, json={section: {key: too_big}})
            assert _is_400_json(response), (method, too_big, response.text)
    assert (await http.get(f"{TP}/settings", auth=auth)).json() == {}
    largest = await http.patch(f"{TP}/settings", auth=auth, json={section: {key: 2**31 - 1}})
    assert largest.status_code == 200 and largest.json()[section][key] == 2**31 - 1


async def test_numbers_sent_unvalidated_are_kept_as_given_and_reports_match(api: Api) -> None:
    user, auth, device = await _user(api)
    http = api.client
    given = ["12345", "+1 (555) 0100", PHONE]
    sent = await api.send(user, {"id": "raw", "textMessage": {"text": "x"}, "phoneNumbers": given},
                          skipPhoneValidation="true")
    assert sent.status_code == 202, sent.text
    assert [r["phoneNumber"] for r in sent.json()["recipients"]] == given
    pulled = {m["id"]: m for m in (await http.get(f"{MB}/message", headers=device)).json()}
    assert pulled["raw"]["phoneNumbers"] == given
    # the phone reports each number as it received it; an app before 1.1.1 drops the plus of the E.164 one
    report = [{"id": "raw", "state": "Sent", "recipients": [
        {"phoneNumber": "12345", "state": "Sent"}, {"phoneNumber": "+1 (555) 0100", "state": "Failed",
                                                    "error": "no"},
        {"phoneNumber": PHONE.lstrip("+"), "state": "Sent"}]}]
    assert (await http.patch(f"{MB}/message", headers=device, json=report)).status_code == 204
    found = (await http.get(f"{TP}/messages/raw", auth=auth)).json()
    assert {r["phoneNumber"]: r["state"] for r in found["recipients"]} == {
        "12345": "Sent", "+1 (555) 0100": "Failed", PHONE: "Sent"}


async def test_ids_differing_only_in_case_are_distinct_on_every_backend(api: Api) -> None:
    user, auth, _ = await _user(api)
    http = api.client
    for ident in ("wh-a", "wh-A", "wh-á", "wh-a "):
        created = await http.post(f"{TP}/webhooks", auth=auth,
                                  json={"id": ident, "url": f"https://x.example/{quote(ident)}", "event": "sms:sent"})
        assert created.status_code == 201, created.text
    hooks = {h["id"]: h["url"] for h in (await http.get(f"{TP}/webhooks", auth=auth)).json()}
    assert hooks == {"wh-a": "https://x.example/wh-a", "wh-A": "https://x.example/wh-A",
                     "wh-á": "https://x.example/wh-%C3%A1", "wh-a ": "https://x.example/wh-a%20"}
    assert (await http.delete(f"{TP}/webhooks/wh-A", auth=auth)).status_code == 204
    assert sorted(h["id"] for h in (await http.get(f"{TP}/webhooks", auth=auth)).json()) == ["wh-a", "wh-a ", "wh-á"]

    for ident, text in (("Case", "upper"), ("case", "lower")):
        sent = await api.send(user, {"id": ident, "textMessage": {"text": text}, "phoneNumbers": [PHONE]})
        assert sent.status_code == 202, sent.text
    assert (await http.get(f"{TP}/messages/case", auth=auth)).json()["textMessage"] == {"text": "lower"}
    assert (await http.get(f"{TP}/messages/Case", auth=auth)).json()["textMessage"] == {"text": "upper"}
    assert (await http.get(f"{TP}/messages/CASE", auth=auth)).status_code == 404
    cancelled = await http.delete(f"{TP}/messages/Case", auth=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert (await http.get(f"{TP}/messages/case", auth=auth)).json()["state"] == "Pending"


# --- the CA ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca-hostile") / "ca"
    init_root(directory, key_type="ec")
    return directory


WEAK_KEYS = {
    "rsa-1024": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
    "dsa-2048": lambda: dsa.generate_private_key(key_size=2048),
    "p-192": lambda: ec.generate_private_key(ec.SECP192R1()),
    "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    "p-521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.filterwarnings("ignore:DSA is deprecated")
async def test_ca_refuses_weak_and_unlisted_keys(tmp_path: Path, root_dir: Path) -> None:
    async with ca_client(ca_settings(tmp_path, CA__RATE_LIMIT="0"), root_dir) as (client, _service):
        for name, make_key in WEAK_KEYS.items():
            response = await client.post("/csr", json={"content": make_csr(key=make_key())})
            assert response.status_code == 400, (name, response.text)
            assert response.json()["message"].startswith("invalid csr: "), (name, response.text)
            assert "RSA of 2048 bits or more, or EC on P-256 or P-384" in response.json()["message"]


async def test_ca_signs_only_what_it_decides(tmp_path: Path, root_dir: Path) -> None:
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bank of Anywhere"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ceo@bank.example"),
        x509.NameAttribute(NameOID.COMMON_NAME, "192.168.1.10"),
    ])
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP384R1())]
    async with ca_client(ca_settings(tmp_path, CA__RATE_LIMIT="0"), root_dir) as (client, _service):
        for key in keys:
            csr = make_csr(subject=subject, emails=["ceo@bank.example"], dns=["bank.example"], key=key)
            response = await client.post("/csr", json={"content": csr})
            assert response.status_code == 202, response.text
            approved = await wait_for_status(client, response.json()["request_id"])
            leaf = x509.load_pem_x509_certificate(str(approved["certificate"]).encode())
            assert leaf.subject.rfc4514_string() == "CN=192.168.1.10"
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert list(san) == [x509.IPAddress(ipaddress.ip_address("192.168.1.10"))]

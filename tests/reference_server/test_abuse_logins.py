"""Failed logins are limited per client IP (`auth.failed_login_limit` a minute, on by default), and credentials
are compared in constant time: the private token with `hmac.compare_digest`, passwords with bcrypt even for a
login that does not exist. Time runs on trio's MockClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import Api, make_settings, open_api

from reference_server.api.login_limit import FailedLoginLimiter
from reference_server.config import ConfigError, load_settings
from reference_server.domain import accounts
from reference_server.domain.errors import RateLimited

TP = "/api/3rdparty/v1"
LIMIT = 3


def test_the_limit_is_on_by_default(tmp_path: Path) -> None:
    settings = load_settings(config_path=None, environ={}, dotenv_path=tmp_path / "absent.env")
    assert settings.auth.failed_login_limit == 10


async def test_limiter_window(mock_clock: trio.testing.MockClock) -> None:
    """A window opens at a client's first failure; past the limit, Retry-After is what is left of it."""
    limiter = FailedLoginLimiter(LIMIT, window=60)
    for _ in range(LIMIT):
        await limiter.check("10.0.0.1")
        await limiter.failed("10.0.0.1")
        mock_clock.jump(10)
    with pytest.raises(RateLimited) as limited:
        await limiter.check("10.0.0.1")
    assert limited.value.retry_after == 30
    await limiter.check("10.0.0.2")  # another client is not affected
    mock_clock.jump(31)  # 61 s after the first failure: the window is over
    for _ in range(LIMIT - 1):
        await limiter.check("10.0.0.1")
        await limiter.failed("10.0.0.1")
    await limiter.check("10.0.0.1")
    await limiter.failed("10.0.0.1")
    with pytest.raises(RateLimited):
        await limiter.check("10.0.0.1")
    disabled = FailedLoginLimiter(0)
    for _ in range(100):
        await disabled.failed("10.0.0.1")
    await disabled.check("10.0.0.1")


@pytest.fixture
async def api(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, sqlite_url, AUTH__FAILED_LOGIN_LIMIT=str(LIMIT), HTTP__PROXIES="127.0.0.1/32",
                             GATEWAY__MODE="private", GATEWAY__PRIVATE_TOKEN="the-private-token-0123456789")
    async for handle in open_api(settings):
        yield handle


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def test_failed_logins_are_limited_per_client_ip(api: Api, mock_clock: trio.testing.MockClock) -> None:
    http = api.client
    user = await api.register(headers={"Authorization": "Bearer the-private-token-0123456789"})
    good, bad = (user["login"], user["password"]), (user["login"], "wrong-password")
    for _ in range(LIMIT):
        assert (await http.get(f"{TP}/devices", auth=bad, headers=_from("10.1.1.1"))).status_code == 401
    limited = await http.get(f"{TP}/devices", auth=good, headers=_from("10.1.1.1"))
    assert limited.status_code == 429 and limited.json() == {"message": "Too Many Requests"}  # even when right
    assert (await http.get(f"{TP}/devices", auth=good, headers=_from("10.1.1.2"))).status_code == 200

    # the other credential checks count as failed logins too: the private token and one-time codes
    for header in ("Bearer wrong-private-token", "Code 999999", "Bearer also-wrong"):
        response = await http.post("/api/mobile/v1/device", json={"name": "x"},
                                   headers={"Authorization": header, **_from("10.1.1.3")})
        assert response.status_code == 401, response.text
    response = await http.get("/api/mobile/v1/user/code", auth=good, headers=_from("10.1.1.3"))
    assert response.status_code == 429

    mock_clock.jump(61)
    assert (await http.get(f"{TP}/devices", auth=good, headers=_from("10.1.1.1"))).status_code == 200
    assert (await http.get("/api/mobile/v1/user/code", auth=good, headers=_from("10.1.1.3"))).status_code == 200


async def test_successes_do_not_count(api: Api) -> None:
    user = await api.register(headers={"Authorization": "Bearer the-private-token-0123456789"})
    for _ in range(LIMIT * 5):
        response = await api.client.get(f"{TP}/devices", auth=(user["login"], user["password"]))
        assert response.status_code == 200


async def test_limit_zero_turns_it_off(tmp_path: Path, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, AUTH__FAILED_LOGIN_LIMIT="0")):
        for _ in range(12):  # past the default of 10
            assert (await api.client.get(f"{TP}/devices", auth=("nobody", "x"))).status_code == 401


def test_private_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = accounts.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(accounts.hmac, "compare_digest", spy)
    assert accounts.private_token_matches("secret", "secret")
    assert not accounts.private_token_matches("secreT", "secret")
    assert not accounts.private_token_matches("", "")  # an empty token never matches
    assert len(compared) == 3


async def test_unknown_logins_cost_a_bcrypt_check_too(api: Api, bcrypt_checks: list[bytes]) -> None:
    user = await api.register(headers={"Authorization": "Bearer the-private-token-0123456789"})
    for login in ("NOSUCH", user["login"]):
        response = await api.client.get(f"{TP}/devices", auth=(login, "wrong-password"),
                                        headers=_from(f"10.2.0.{len(bcrypt_checks)}"))
        assert response.status_code == 401
    assert bcrypt_checks == [b"wrong-password", b"wrong-password"]  # one bcrypt check each, existing login or not


async def test_rate_limit_answers_do_not_wait(api: Api) -> None:
    """Past the limit the answer comes before any credential check (no bcrypt work for the attacker to cause)."""
    for _ in range(LIMIT):
        await api.client.get(f"{TP}/devices", auth=("NOSUCH", "x"), headers=_from("10.3.0.1"))
    with trio.fail_after(1):
        response = await api.client.get(f"{TP}/devices", auth=("NOSUCH", "x"), headers=_from("10.3.0.1"))
    assert response.status_code == 429


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("AUTH__FAILED_LOGIN_LIMIT", "-1", "auth.failed_login_limit"),
    ("HTTP__READ_TIMEOUT", "0s", "http.read_timeout: must be positive"),
    ("HTTP__IDLE_TIMEOUT", "-5s", "http.idle_timeout"),
    ("HTTP__REQUEST_TIMEOUT", "0", "http.request_timeout: must be positive"),
    ("DATABASE__CONNECT_TIMEOUT", "500ms", "database.connect_timeout: must be at least 1s"),
    ("DATABASE__QUERY_TIMEOUT", "soon", "database.query_timeout"),
])
def test_limit_and_timeout_keys_are_validated(tmp_path: Path, name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=None, environ={name: value}, dotenv_path=tmp_path / "absent.env")
    assert problem in str(error.value)


def test_timeout_keys_reach_the_engine(tmp_path: Path) -> None:
    settings = load_settings(config_path=None, environ={
        "DATABASE__URL": "mysql+pymysql://u:p@127.0.0.1:1/x", "DATABASE__CONNECT_TIMEOUT": "2s",
        "DATABASE__QUERY_TIMEOUT": "7s", "HTTP__READ_TIMEOUT": "3s", "HTTP__REQUEST_TIMEOUT": "4s"},
        dotenv_path=tmp_path / "absent.env")
    from reference_server.app import create_app

    app = create_app(settings)
    engine = app.extensions["smsgate"].db.engine
    assert engine.pool.timeout() == 2
    assert app.config["BODY_TIMEOUT"] == 3 and app.request_timeout == 4  # type: ignore[attr-defined]
    app.extensions["smsgate"].db.dispose()


def test_the_spec_documents_the_429_wherever_credentials_are_checked() -> None:
    from openapi import load_spec

    checked = {"ApiAuth", "ServerKey", "UserCode"}  # the schemes whose checks count as failed logins
    undocumented = [f"{method.upper()} {path}" for path, operations in load_spec()["paths"].items()
                    for method, operation in operations.items()
                    if isinstance(operation, dict) and checked & {name for alternative in operation.get("security", [])
                                                                  for name in alternative}
                    and "429" not in operation["responses"]]
    assert not undocumented

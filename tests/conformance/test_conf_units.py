"""The conformance suite's own machinery, without a server: settings, verdicts, baselines, reports, the SSE
parser, the spec rebasing and the FCM endpoint keyed by a generated service account."""

from __future__ import annotations

import ast
import base64
import json
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conformance import capabilities
from conformance.harness.push import KeyedFcmEndpoint, make_credentials
from conformance.harness.schema import rebased_spec
from conformance.harness.sse import SseEvent, SseParser
from conformance.report import write_html, write_json, write_junit
from conformance.results import Baseline, CapabilityResult, CheckResult, RunResult
from conformance.settings import load


def check(capability: str, name: str, outcome: str, strength: str = "MUST", message: str = "",
          core: bool = True) -> CheckResult:
    return CheckResult(f"{capability}::{name}", f"x.py::{name}", capability, strength, outcome,  # type: ignore[arg-type]
                       message=message or f"{outcome} message", details="trace" if outcome == "failed" else "",
                       core=core, reproduce="curl -X GET 'http://target/x'" if outcome == "failed" else "")


def run_of(*checks: CheckResult, **kw: object) -> RunResult:
    by: dict[str, list[CheckResult]] = {}
    for c in checks:
        by.setdefault(c.capability, []).append(c)
    result = RunResult("http://target", [CapabilityResult(n, cs) for n, cs in by.items()], **kw)  # type: ignore[arg-type]
    result.apply_baseline()
    return result


def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "conformance.toml"
    config.write_text('server = "http://file"\napi-path = ""\nskip = ["ca"]\ncertify = true\npush-wait = 9\n')
    env = {"SMSGATE_CONFORMANCE_CONFIG": str(config), "SMSGATE_CONFORMANCE_SERVER": "http://env",
           "SMSGATE_CONFORMANCE_SKIP": "ca,fcm", "SMSGATE_CONFORMANCE_CERTIFY": "false"}
    settings = load({"server": "http://cli", "examples": None}, env)
    assert (settings.server, settings.skip, settings.certify, settings.push_wait) == ("http://cli", ["ca", "fcm"],
                                                                                      False, 9.0)
    assert settings.api == "http://cli" and load({"server": "http://h/"}, {}).api == "http://h/api"
    with pytest.raises(ValueError, match="unknown key"):
        load({"config": str(config), "nonsense": 1}, {})


def test_capability_patterns() -> None:
    assert capabilities.resolve(["schema-*", "jwt"]) == ["schema-3rdparty", "schema-mobile", "schema-health",
                                                        "schema-stateful", "jwt"]
    with pytest.raises(ValueError, match="unknown capability"):
        capabilities.resolve(["nope"])


def test_verdicts_and_score() -> None:
    result = run_of(check("send", "a", "passed"), check("send", "b", "failed"),
                    check("sse", "a", "passed"), check("sse", "b", "failed", "SHOULD"),
                    check("ca", "a", "skipped", message="prerequisite: --ca URL"),
                    check("jwt", "a", "passed"), check("jwt", "b", "skipped", message="missing: JWT is disabled"),
                    check("otp", "a", "passed"), check("otp", "b", "skipped", message="prerequisite: x", core=False),
                    check("fcm", "a", "passed"), check("fcm", "b", "skipped", message="prerequisite: --fcm"))
    verdicts = {c.name: c.verdict for c in result.capabilities}
    # A check passing beside a core check skipped as missing or for a prerequisite is no Pass; an extra one is.
    assert verdicts == {"send": "Fail", "sse": "Non-strict", "ca": "Not checked", "jwt": "Missing", "otp": "Pass",
                        "fcm": "Not checked"}
    reasons = {c.name: c.reason for c in result.capabilities}
    assert reasons["ca"] == "needs --ca URL" and reasons["jwt"] == "JWT is disabled" and not reasons["send"]
    assert result.score == pytest.approx((50 + 50 + 100) / 3)  # checked capabilities only
    assert "over 3 checked capabilities; 3 not checked" in result.score_text and "jwt: Missing" in result.score_text
    assert [c.id for c in result.new_failures] == ["send::b"] and result.exit_status == 1
    assert [c.id for c in result.fix_first] == ["send::b", "sse::b"]  # MUST first
    assert run_of(check("sse", "b", "failed", "SHOULD")).exit_status == 0
    assert run_of(check("sse", "b", "failed", "SHOULD"), strict=True).exit_status == 1
    assert run_of(check("ca", "a", "skipped")).exit_status == 0
    certified = run_of(check("ca", "a", "skipped"), certify=True)
    assert certified.exit_status == 1 and certified.certification_problems


def test_baseline(tmp_path: Path) -> None:
    path = tmp_path / "baseline.txt"
    Baseline.write(path, ["send::b", "jwt::*"], "http://target")
    baseline = Baseline.read(path)
    assert baseline.entries == ["jwt::*", "send::b"]
    result = run_of(check("send", "b", "failed"), check("jwt", "a", "passed"), check("ca", "x", "failed"),
                    baseline=baseline)
    assert [c.id for c in result.new_failures] == ["ca::x"] and result.fixed == ["jwt::*"]
    result = run_of(check("send", "b", "failed"), check("jwt", "a", "failed"), baseline=baseline)
    assert result.exit_status == 0 and not result.fixed


def test_reports(tmp_path: Path) -> None:
    result = run_of(check("send", "a[x]", "passed"), check("send", "b", "failed"), check("ca", "a", "skipped"),
                    check("sse", "s", "failed", "SHOULD"), baseline=Baseline(["send::b"]), seed=7,
                    options={"fuzz_budget": 3})
    write_junit(result, tmp_path / "r.xml")
    write_json(result, tmp_path / "r.json")
    write_html(result, tmp_path / "r.html")
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("skipped") == "2"
    send = root.find("testsuite[@name='send']")
    assert send is not None and send.find("testcase[@name='b']/skipped").get("type") == "expected-failure"  # type: ignore[union-attr]
    assert root.find("testsuite[@name='sse']/testcase/failure").get("type") == "non-strict"  # type: ignore[union-attr]
    document = json.loads((tmp_path / "r.json").read_text())
    assert {c["name"]: c["verdict"] for c in document["capabilities"]} == {"send": "Fail", "ca": "Not checked",
                                                                          "sse": "Non-strict"}
    assert document["seed"] == 7 and document["header"].endswith("seed 7 · --fuzz-budget=3")
    assert document["fix_first"] == ["sse::s"]  # send::b is expected by the baseline
    assert document["exit_status"] == 0 and document["capabilities"][0]["meaning"]
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and "EXPECTED FAIL" in page
    assert "a[x]" in page and "Not checked" in page and "seed 7" in page
    assert "What to fix first" in page and "curl -X GET" in page
    failure = root.find("testsuite[@name='sse']/testcase/failure")
    assert failure is not None and (failure.text or "").startswith("Cause: failed message\n\nRequest:\n  curl -X GET")


def test_sse_parser() -> None:
    parser = SseParser()
    for chunk in ("event: MessageEnqueued\ndata: null\n\n:keepalive\n\nevent: MessageCancel", "led\r\ndata: {\"m",
                  "essageId\":\"x\"}\r", "\n\r\ndata: plain\n\n"):
        parser.feed(chunk)
    assert parser.events == [SseEvent("MessageEnqueued", "null"), SseEvent("MessageCancelled", '{"messageId":"x"}'),
                             SseEvent("message", "plain")]
    assert parser.comments == ["keepalive"]
    unterminated = SseParser()
    unterminated.feed("event: MessageEnqueued\ndata: null\nevent: SettingsUpdated\ndata: null\n")
    assert unterminated.events == []  # a frame needs its blank line


def test_spec_rebased_and_filtered() -> None:
    spec = rebased_spec("", lambda operation: "Device" in operation.get("tags", []))
    assert "/mobile/v1/device" in spec["paths"] and not any(p.startswith("/api") for p in spec["paths"])
    assert all(m in ("get", "post", "patch", "put", "delete", "parameters", "summary", "description")
               for item in spec["paths"].values() for m in item)
    assert "/health" not in spec["paths"]
    assert "/smsgate/3rdparty/v1/messages" in rebased_spec("/smsgate/")["paths"]


def test_keyed_fcm_endpoint_accepts_the_accounts_key() -> None:
    credentials = make_credentials("http://127.0.0.1:9")
    assert credentials["token_uri"] == "http://127.0.0.1:9/token"
    endpoint = KeyedFcmEndpoint(credentials)
    key = serialization.load_pem_private_key(credentials["private_key"].encode(), password=None)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iss": credentials["client_email"], "iat": int(time.time())}).encode())
    signature = key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    grant = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    form = f"grant_type={grant}&assertion={header}.{claims}.{b64(signature)}"
    status, answer = endpoint.handle("POST", "/token", {}, form.encode())
    assert status == 200 and answer["access_token"]
    status, _ = endpoint.handle("POST", "/token", {}, form.replace(claims, b64(b"{}")).encode())
    assert status == 400


def test_every_capability_has_scenarios() -> None:
    scenarios = Path(capabilities.__file__).with_name("scenarios")
    text = "\n".join(p.read_text() for p in scenarios.glob("test_*.py"))
    missing = [c.name for c in capabilities.CAPABILITIES if f'capability("{c.name}")' not in text]
    assert not missing


def test_never_imports_the_reference_server() -> None:
    package = Path(capabilities.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "reference_server" for n in names), f"{path} imports reference_server"


def test_reproduction_masks_secrets() -> None:
    from conformance.harness import repro

    repro.forget()
    repro.add_secret("private-token-value")
    repro.sent("post", "http://t/api/mobile/v1/device", {"Authorization": "Basic dXNlcjpwYXNz", "Host": "t",
                                                         "Content-Type": "application/json"},
               b'{"name": "x", "password": "hunter22", "token": "private-token-value"}')
    line = repro.reproduction()
    assert line.startswith("curl -X POST http://t/api/mobile/v1/device -H 'Authorization: Basic ***'")
    assert "hunter22" not in line and "private-token-value" not in line and "Host" not in line
    repro.sent("GET", "http://t/other", {}, b"")
    assert repro.reproduction() == "curl -X GET http://t/other"
    repro.described("DELETE", "http://t/x", {}, b"")  # what a failure message was about wins
    repro.sent("GET", "http://t/after", {}, b"")
    assert repro.reproduction() == "curl -X DELETE http://t/x"


def test_retry_after_and_pace() -> None:
    from conformance.harness.polite import MAX_WAIT, Politeness, retry_after

    assert retry_after("3") == 3.0 and retry_after(None) is None and retry_after("soon") is None
    assert 50 < (retry_after("Sun, 06 Dec 2099 00:00:00 GMT") or 0)
    politeness = Politeness(max_rps=10)
    assert politeness.delay() == 0.0 and 0.05 < politeness.delay() <= 0.1  # the second request waits its slot
    assert politeness.wait_for_429({"Retry-After": "2"}, 0, 0.0) == 2.0
    assert politeness.wait_for_429({}, 0, 0.0) == 1.0 and politeness.missing_retry_after == 1
    assert politeness.wait_for_429({"Retry-After": "600"}, 0, 0.0) == MAX_WAIT
    assert politeness.wait_for_429({"Retry-After": "30"}, 3, 170.0) is None  # waited long enough
    assert politeness.limited == 3


def test_blocked_checks_follow_their_root() -> None:
    """A check blocked by a root that failed is "blocked by <root>" (the first root of a chain) and the root is
    listed first; one whose root passed failed on its own."""
    root = check("registration", "test_new_user", "failed")
    chained = check("sse", "test_stream_opens", "failed")
    chained.blocked_by = root.id  # itself blocked by registration
    blocked = check("send", "a", "failed", message="refused")
    blocked.blocked_by = chained.id
    lonely = check("send", "b", "failed", message="refused here")
    lonely.blocked_by = "otp::test_join_with_a_code"  # that root passed
    passed_root = check("otp", "test_join_with_a_code", "passed")
    other = check("errors", "e", "failed")
    result = run_of(other, root, chained, blocked, lonely, passed_root)
    result.resolve_blocked()
    assert (blocked.outcome, blocked.blocked_by) == ("blocked", root.id)
    assert blocked.message == f"blocked by {root.id}: refused"
    assert chained.outcome == "blocked" and (lonely.outcome, lonely.blocked_by) == ("failed", "")
    assert [c.id for c in result.root_causes] == [root.id] and root.blocks == 2
    assert result.fix_first[0] is root and result.as_dict()["root_causes"][0]["blocks"] == 2
    verdicts = {c.name: c.verdict for c in result.capabilities}
    assert verdicts["send"] == "Fail" and verdicts["sse"] == "Blocked"
    assert result.capabilities[2].reason == f"blocked by {root.id}" and not result.capabilities[2].checked
    assert result.as_dict()["new_failures"] is None  # no baseline: nothing is "new"


def test_percent_says_what_it_is_over() -> None:
    capability = CapabilityResult("relay", [check("relay", "a", "passed"), check("relay", "b", "skipped", core=False),
                                            check("relay", "c", "skipped", core=False)])
    assert capability.verdict == "Pass" and capability.percent_text == "100% (1/1; 3 checks)"
    assert CapabilityResult("ca", [check("ca", "a", "passed")]).percent_text == "100%"


def test_legacy_aliases_are_should_with_the_removal_date() -> None:
    from conformance.plugin import legacy_alias

    assert "2025-12-31" in legacy_alias("test_thirdparty[GET /api/3rdparty/v1/message/{id}]")
    assert "2025-07-11" in legacy_alias("test_thirdparty[DELETE /3rdparty/v1/device/{id}]")
    assert legacy_alias("test_thirdparty[GET /api/3rdparty/v1/messages]") == ""
    assert legacy_alias("test_thirdparty[GET /api/3rdparty/v1/devices]") == ""


def test_bodies_are_cut_between_lines() -> None:
    from conformance.harness.repro import answer, excerpt

    body = json.dumps({"items": [{"id": n, "text": "x" * 40} for n in range(100)]})
    shown = excerpt(body, limit=500)
    assert shown.endswith("more characters)") and len(shown) < 600
    kept = shown.rsplit("\n", 1)[0]
    assert all(line.rstrip().endswith(("{", "[", ",", "}", "]", '"')) or line.strip().endswith("0")
               or line.strip()[-1].isdigit() for line in kept.splitlines())  # whole lines only
    assert answer(404, "Not Found", {"content-type": "text/plain", "x-other": "y"}, "Not Found") == \
        "HTTP 404 Not Found\ncontent-type: text/plain\n\nNot Found"


def test_api_urls_separately() -> None:
    from conformance.harness.target import Target

    settings = load({"server": "http://h:1", "mobile_url": "http://gw:2/m/v1/", "private_server": "http://p:3",
                     "private_token": "t"}, {})
    assert settings.mobile == "http://gw:2/m/v1" and settings.thirdparty == "http://h:1/api/3rdparty/v1"
    private = Target.private(settings)
    assert private is not None and private.thirdparty == "http://p:3/api/3rdparty/v1"
    assert private.mobile == "http://gw:2/m/v1"  # elsewhere than the server: the same URL
    assert load({"server": "http://h:1", "api_path": ""}, {}).mobile == "http://h:1/mobile/v1"

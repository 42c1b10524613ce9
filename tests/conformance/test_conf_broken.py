"""The suite against a server we did not write (tests/broken_server.py): it names exactly the server's root
causes, first; what depends on them is blocked (never passed, never a failure of its own); a feature that is
absent is one Missing verdict; two runs give identical JSON; the HTML report reads in a real browser.

The broken server's defects and the checks that must name them:
* the password registration returns is refused -> registration::test_new_user (blocks every check that needs
  a user's credentials, the schema checks included);
* SSE headers held back -> sse::test_stream_opens (blocks every check whose phone listens over SSE);
* `{"error": ...}` bodies -> errors::test_no_credentials_is_401, errors::test_unknown_device_token_is_401;
* a missing route (PATCH /mobile/v1/device) -> registration::test_patch_device_needs_token;
* JWT and one-time codes answering 404 on all their routes -> jwt and otp Missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from broken_server import PRIVATE_TOKEN, BrokenServer
from browser import Browser, browser  # noqa: F401 - the fixture
from judge_runs import comparable

pytestmark = pytest.mark.slow

ONLY = "registration,errors,sse,cancel,send,webhooks,jwt,otp,schema-mobile"
ROOT_CAUSES = {"registration::test_new_user", "sse::test_stream_opens"}
FAILURES = ROOT_CAUSES | {"errors::test_no_credentials_is_401", "errors::test_unknown_device_token_is_401",
                          "registration::test_patch_device_needs_token"}
# What passes there, each independent of the defects: a registration's validation, a plain 404 for an unknown
# route, X-Request-ID, 401 for a stream without a token.
PASSING = {"registration::test_invalid_body_is_400", "errors::test_unknown_route_is_404",
           "errors::test_answers_carry_the_request_id", "sse::test_needs_a_device_token"}


def start(server: BrokenServer, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "conformance", "--server", server.url,
                             "--mobile-url", server.url + "/api/mobile/v1",
                             "--thirdparty-url", server.url + "/3rdparty/v1",
                             "--private-token", PRIVATE_TOKEN, "--only", ONLY, "--push-wait", "1", "--fuzz-budget", "2",
                             "--json", str(tmp_path / f"{name}.json"), "--html", str(tmp_path / f"{name}.html"),
                             "--junit-xml", str(tmp_path / f"{name}.xml")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen[str], server: BrokenServer, tmp_path: Path,
           name: str) -> tuple[dict[str, Any], str, str]:
    """A run's JSON report and terminal output with the server's URL replaced, and its HTML report's path."""
    out, _ = process.communicate(timeout=300)
    report = tmp_path / f"{name}.json"
    assert report.exists() and process.returncode == 1, out[-3000:]
    text = report.read_text().replace(server.url, "http://broken")
    return json.loads(text), out.replace(server.url, "http://broken"), str(tmp_path / f"{name}.html")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[tuple[dict[str, Any], str, str], ...]]:
    """Two runs at once, each against a fresh broken server."""
    tmp_path = tmp_path_factory.mktemp("broken")
    with BrokenServer(sse_hold=60) as one, BrokenServer(sse_hold=60) as two:
        first, second = start(one, tmp_path, "first"), start(two, tmp_path, "second")
        results = finish(first, one, tmp_path, "first"), finish(second, two, tmp_path, "second")
    assert not (tmp_path / ".hypothesis").exists()  # the run leaves nothing in its working directory
    yield results


def checks(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for capability in document["capabilities"] for check in capability["checks"]]


def test_root_causes_first_and_dependents_blocked(runs: Any) -> None:
    (document, out, _), _ = runs
    every = checks(document)
    failed = {c["id"] for c in every if c["outcome"] == "failed"}
    assert failed == FAILURES, out[-4000:]
    assert {r["id"] for r in document["root_causes"]} == ROOT_CAUSES
    assert document["fix_first"][:2] == [r["id"] for r in document["root_causes"]]  # the most blocking first
    blocked = [c for c in every if c["outcome"] == "blocked"]
    assert len(blocked) > 40 and {c["blocked_by"] for c in blocked} == ROOT_CAUSES
    assert all(c["message"].startswith(f"blocked by {c['blocked_by']}: ") for c in blocked)
    assert {c["id"] for c in every if c["outcome"] == "passed"} == PASSING  # no dependent check passes
    verdicts = {c["name"]: c["verdict"] for c in document["capabilities"] if c["verdict"] != "Not selected"}
    assert verdicts["jwt"] == verdicts["otp"] == "Missing"
    assert verdicts["send"] == verdicts["webhooks"] == verdicts["cancel"] == verdicts["schema-mobile"] == "Blocked"
    assert document["new_failures"] is None  # no baseline: nothing is "new"
    # The terminal says it the same way: root causes first, with how many checks each blocks.
    fix_first = out[out.index("What to fix first"):]
    assert fix_first.index("registration::test_new_user (root cause: blocks") < fix_first.index("errors::")
    # Written to a pipe, not wrapped at 80 columns: the root cause's line is whole.
    assert any(len(line) > 150 and "registration::test_new_user (root cause" in line for line in out.splitlines())


def test_junit_lists_root_causes_first(runs: Any) -> None:
    (_, _, html), _ = runs
    root = ET.parse(html.replace(".html", ".xml")).getroot()
    first = root.find("testsuite/testcase")
    assert first is not None and first.get("name") == "test_new_user", ET.tostring(root)[:500]
    failure = first.find("failure")
    assert failure is not None and failure.get("type") == "failure; root cause"
    assert (failure.text or "").startswith("Cause: the login and password") and "Response:\n  HTTP 401" in failure.text
    blocked = root.findall(".//skipped[@type='blocked by registration::test_new_user']")
    assert len(blocked) > 30


def test_every_failure_shows_its_exchange_and_a_one_line_cause(runs: Any) -> None:
    (document, out, _), _ = runs
    for check in checks(document):
        if check["outcome"] != "failed":
            continue
        assert check["reproduce"].startswith("curl "), check
        assert "\n" not in check["message"] and "Error:" not in check["message"], check
        assert "Traceback" not in check["details"] and "ExceptionGroup" not in check["details"], check
        assert check["rerun"].endswith(f"--pytest-arg={check['id'].split('::')[1].split('[')[0]}"), check
        if check["id"] != "sse::test_stream_opens":  # that one never got an answer
            assert check["response"].startswith("HTTP "), check
    new_user = next(c for c in checks(document) if c["id"] == "registration::test_new_user")
    assert "(Basic)" in new_user["message"] and '"error": "unauthorized"' in new_user["response"]
    stream = next(c for c in checks(document) if c["id"] == "sse::test_stream_opens")
    assert "no response headers within 1 s" in stream["message"]
    assert "TooSlowError" not in out and "ExceptionGroup" not in out


def test_two_runs_give_identical_json(runs: Any) -> None:
    (first, _, _), (second, _, _) = runs
    assert comparable(first) == comparable(second)


@pytest.mark.parametrize("width", [1400, 420])
def test_html_report_in_a_browser(runs: Any, browser: Browser, width: int) -> None:  # noqa: F811
    (_, _, html), _ = runs
    browser.open(html, width=width)
    assert browser.overflow() == []
    from selenium.webdriver.common.by import By

    driver = browser.driver
    root = driver.find_element(By.CSS_SELECTOR, "ol details")  # what to fix first: the first root cause
    root.find_element(By.TAG_NAME, "summary").click()
    shown = root.text
    assert "Request" in shown and "curl -X GET http" in shown and "Response" in shown and "HTTP 401" in shown, shown
    assert "Rerun just this check" in shown and "Contract" in shown
    assert browser.overflow() == []  # an opened failure's bodies wrap too
    # The outcome filter: only blocked checks left visible.
    driver.find_element(By.CSS_SELECTOR, "label[for=f-blocked]").click()
    rows = driver.find_elements(By.CSS_SELECTOR, "main tr.check")
    visible = {row.get_attribute("class") for row in rows if row.is_displayed()}
    assert visible == {"check blocked"}, visible

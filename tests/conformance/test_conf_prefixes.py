"""The suite against the reference server with its two APIs at prefixes of their own (behind
tests/prefix_proxy.py: mobile at /mobile-gw/v1, 3rd-party at /gw/3rdparty/v1 on the proxy's port, /health on
the server itself): green with --mobile-url/--thirdparty-url; a wrong prefix is said once, with the prefixes
tried."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conf_reference import ROOT, single_target
from prefix_proxy import RunningProxy, running_proxy

pytestmark = pytest.mark.slow

ONLY = "registration,send,sse,health,schema-mobile,schema-3rdparty"
Run = tuple[dict[str, Any], str]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningProxy, Run, Run]]:
    """Two runs at once against one server behind the proxy: at the right prefixes, and at a wrong one."""
    tmp_path = tmp_path_factory.mktemp("prefixes")
    with single_target(tmp_path) as server, running_proxy(server.base_url) as proxy:
        def start(name: str, *options: str) -> subprocess.Popen[str]:
            return subprocess.Popen([sys.executable, "-m", "conformance", "--server", server.base_url, "--json",
                                     str(tmp_path / f"{name}.json"), *options], cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        green = start("green", "--mobile-url", proxy.mobile_url, "--thirdparty-url", proxy.thirdparty_url,
                      "--only", ONLY, "--fuzz-budget", "1")
        wrong = start("wrong", "--mobile-url", proxy.mobile_url, "--thirdparty-url",
                      proxy.base_url + "/3rdparty/v1", "--only", "health")
        outs = [process.communicate(timeout=300)[0] for process in (green, wrong)]
        documents = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("green", "wrong")]
        yield proxy, (documents[0], outs[0]), (documents[1], outs[1])


def test_green_behind_a_prefix_proxy(runs: tuple[RunningProxy, Run, Run]) -> None:
    proxy, (document, out), _ = runs
    verdicts = {c["name"]: c["verdict"] for c in document["capabilities"] if c["verdict"] != "Not selected"}
    failures = [f"{c['id']}: {c['message']}" for cap in document["capabilities"] for c in cap["checks"]
                if c["outcome"] in ("failed", "blocked")]
    assert not failures, "\n".join(failures)
    assert set(verdicts.values()) == {"Pass"}, verdicts
    assert document["exit_status"] == 0 and not document["notes"], out[-3000:]
    assert proxy.app.requests > 100  # the APIs really were reached through the proxy


def test_a_wrong_prefix_is_named_once(runs: tuple[RunningProxy, Run, Run]) -> None:
    proxy, _, (document, out) = runs
    notes = document["notes"]
    assert len(notes) == 1 and notes[0].startswith(f"every request to the 3rd-party API at {proxy.base_url}"
                                                   "/3rdparty/v1 answered 404"), notes
    assert "--thirdparty-url" in notes[0] and "Prefixes tried: /api/3rdparty/v1 -> 401" in notes[0], notes
    assert out.count("answered 404: is the prefix right?") == 1, out[-3000:]

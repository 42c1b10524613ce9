"""The app and openapi/smsgate.yaml describe the same API: every served route is documented with the same
methods, every documented operation is served, and the docs pages serve the document and their own assets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import yaml
from conftest import make_settings
from live_server import LiveServer

from openapi import SPEC_PATH, load_spec
from reference_server.app import create_app

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # HEAD and OPTIONS come with every GET route in Quart
SPEC_METHODS = ("get", "put", "post", "delete", "patch", "trace")
# Served but deliberately not separate entries in the document.
UNDOCUMENTED = {
    ("GET", "/api/"): "trailing-slash form of GET /api (upstream routes both)",
    ("GET", "/api/docs/"): "trailing-slash form of GET /api/docs",
    ("GET", "/api/docs/index.html"): "an instance of GET /api/docs/{asset} (the page itself)",
}


def _shape(path: str) -> str:
    """A path with its parameters unnamed: `<string:message_id>` and `{id}` both become `{}`."""
    return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", path))


def served_operations(tmp_path: Path) -> set[tuple[str, str]]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'routes.db'}", GATEWAY__MODE="public")
    app = create_app(settings)
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":  # Quart's own static-files route
            continue
        for method in (rule.methods or set()) - IGNORED_METHODS:
            operations.add((method, _shape(rule.rule)))
    return operations


def documented_operations() -> set[tuple[str, str]]:
    return {(method.upper(), _shape(path))
            for path, item in load_spec()["paths"].items() for method in SPEC_METHODS if method in item}


def test_every_served_route_is_documented(tmp_path: Path) -> None:
    served, documented = served_operations(tmp_path), documented_operations()
    undocumented = served - documented - set(UNDOCUMENTED)
    assert not undocumented, f"served but not in openapi/smsgate.yaml: {sorted(undocumented)}"
    assert set(UNDOCUMENTED) <= served, "the allow-list names routes that are no longer served"
    assert ("GET", "/api/docs/{}") in documented  # what makes index.html an instance


def test_every_documented_operation_is_served(tmp_path: Path) -> None:
    missing = documented_operations() - served_operations(tmp_path)
    assert not missing, f"in openapi/smsgate.yaml but not served: {sorted(missing)}"


def test_documented_paths_are_unique_by_shape() -> None:
    shapes = [_shape(path) for path in load_spec()["paths"]]
    assert len(shapes) == len(set(shapes))


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("docs")
    env = {"DATABASE__URL": f"sqlite:///{workdir / 'docs.db'}", "HTTP__OPENAPI__ENABLED": "true"}
    with LiveServer(workdir, env=env) as live:
        yield live


@pytest.mark.slow
def test_served_document_is_the_spec(docs_server: LiveServer) -> None:
    response = httpx.get(f"{docs_server.base_url}/api/docs/doc.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    # read the file afresh: load_spec() is cached for the whole test session, the server loads it on demand
    assert response.json() == yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    etag = response.headers["ETag"]
    again = httpx.get(f"{docs_server.base_url}/api/docs/doc.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.slow
def test_docs_page_loads_served_assets(docs_server: LiveServer) -> None:
    with httpx.Client(base_url=docs_server.base_url) as http:
        redirect = http.get("/api")
        assert redirect.status_code == 301 and redirect.headers["Location"].endswith("/api/docs")
        page = http.get("/api/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "SwaggerUIBundle" in html and "/api/docs/doc.json" in html
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        scripts = [a for a in assets if a.endswith(".js")]
        assert any("swagger-ui-bundle" in a for a in scripts)
        assert any(a.endswith(".css") for a in assets)
        for asset in assets:
            url = urljoin(f"{docs_server.base_url}/api/docs", asset)
            assert url.startswith(docs_server.base_url), f"the page loads {asset} from elsewhere"
            response = http.get(url)
            assert response.status_code == 200, asset
            assert response.content, asset
            if asset.endswith(".js"):
                assert "javascript" in response.headers["content-type"]
            elif asset.endswith(".css"):
                assert response.headers["content-type"].startswith("text/css")
        for same_page in ("/api/docs/", "/api/docs/index.html"):
            assert http.get(same_page).text == html
        for bad in ("/api/docs/no-such-file.js", "/api/docs/.hidden", "/api/docs/..%2Fsmsgate.yaml"):
            assert http.get(bad).status_code == 404, bad

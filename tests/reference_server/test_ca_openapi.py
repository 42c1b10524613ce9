"""openapi/ca.yaml: a valid OpenAPI 3.1 document that describes exactly the routes the CA serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ca_testing import ca_settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from reference_server.ca.authority import init_root
from reference_server.ca.server import STANDALONE_PREFIX, create_ca_app
from reference_server.ca.service import STATUS_MESSAGES
from reference_server.ca.validation import CSR_TYPES, MAX_CONTENT_CHARS

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "ca.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def test_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec, cls=OpenAPIV31SpecValidator)
    assert spec["openapi"].startswith("3.1")


def test_documents_exactly_the_served_routes(spec: dict[str, Any], tmp_path: Path) -> None:
    init_root(tmp_path / "ca", key_type="ec")
    app = create_ca_app(ca_settings(tmp_path), tmp_path / "ca")
    served = {(method, re.sub(r"<[^>]+>", "{}", rule.rule.removeprefix(STANDALONE_PREFIX)))
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("ca.")
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    documented = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
                  for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert served == documented == {("POST", "/csr"), ("GET", "/csr/{}")}
    assert spec["servers"][0]["url"].endswith(STANDALONE_PREFIX)


def test_constants_match_the_code(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["CsrType"]["enum"] == list(CSR_TYPES)
    assert schemas["PostCsrRequest"]["properties"]["content"]["maxLength"] == MAX_CONTENT_CHARS
    assert schemas["CsrStatus"]["properties"]["status"]["enum"] == list(STATUS_MESSAGES)
    assert schemas["CsrStatus"]["properties"]["message"]["enum"] == list(STATUS_MESSAGES.values())
    assert schemas["ErrorResponse"]["required"] == ["message"]

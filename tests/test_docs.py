"""The generated reference pages (configuration, CLI) match the code, and every configuration key is explained."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from reference_server.config import Settings, _leaves
from reference_server.config_docs import MEANINGS

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_configuration_key_has_a_meaning_and_no_meaning_is_orphaned() -> None:
    keys = {".".join(path) for path, _ in _leaves(Settings)}
    assert keys - MEANINGS.keys() == set(), "keys without a meaning in reference_server/config_docs.py"
    assert MEANINGS.keys() - keys == set(), "meanings of keys the settings model does not have"


def test_generated_pages_match_the_code() -> None:
    stale = _generator().stale_pages()
    assert stale == [], f"run `python docs/generate.py`: {stale} drifted from the code"


def test_a_new_option_makes_the_cli_page_stale() -> None:
    import argparse

    generator = _generator()
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--brand-new-option", help="appears on the page")
    page = generator.cli_page(lambda: [("x", parser)])
    assert "`--brand-new-option BRAND_NEW_OPTION`" in page and "appears on the page" in page
    assert page != generator.cli_page(lambda: [("x", argparse.ArgumentParser(prog="x"))])

"""MkDocs hook: publish the OpenAPI documents from openapi/ with the site, so pages can link and render them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

SPECS = Path(__file__).resolve().parent.parent / "openapi"


def on_files(files: Files, config: Any) -> Files:
    for spec in sorted(SPECS.glob("*.yaml")):
        files.append(File(f"openapi/{spec.name}", src_dir=str(SPECS.parent), dest_dir=config["site_dir"],
                          use_directory_urls=False))
    return files

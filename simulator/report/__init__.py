"""Load reports: the JSON document (`schema`), merging shards (`merge`), the HTML page (`html`)."""

from .html import render as render_html
from .merge import merge
from .schema import SCHEMA, VERSION, ReportError, read, validate, write

__all__ = ["SCHEMA", "VERSION", "ReportError", "merge", "read", "render_html", "validate", "write"]

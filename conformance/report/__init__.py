"""Part 3: the run's reports — console table, JUnit XML, JSON and one self-contained HTML page."""

from .console import Console, print_summary, progress_printer
from .html import write_html
from .jsondoc import write_json
from .junit import write_junit

__all__ = ["Console", "print_summary", "progress_printer", "write_html", "write_json", "write_junit"]

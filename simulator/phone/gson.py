"""JSON exactly as the app's Gson writes it: compact, null fields omitted, HTML-safe escaping.

Gson escapes `"`, `\\`, control characters (`\\n`, `\\t`, ... and `\\u00XX`), U+2028/U+2029 and, with its
default HTML escaping, `<`, `>`, `&`, `=` and `'` as `\\u003c` ... (lower-case hex). Everything else,
non-ASCII included, is written as is. Webhook signatures are computed over this exact text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_SHORT = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\f": "\\f"}
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(_SHORT)
_ESCAPES.update({c: f"\\u{ord(c):04x}" for c in "<>&='\u2028\u2029"})


def escape(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def dumps(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        items = ",".join(f"{escape(str(k))}:{dumps(v)}" for k, v in value.items() if v is not None)
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")

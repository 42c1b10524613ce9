"""The hint for an API that answered nothing but 404 (a wrong prefix), read from a report's `apis` section:
which prefixes were tried and which answered, and the option that sets the right one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# The prefixes a server may put each API under: upstream's, its legacy and gateway forms.
USUAL_PREFIXES = {
    "mobile": ("/api/mobile/v1", "/mobile/v1", "/api/v1/mobile", "/v1/mobile"),
    "3rd-party": ("/api/3rdparty/v1", "/3rdparty/v1", "/api/v1", "/v1"),
}
OPTIONS = {"mobile": "--mobile-url", "3rd-party": "--thirdparty-url"}


def hints(section: dict[str, dict[str, Any]]) -> dict[str, str]:
    """API name -> a line, for each API whose every request answered 404, with the prefixes tried."""
    lines = {}
    for name, api in section.items():
        requests, not_found = int(api.get("requests", 0)), int(api.get("not_found", 0))
        if not requests or not_found != requests:
            continue
        url = str(api["url"])
        tried = [url]
        answering = [str(u) for u in api.get("answering") or []]
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        tried += [origin + p for p in USUAL_PREFIXES.get(name, ()) if origin + p != url]
        line = (f"every request to the {name} API answered 404 ({requests} at {url}): a wrong prefix? "
                f"tried {', '.join(urlsplit(t).path for t in tried)}")
        if answering:
            line += f"; {', '.join(answering)} answers: give {OPTIONS.get(name, '--url')} {answering[0]}"
        else:
            line += f"; none answered: give the right one with {OPTIONS.get(name, '--url')}"
        lines[name] = line
    return lines

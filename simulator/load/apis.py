"""Which of the two APIs answered at all: a wrong prefix shows as nothing but 404s, and says so once.

Every request of the run (the phones' to the mobile API, the driver's and the check's to the 3rd-party
API) passes `ApiWatch.response` as an httpx event hook. When every request to one API answered 404, the
end of the run tries the other usual prefixes of that API on the same host and names the ones that
answer, so the report can say "give --thirdparty-url http://host/3rdparty/v1" instead of 60 bare 404s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ..report.apis import USUAL_PREFIXES

# the request (method, path below the prefix) whose answer other than 404 shows a route is there
PROBES = {"mobile": ("GET", "/device"), "3rd-party": ("GET", "/messages")}  # read-only, unauthenticated


@dataclass
class ApiCounts:
    name: str  # "mobile" or "3rd-party"
    url: str
    requests: int = 0
    not_found: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    answering: list[str] = field(default_factory=list)  # other prefixes that answered, when all were 404

    @property
    def all_not_found(self) -> bool:
        return self.requests > 0 and self.not_found == self.requests

    def section(self) -> dict[str, object]:
        return {"url": self.url, "requests": self.requests, "not_found": self.not_found,
                "statuses": dict(sorted(self.statuses.items())), "answering": list(self.answering)}


class ApiWatch:
    def __init__(self, mobile_url: str, thirdparty_url: str) -> None:
        self.apis = [ApiCounts("mobile", mobile_url.rstrip("/")), ApiCounts("3rd-party", thirdparty_url.rstrip("/"))]
        self.probing = False  # the probes of other prefixes are not the run's requests

    def _api(self, url: str) -> ApiCounts | None:
        # the longer base first: one API's prefix may sit below the other's
        for api in sorted(self.apis, key=lambda a: -len(a.url)):
            if url == api.url or url.startswith(api.url + "/"):
                return api
        return None

    async def response(self, response: httpx.Response) -> None:
        """httpx `response` event hook: count the answer under the API it belongs to."""
        api = None if self.probing else self._api(str(response.request.url.copy_with(query=None)))
        if api is not None:
            api.requests += 1
            api.not_found += response.status_code == 404
            key = str(response.status_code)
            api.statuses[key] = api.statuses.get(key, 0) + 1

    async def probe_alternatives(self, client: httpx.AsyncClient) -> None:
        """For an API whose every request answered 404: which usual prefixes on its host answer otherwise."""
        self.probing = True
        try:
            for api in self.apis:
                if api.all_not_found:
                    await self._probe(client, api)
        finally:
            self.probing = False

    async def _probe(self, client: httpx.AsyncClient, api: ApiCounts) -> None:
        parts = urlsplit(api.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        method, path = PROBES[api.name]
        for candidate in (origin + prefix for prefix in USUAL_PREFIXES[api.name]):
            if candidate == api.url:
                continue
            try:
                answer = await client.request(method, candidate + path, timeout=5)
            except httpx.HTTPError:
                continue
            if answer.status_code != 404:
                api.answering.append(candidate)

    def section(self) -> dict[str, dict[str, object]]:
        return {api.name: api.section() for api in self.apis}

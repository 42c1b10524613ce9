"""A deliberately broken SMSGate server, for the tests of the suite and the simulator (#27).

It is what a third-party server that implements part of the API looks like from outside, with these defects
on purpose (each a root cause the tools must name):

* the two APIs live under different prefixes: mobile under `/api/mobile/v1`, 3rd-party under `/3rdparty/v1`;
* private mode: registration needs `Bearer <private token>`; a Basic join is always refused (401);
* the password a registration returns never works (Basic on the 3rd-party API: 401); only the owner
  (`--owner LOGIN:PASSWORD`, who sees every device) gets in;
* `POST /messages` answers 201 (the contract says 202);
* errors are `{"error": ...}` (the contract says `{"message": ...}`);
* `GET /events` holds its response headers back `--sse-hold` seconds (default 30);
* missing routes: `PATCH /mobile/v1/device`, `DELETE /messages/{id}` (cancel) and the webhooks registry
  answer the framework's plain 404 (before any authentication, as a router does);
* features answering 404 on all their routes: JWT (`/3rdparty/v1/auth/token...`), one-time codes, the inbox;
* `GET /message` items lack the contract's required fields.

A tiny ASGI app (no framework), served by Hypercorn on trio::

    python tests/broken_server.py --port 3999 [--sse-hold 30] [--private-token T] [--owner LOGIN:PASSWORD]
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from simulator.tiny_asgi import read_body, serve_lifespan

MOBILE = "/api/mobile/v1"
THIRDPARTY = "/3rdparty/v1"
PRIVATE_TOKEN = "broken-private-token"
OWNER = ("owner", "owner-password")


@dataclass
class State:
    private_token: str = PRIVATE_TOKEN
    owner: tuple[str, str] = OWNER
    sse_hold: float = 30.0
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> device
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> message
    counter: int = 0  # ids, tokens and passwords are numbered: two fresh instances answer alike

    def next(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.counter:06d}"


Reply = tuple[int, dict[str, str], bytes]


def as_json(status: int, document: Any) -> Reply:
    return status, {"content-type": "application/json"}, json.dumps(document).encode()


def error(status: int, text: str) -> Reply:
    return as_json(status, {"error": text})  # defect: the contract's shape is {"message": ...}


NOT_FOUND: Reply = (404, {"content-type": "text/plain"}, b"Not Found")  # what a framework answers
MOBILE_ROUTES = {("POST", "/device"), ("GET", "/device"), ("GET", "/message"), ("PATCH", "/message"),
                 ("GET", "/settings"), ("GET", "/webhooks")}
THIRDPARTY_ROUTES = {("GET", "/devices"), ("POST", "/messages"), ("GET", "/messages"), ("GET", "/messages/{id}")}


def route(method: str, path: str) -> tuple[str, str]:
    """The route a request matches: /messages/<anything> is /messages/{id}."""
    head, _, rest = path.removeprefix("/").partition("/")
    return method, f"/{head}/{{id}}" if head == "messages" and rest else path


def authorization(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    return login, password


def mobile(state: State, method: str, path: str, auth: str, body: Any) -> Reply:
    if route(method, path) not in MOBILE_ROUTES:
        return NOT_FOUND
    if (method, path) == ("POST", "/device"):
        if auth != f"Bearer {state.private_token}":  # Basic joins included: always refused
            return error(401, "unauthorized")
        if not isinstance(body, dict) or len(str(body.get("name", ""))) > 128:
            return error(400, "invalid body")
        device = {"id": state.next("device"), "name": str(body.get("name", "")), "token": state.next("token"),
                  "login": state.next("user")}
        state.devices[device["token"]] = device
        # defect: this password is stored nowhere, so it never works
        return as_json(201, {**device, "password": state.next("password")})
    device = state.devices.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
    if device is None:
        return error(401, "unauthorized")
    if (method, path) == ("GET", "/device"):
        return as_json(200, {"device": {"id": device["id"], "name": device["name"]}, "externalIp": "127.0.0.1"})
    if (method, path) == ("GET", "/message"):
        pending = [m for m in state.messages.values() if m["deviceId"] == device["id"] and m["state"] == "Pending"]
        return as_json(200, [{"id": m["id"], "text": m["text"]} for m in pending])  # defect: fields missing
    if (method, path) == ("PATCH", "/message") and isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and item.get("id") in state.messages:
                state.messages[item["id"]]["state"] = str(item.get("state", "Pending"))
        return 204, {}, b""
    if (method, path) in (("GET", "/settings"), ("GET", "/webhooks")):
        return as_json(200, {} if path == "/settings" else [])
    return NOT_FOUND


def thirdparty(state: State, method: str, path: str, auth: str, body: Any) -> Reply:
    if route(method, path) not in THIRDPARTY_ROUTES:
        return NOT_FOUND
    if basic(auth) != state.owner:  # defect: registered users' passwords never match
        return error(401, "unauthorized")
    if (method, path) == ("GET", "/devices"):
        return as_json(200, [{"id": d["id"], "name": d["name"]} for d in state.devices.values()])
    if (method, path) == ("POST", "/messages"):
        if not isinstance(body, dict) or not isinstance(body.get("phoneNumbers"), list):
            return error(400, "invalid message")
        device_id = body.get("deviceId") or next((d["id"] for d in state.devices.values()), "")
        message = {"id": str(body.get("id") or state.next("message")), "deviceId": device_id, "state": "Pending",
                   "text": str((body.get("textMessage") or {}).get("text", "")),
                   "recipients": [{"phoneNumber": n, "state": "Pending"} for n in body["phoneNumbers"]]}
        state.messages[message["id"]] = message
        return as_json(201, message)  # defect: 201, not 202
    if method == "GET" and path.startswith("/messages/"):
        found = state.messages.get(path.removeprefix("/messages/"))
        return as_json(200, found) if found else error(404, "message not found")
    if (method, path) == ("GET", "/messages"):
        return as_json(200, list(state.messages.values()))
    return NOT_FOUND


def health() -> Reply:
    return as_json(200, {"status": "pass", "version": "broken", "releaseId": 1, "checks": {}})


def app_for(state: State) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        raw = await read_body(receive)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        method, path, auth = scope["method"], scope["path"], authorization(scope)
        if path.startswith(MOBILE + "/events") and method == "GET":
            await events(state, auth, send)
            return
        if path.startswith(MOBILE + "/"):
            reply = mobile(state, method, path.removeprefix(MOBILE), auth, body)
        elif path.startswith(THIRDPARTY + "/"):
            reply = thirdparty(state, method, path.removeprefix(THIRDPARTY), auth, body)
        elif path == "/health":
            reply = health()
        else:
            reply = NOT_FOUND
        status, headers, content = reply
        request_id = dict(scope["headers"]).get(b"x-request-id") or state.next("request").encode()
        headers = {**headers, "x-request-id": request_id.decode("latin-1")}  # as upstream (not a defect here)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": content})

    return app


async def events(state: State, auth: str, send: Any) -> None:
    if state.devices.get(auth.removeprefix("Bearer ")) is None:
        status, headers, content = error(401, "unauthorized")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": content})
        return
    await trio.sleep(state.sse_hold)  # defect: no headers until the first event would be written
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    while True:
        await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
        await trio.sleep(15)


class BrokenServer:
    """The broken server as a process on a free loopback port (`with BrokenServer(sse_hold=5) as server:`)."""

    def __init__(self, sse_hold: float = 30.0, private_token: str = PRIVATE_TOKEN) -> None:
        self.sse_hold = sse_hold
        self.private_token = private_token
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BrokenServer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process = subprocess.Popen([sys.executable, __file__, "--port", str(self.port), "--sse-hold",
                                         str(self.sse_hold), "--private-token", self.private_token])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the broken server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def main(argv: list[str] | None = None) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=3999)
    parser.add_argument("--sse-hold", type=float, default=30.0, help="seconds before GET /events answers")
    parser.add_argument("--private-token", default=PRIVATE_TOKEN)
    parser.add_argument("--owner", default=":".join(OWNER), help="LOGIN:PASSWORD of the one user whose Basic works")
    args = parser.parse_args(argv)
    login, _, password = args.owner.partition(":")
    state = State(private_token=args.private_token, owner=(login, password), sse_hold=args.sse_hold)
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.graceful_timeout = 0.5
    trio.run(serve, app_for(state), config)


if __name__ == "__main__":
    main()

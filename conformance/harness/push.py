"""The suite's side of push delivery, serving for the whole run in a thread of its own.

* FCM: an FCM-v1-compatible endpoint (the simulator's `FcmEndpoint`) holding the key of the service
  account in `--fcm-credentials`, listening where that account's `token_uri` points. The target's FCM
  client, configured with the same file, sends its data messages here; they reach the phone owning the token.
* Relay: `POST .../push` at `--relay-listen`, where a private target relays its pushes
  (`gateway.upstream_url`); each item reaches the phone owning its token.

Phones live in the scenarios' own Trio runs: a push is handed over with that run's `TrioToken`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from simulator.phone import FcmEndpoint

if TYPE_CHECKING:
    from simulator.phone import Phone


def make_credentials(endpoint: str, project_id: str = "smsgate-conformance") -> dict[str, str]:
    """A service account whose token endpoint is `endpoint` (the suite's FCM endpoint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    base = endpoint.rstrip("/")
    return {"type": "service_account", "project_id": project_id, "private_key_id": "conformance",
            "private_key": pem, "client_email": f"conformance@{project_id}.iam.gserviceaccount.com",
            "client_id": "100000000000000000001", "token_uri": f"{base}/token", "auth_uri": f"{base}/auth",
            "universe_domain": "googleapis.com"}


class KeyedFcmEndpoint(FcmEndpoint):
    """`FcmEndpoint` trusting the key of a given service account instead of one of its own."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        super().__init__(project_id=str(credentials["project_id"]))
        key = serialization.load_pem_private_key(str(credentials["private_key"]).encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey), "the service account's key must be RSA"
        self._key = key
        self._key_id = str(credentials.get("private_key_id", "conformance"))


class _Handoff:
    """Stands in for a phone inside the hub thread: hands a push to the phone's own Trio run."""

    def __init__(self, phone: Phone, token: trio.lowlevel.TrioToken) -> None:
        self.phone = phone
        self.token = token

    def push(self, data: dict[str, str]) -> bool:
        try:
            self.token.run_sync_soon(self.phone.push, data)
            return True
        except trio.RunFinishedError:
            return False


class PushHub:
    def __init__(self, credentials: dict[str, Any] | None, relay_listen: str | None) -> None:
        self.fcm = KeyedFcmEndpoint(credentials) if credentials else None
        self._fcm_address = urlsplit(str(credentials["token_uri"])) if credentials else None
        self.relay_listen = relay_listen
        self.relay_batches: list[list[dict[str, Any]]] = []
        self._phones: dict[str, _Handoff] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None

    # ---- what a phone sees as its `fcm` ----
    def attach(self, token: str, phone: Phone) -> None:
        handoff = _Handoff(phone, trio.lowlevel.current_trio_token())
        self._phones[token] = handoff
        if self.fcm is not None:
            self.fcm.attach(token, cast("Phone", handoff))

    def detach(self, token: str) -> None:
        self._phones.pop(token, None)
        if self.fcm is not None:
            self.fcm.detach(token)

    def fcm_events(self, token: str) -> list[str]:
        messages = list(self.fcm.messages) if self.fcm is not None else []
        return [str(m.get("data", {}).get("event")) for m in messages if m.get("token") == token]

    def relayed(self, token: str) -> list[dict[str, Any]]:
        return [item for batch in list(self.relay_batches) for item in batch if item.get("token") == token]

    # ---- the thread ----
    def start(self, timeout: float = 15.0) -> PushHub:
        self._thread = threading.Thread(target=trio.run, args=(self._main,), name="conformance-push", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"the push hub did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._token is not None and self._cancel is not None:
            try:
                self._token.run_sync_soon(self._cancel.cancel)
            except trio.RunFinishedError:
                pass
        if self._thread is not None:
            self._thread.join(10)

    async def _main(self) -> None:
        try:
            with trio.CancelScope() as scope:
                self._cancel, self._token = scope, trio.lowlevel.current_trio_token()
                async with trio.open_nursery() as nursery:
                    if self.fcm is not None and self._fcm_address is not None:
                        host, port = self._fcm_address.hostname or "127.0.0.1", self._fcm_address.port or 80
                        await nursery.start(partial(self.fcm.serve, host, port))
                    if self.relay_listen:
                        await nursery.start(self._serve_relay)
                    self._ready.set()
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()

    async def _serve_relay(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        config = HypercornConfig()
        config.bind = [str(self.relay_listen)]
        config.accesslog = None
        config.graceful_timeout = 1
        await hypercorn_serve(self._relay_app, config, mode="asgi", task_status=task_status)  # type: ignore

    async def _relay_app(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                         send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            event = await receive()
            raw += event.get("body", b"")
            if not event.get("more_body"):
                break
        status, answer = 404, b'{"message":"Not Found"}'
        if scope["method"] == "POST" and scope["path"].endswith("/push"):
            status, answer = self._relay(raw)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})

    def _relay(self, raw: bytes) -> tuple[int, bytes]:
        try:
            items = json.loads(raw)
            assert isinstance(items, list) and items and all(isinstance(i, dict) and i.get("token") for i in items)
        except (ValueError, AssertionError):
            return 400, b'{"message":"Empty request"}'
        self.relay_batches.append(items)
        for item in items:
            handoff = self._phones.get(str(item["token"]))
            if handoff is not None:
                data = item.get("data")
                handoff.push({"event": str(item.get("event") or "MessageEnqueued"),
                              "data": json.dumps(data) if data is not None else "null"})
        return 202, b"{}"

"""An FCM-v1-compatible HTTP endpoint that a server's firebase-admin can be pointed at.

* `POST /token`: the OAuth token endpoint of `service_account_json()` (`token_uri`); checks the
  JWT-bearer assertion's RS256 signature against the key it made, answers an access token.
* `POST /v1/projects/{project}/messages:send`: needs one of those tokens (401 UNAUTHENTICATED),
  the endpoint's project (403 PERMISSION_DENIED), a valid message (400 INVALID_ARGUMENT); a token no
  phone owns gets FCM's 404 `UNREGISTERED` error document; otherwise `{"name": "projects/p/messages/…"}`
  and the message's `data` map (`{"event", "data"}`) is handed to the phone that owns the token.

Point a server at it: `fcm.credentials_json` = `service_account_json()`, `fcm.endpoint` = `base_url`.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import trio
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..tiny_asgi import read_body, serve_lifespan
from .ids import nanoid

if TYPE_CHECKING:
    from .phone import Phone

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_error(code: int, status: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if error_code:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": error_code}]
    return {"error": error}


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FcmEndpoint:
    def __init__(self, project_id: str = "smsgate-sim") -> None:
        self.project_id = project_id
        self.base_url = ""
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = nanoid(16)
        self._phones: dict[str, Phone] = {}
        self._access_tokens: set[str] = set()
        self._ids = itertools.count(1)
        self.messages: deque[dict[str, Any]] = deque(maxlen=1000)  # recently accepted `message` objects
        self.accepted = 0
        self.unregistered = 0

    # ---- who owns which token ----
    def attach(self, token: str, phone: Phone) -> None:
        self._phones[token] = phone

    def detach(self, token: str) -> None:
        self._phones.pop(token, None)

    def service_account_json(self) -> str:
        """A service account whose `token_uri` is this endpoint: call it once `serve()` has started."""
        if not self.base_url:
            raise RuntimeError("the FCM endpoint is not serving yet: its token_uri is unknown")
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        return json.dumps({
            "type": "service_account", "project_id": self.project_id, "private_key_id": self._key_id,
            "private_key": pem, "client_email": f"smsgate-sim@{self.project_id}.iam.gserviceaccount.com",
            "client_id": "100000000000000000000", "token_uri": f"{self.base_url}/token",
            "auth_uri": f"{self.base_url}/auth", "universe_domain": "googleapis.com",
        })

    async def serve(self, host: str = "127.0.0.1", port: int = 0, *,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        config = HypercornConfig()
        config.bind = [f"{host}:{port}"]
        config.accesslog = None
        config.errorlog = log
        config.graceful_timeout = 1
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(hypercorn_serve, self._asgi, config, mode="asgi"))  # type: ignore
            bound = int(str(binds[0]).rsplit(":", 1)[1])
            self.base_url = f"http://{host}:{bound}"
            task_status.started(bound)

    # ---- HTTP ----
    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, document = self.handle(scope["method"], scope["path"], headers, body)
        data = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json; charset=UTF-8"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/token":
            return self._token(body)
        parts = path.split("/")  # ['', 'v1', 'projects', p, 'messages:send']
        if method != "POST" or len(parts) != 5 or parts[1:3] != ["v1", "projects"] or parts[4] != "messages:send":
            return 404, fcm_error(404, "NOT_FOUND", f"Requested URL {path} was not found.")
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or authorization[7:] not in self._access_tokens:
            return 401, fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                                  "Expected OAuth 2 access token, login cookie or other valid authentication "
                                  "credential.")
        if parts[3] != self.project_id:
            return 403, fcm_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied "
                                  f"on resource '//cloudresourcemanager.googleapis.com/projects/{parts[3]}'")
        try:
            request = json.loads(body)
            message = request["message"]
            problem = self._invalid(message)
        except (ValueError, KeyError, TypeError):
            problem = "Invalid JSON payload received."
        if problem:
            return 400, fcm_error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        token = message.get("token")
        phone = self._phones.get(token) if isinstance(token, str) else None
        if phone is None:
            self.unregistered += 1
            return 404, fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        name = f"projects/{self.project_id}/messages/0:{next(self._ids)}%{self._key_id[:8]}"
        if not request.get("validate_only"):
            self.accepted += 1
            self.messages.append(message)
            phone.push(dict(message.get("data") or {}))
        return 200, {"name": name}

    @staticmethod
    def _invalid(message: Any) -> str | None:
        if not isinstance(message, dict):
            return "Invalid value at 'message'"
        targets = [key for key in ("token", "topic", "condition") if message.get(key)]
        if len(targets) != 1:
            return "Exactly one of token, topic or condition must be specified."
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return "Invalid value at 'message.data': values must be strings"
        return None

    def _token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        try:
            header, payload, signature = form["assertion"].split(".")
            self._key.public_key().verify(_b64url(signature), f"{header}.{payload}".encode(),
                                          padding.PKCS1v15(), hashes.SHA256())
        except (KeyError, ValueError, InvalidSignature):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        token = "ya29.sim-" + nanoid(48)
        self._access_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

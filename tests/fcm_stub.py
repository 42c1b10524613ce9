"""A local FCM-v1-compatible endpoint for tests: an OAuth token endpoint and `messages:send`.

It runs in a thread (firebase-admin and server processes reach it over loopback), records every
message it accepts, and answers like FCM: `{"name": ...}` on success, FCM's 404 `UNREGISTERED`
error document for tokens listed in `unregistered`. `service_account()` makes a throw-away
service-account JSON (fresh RSA key) whose `token_uri` points here, so nothing reaches Google.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT = "demo-proj"


@cache
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def unregistered_error() -> dict[str, Any]:
    return {"error": {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}],
    }}


class FcmStub:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []  # the accepted `message` objects
        self.refused: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.authorizations: list[str] = []
        self.token_requests = 0
        self.unregistered: set[str] = set()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def service_account(self, project: str = PROJECT) -> dict[str, Any]:
        return {
            "type": "service_account", "project_id": project, "private_key_id": "stub-key",
            "private_key": _private_key_pem(), "client_email": f"stub@{project}.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": f"{self.base_url}/token",
        }

    def wait_for_messages(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"FCM stub got {len(self.messages)} message(s), expected {count}")

    def __enter__(self) -> FcmStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    with stub.lock:
                        stub.token_requests += 1
                    return self._answer(200, {"access_token": "stub-access-token", "expires_in": 3600,
                                              "token_type": "Bearer"})
                parts = self.path.split("/")  # /v1/projects/{p}/messages:send
                if len(parts) != 5 or parts[1:3] != ["v1", "projects"] or parts[4] != "messages:send":
                    return self._answer(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no route"}})
                message = json.loads(body)["message"]
                with stub.lock:
                    stub.paths.append(self.path)
                    stub.authorizations.append(self.headers.get("Authorization", ""))
                    if message.get("token") in stub.unregistered:
                        stub.refused.append(message)
                        return self._answer(404, unregistered_error())
                    stub.messages.append(message)
                    number = len(stub.messages)
                self._answer(200, {"name": f"projects/{parts[3]}/messages/0:{number}"})

            def _answer(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

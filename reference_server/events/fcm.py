"""FCM through firebase-admin (contract §4.4): one data-only message per item,
`{"event": <type>, "data": "<JSON string or null>"}`, Android priority high, addressed by token.

firebase-admin is synchronous: each chunk of at most `batch_size` messages goes to `send_each` in a
worker thread (which itself uses one thread per message). `fcm.endpoint` points the SDK at any
FCM-v1-compatible base URL (tests, the simulator, air-gapped setups): firebase-admin has no official
switch for that, so the messaging service's `_fcm_url` is replaced right after the app is created,
before its first use (the attribute is checked, so an SDK that drops it fails loudly, not silently).
The OAuth token endpoint comes from the service account's `token_uri`. With `fcm.endpoint` set,
google-auth's "regional access boundary" lookup (a background call to iamcredentials.googleapis.com
after each token refresh) is switched off as well, so that nothing but the configured hosts is contacted.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import firebase_admin
import trio
from firebase_admin import credentials, messaging

from .senders import PushFailed, PushItem, Results

log = logging.getLogger(__name__)

BATCH_SIZE = 100
FCM_PATH = "/v1/projects/{project}/messages:send"


def fcm_message(item: PushItem) -> messaging.Message:
    message = messaging.Message(data={"event": item.event.type, "data": item.event.data_json()},
                                android=messaging.AndroidConfig(priority="high"))
    # The phone's push token is an FCM registration token: FCM v1's `token` field. Set after
    # construction because the constructor warns that `token` is deprecated in favour of `fid`.
    message.token = item.token
    return message


class FcmSender:
    def __init__(self, credentials_json: str, *, endpoint: str = "", timeout: float = 1.0,
                 batch_size: int = BATCH_SIZE, concurrent_batches: int = 2) -> None:
        self.credentials_json = credentials_json
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.batch_size = max(1, min(batch_size, 500))  # send_each refuses more than 500
        self._limiter = trio.CapacityLimiter(concurrent_batches)
        self._app: firebase_admin.App | None = None
        self._app_lock = threading.Lock()

    async def send(self, items: Sequence[PushItem]) -> Results:
        results: Results = []
        for start in range(0, len(items), self.batch_size):
            chunk = list(items[start:start + self.batch_size])
            results += await trio.to_thread.run_sync(self._send_chunk, chunk, limiter=self._limiter)
        return results

    def _send_chunk(self, chunk: list[PushItem]) -> Results:
        try:
            app = self._firebase_app()
            batch = messaging.send_each([fcm_message(item) for item in chunk], app=app)
        except Exception as exc:  # bad credentials, SDK trouble: the whole chunk failed
            log.warning("FCM send of %d message(s) failed: %s: %s", len(chunk), exc.__class__.__name__, exc)
            return [PushFailed(f"FCM: {exc.__class__.__name__}: {exc}")] * len(chunk)
        results: Results = []
        for item, response in zip(chunk, batch.responses, strict=True):
            if response.exception is None:
                results.append(None)
                continue
            error = response.exception
            log.info("FCM refused %s for token …%s: %s (%s)", item.event.type, item.token[-6:],
                     error.__class__.__name__, getattr(error, "code", ""))
            results.append(error if isinstance(error, Exception) else PushFailed(str(error)))
        return results

    def _firebase_app(self) -> firebase_admin.App:
        with self._app_lock:
            return self._app or self._create_app()

    def _create_app(self) -> firebase_admin.App:
        info: dict[str, Any] = json.loads(self.credentials_json)
        project = info.get("project_id", "")
        options = {"projectId": project, "httpTimeout": self.timeout}
        app = firebase_admin.initialize_app(credentials.Certificate(info), options,
                                            name=f"smsgate-{secrets.token_hex(4)}")
        if self.endpoint:
            service = messaging._get_messaging_service(app)
            if not hasattr(service, "_fcm_url"):
                firebase_admin.delete_app(app)
                raise RuntimeError("this firebase-admin version cannot be pointed at fcm.endpoint")
            service._fcm_url = self.endpoint + FCM_PATH.format(project=project)
            _stay_offline(app)
        self._app = app
        return app

    async def aclose(self) -> None:
        if self._app is not None:
            app, self._app = self._app, None
            await trio.to_thread.run_sync(firebase_admin.delete_app, app)


def _stay_offline(app: firebase_admin.App) -> None:
    google_credential = app.credential.get_credential()
    if hasattr(google_credential, "_is_regional_access_boundary_lookup_required"):
        google_credential._is_regional_access_boundary_lookup_required = lambda: False

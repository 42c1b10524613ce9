"""The capabilities the suite judges, each a pytest marker value: `@pytest.mark.capability("send")`.

A capability's `needs` says what the target must offer for it to be tested at all; without it the
capability is skipped and reported Missing (and `--certify` fails).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    name: str
    title: str
    meaning: str
    needs: str = ""
    # An optional feature's routes ("mobile" or "thirdparty" API, method, path): when every one of them answers
    # 404 or 501 without credentials, the feature is absent and the capability is one Missing verdict.
    routes: tuple[tuple[str, str, str], ...] = ()


CAPABILITIES: tuple[Capability, ...] = (
    Capability("schema-3rdparty", "Schema: 3rd-party API",
               "schemathesis against openapi/smsgate.yaml for every 3rd-party (User) operation, authenticated, "
               "with every check: server errors, status codes, content types, headers, response schemas, "
               "negative and positive data, ignored auth, unsupported methods"),
    Capability("schema-mobile", "Schema: mobile API",
               "the same for the device (mobile) operations, authenticated with a device token"),
    Capability("schema-health", "Schema: health probes",
               "the same for /health, /health/live, /health/ready and /health/startup"),
    Capability("schema-stateful", "Schema: stateful links",
               "schemathesis' state machine over the links the spec declares (send -> get/cancel, "
               "webhook -> delete), with use-after-free and resource-availability checks"),
    Capability("registration", "Device registration",
               "POST /mobile/v1/device for a new user (anonymous on a public server, the private token on a "
               "private one) and with Basic credentials of an existing user; GET and PATCH /mobile/v1/device"),
    Capability("send", "Sending messages",
               "text and data messages: 202 with the stored state and a Location, phone-number normalisation, "
               "validation (400), duplicate ids (409), an unknown device (400)"),
    Capability("encryption", "Encrypted messages",
               "isEncrypted messages are stored and handed to the phone verbatim (no phone validation); a phone "
               "with the passphrase decrypts and sends them, one without fails them"),
    Capability("lifecycle", "State lifecycle",
               "what simulated phones report is what the API shows: Processed, Sent, Delivered, Failed with its "
               "error, per recipient, with the first time of each state; a reported Pending is stored as Processed"),
    Capability("cancel", "Cancelling",
               "DELETE of a Pending message answers 200 Cancelling, tells the phone, which reports Cancelled; "
               "404 for an unknown id, 409 when it is no longer pending"),
    Capability("listing", "Listing messages",
               "GET /messages: state, device and time filters, sort, limit/offset paging, X-Total-Count, "
               "includeContent, 400 for bad parameters"),
    Capability("devices", "Devices",
               "GET /devices shows each device with its SIM cards; DELETE removes it with its messages and "
               "webhooks and invalidates its token"),
    Capability("webhooks", "Webhook registry",
               "create (201, upsert by id), list, delete (204), https only, known events only, device-scoped "
               "registrations; the phone is told (WebhooksUpdated) and reads the new registry"),
    Capability("settings", "Settings",
               "PUT replaces and PATCH merges (two levels) a whitelisted document; unknown keys are dropped, "
               "secrets refused, invalid values 400; GET hides secrets; the phone is told (SettingsUpdated)"),
    Capability("jwt", "JWT tokens and scopes",
               "issue, use, refresh (rotation, replay refused), revoke; each route enforces its scope (403)",
               needs="JWT enabled on the target (jwt.secret); a 501 makes it Missing",
               routes=(("thirdparty", "POST", "/auth/token"), ("thirdparty", "POST", "/auth/token/refresh"),
                       ("thirdparty", "DELETE", "/auth/token/conformance-probe"))),
    Capability("sse", "Server-Sent Events",
               "GET /mobile/v1/events streams well-formed frames for each event of a device without a push "
               "token; a simulated SSE phone gets its messages through it"),
    Capability("fcm", "FCM push delivery",
               "a phone with a push token gets its events as FCM data messages from the target, never over SSE",
               needs="the target's FCM pointed at the suite (--fcm-credentials; see `smsgate-conformance "
                     "fcm-credentials`)"),
    Capability("relay", "Upstream push relay",
               "public mode: POST /upstream/v1/push reaches the phone through FCM; private mode: the target "
               "relays its pushes to {gateway.upstream_url}/push",
               needs="--fcm-credentials (public) and/or --relay-listen with the private target's upstream URL "
                     "pointed at it"),
    Capability("otp", "One-time codes",
               "GET /mobile/v1/user/code issues a code; POST /mobile/v1/device with `Code <otp>` joins the user; "
               "a code works once",
               needs="OTP enabled on the target; a 501 makes it Missing",
               routes=(("mobile", "GET", "/user/code"),)),
    Capability("password", "Password change",
               "PATCH /mobile/v1/user/password checks the current password and the new one's length; the old "
               "password stops working, device tokens keep working, issued JWTs are revoked"),
    Capability("private-mode", "Private mode",
               "registration needs the private token (401 without or with a wrong one); Basic still joins a "
               "user; the upstream relay route is not served",
               needs="a server in private mode: --private-server URL (or --server) with --private-token"),
    Capability("shared-state", "One deployment, several URLs",
               "state that guards accounts holds across the processes of one deployment: a one-time code from A "
               "works once on B; a password changed on A is refused on B at once (Basic and token minting); a "
               "revoked token and a deleted device are refused on both; failed logins are counted across both",
               needs="a second URL of the same deployment (--server A --server B)"),
    Capability("health", "Health",
               "/health, /health/live, /health/ready, /health/startup and their /3rdparty/v1 copies answer "
               "without credentials with a well-formed health document"),
    Capability("errors", "Error format",
               "API errors are JSON {\"message\": ...} with application/json; 401 without or with wrong "
               "credentials, 404 for unknown ids"),
    Capability("inbox", "Stored inbox",
               "upstream 1.48: POST /mobile/v1/inbox stores encrypted received messages (repeats ignored, empty "
               "or plain batches 400); GET /3rdparty/v1/inbox lists them newest first with filters, paging and "
               "X-Total-Count; attachments download as raw bytes",
               needs="a target with the stored inbox (upstream 1.48 or later); a 404 or 501 makes it Missing",
               routes=(("thirdparty", "GET", "/inbox"), ("mobile", "POST", "/inbox"))),
    Capability("device-keys", "Device keys",
               "upstream PR #258 (unreleased): publicKey/keyVersion given at registration and PATCH /mobile/v1/device "
               "are shown by GET /3rdparty/v1/devices and GET /mobile/v1/device (absent leaves them unchanged; "
               "keyVersion 0 is 400); encrypted recipients of up to 512 characters",
               needs="a target with device keys (upstream after 1.48); a target that drops them makes it Missing"),
    Capability("mms", "Outgoing MMS",
               "client-go 1.15: a message with mmsMessage is accepted (202), listed with includeContent and "
               "pulled by the phone with its parts; with another kind of content, or a part that is not base64, 400",
               needs="a target that sends MMS (no upstream release yet); a 400 for a valid MMS makes it Missing"),
    Capability("ca", "Certificate Authority",
               "POST /csr accepts a CSR for a private IP (202 pending), GET /csr/{id} returns the signed leaf; "
               "public IPs, mismatched names and garbage are refused (400); unknown ids 404",
               needs="--ca URL (the CA API base)"),
)

BY_NAME = {capability.name: capability for capability in CAPABILITIES}


def resolve(names: list[str]) -> list[str]:
    """Validates capability names (a trailing `*` matches a prefix: `schema-*`)."""
    chosen: list[str] = []
    for name in names:
        matches = [c.name for c in CAPABILITIES if c.name == name or (name.endswith("*")
                                                                         and c.name.startswith(name[:-1]))]
        if not matches:
            raise ValueError(f"unknown capability {name!r} (known: {', '.join(BY_NAME)})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen

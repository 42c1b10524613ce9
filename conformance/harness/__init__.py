"""What the scenarios use to judge a server from outside: its URLs and clients, accounts, simulated phones,
the suite's FCM endpoint and relay receiver, an SSE reader."""

from . import blocking
from .accounts import Account
from .phones import FAILING_RADIO, FAST_RADIO, SimPhone, eventually, running
from .push import PushHub, make_credentials
from .sse import SseEvent, SseParser, SseStream
from .suite import PHONE, SSE_WAIT, Suite, phone_number, shown_number
from .target import Client, Target, body, describe, expect

__all__ = ["Account", "blocking", "Client", "FAILING_RADIO", "FAST_RADIO", "PHONE", "PushHub", "SSE_WAIT", "SimPhone",
           "SseEvent", "SseParser", "SseStream", "Suite", "Target", "body", "describe", "eventually", "expect",
           "make_credentials", "phone_number", "running", "shown_number"]

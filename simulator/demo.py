"""The demo: the reference server on its embedded defaults, a few phones, traffic, and a summary.

The phones here are a minimal loop (pull, report Processed -> Sent -> Delivered over HTTP polling);
the full fleet simulator (SSE/FCM, radio model, webhooks) is its own piece of work.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import trio

MOBILE = "/api/mobile/v1"
THIRD_PARTY = "/api/3rdparty/v1"


@dataclass
class Stats:
    sent_at: dict[str, float] = field(default_factory=dict)
    delivered_at: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    rejected: int = 0
    server_counts: dict[str, int] = field(default_factory=dict)


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def phone(client: httpx.AsyncClient, token: str, stats: Stats, failure_rate: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    known: set[str] = set()
    while True:
        response = await client.get(f"{MOBILE}/message", headers=headers)
        for message in response.json():
            if message["id"] in known:
                continue
            known.add(message["id"])
            states: dict[str, str] = {"Processed": _stamp()}
            phones = message["phoneNumbers"]

            async def report(state: str, phones: list[str] = phones, states: dict[str, str] = states,
                             message_id: str = message["id"], error: str | None = None) -> None:
                states[state] = _stamp()
                recipients = [{"phoneNumber": p, "state": state, **({"error": error} if error else {})}
                              for p in phones]
                await client.patch(f"{MOBILE}/message", headers=headers, json=[
                    {"id": message_id, "state": state, "recipients": recipients, "states": states}])

            await report("Processed")
            await trio.sleep(random.uniform(0.05, 0.3))  # the radio
            if random.random() < failure_rate:
                await report("Failed", error="Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)")
                stats.failed.add(message["id"])
                continue
            await report("Sent")
            await trio.sleep(random.uniform(0.05, 0.5))  # the delivery report
            await report("Delivered")
            stats.delivered_at[message["id"]] = time.monotonic()
        await trio.sleep(0.5)


async def traffic(client: httpx.AsyncClient, auth: tuple[str, str], count: int, rate: float, stats: Stats) -> None:
    for _ in range(count):
        number = f"+7999{random.randint(0, 9_999_999):07d}"
        response = await client.post(f"{THIRD_PARTY}/messages", auth=auth,
                                     json={"textMessage": {"text": "Hello from the demo"}, "phoneNumbers": [number]})
        if response.status_code == 202:
            stats.sent_at[response.json()["id"]] = time.monotonic()
        else:
            stats.rejected += 1
        await trio.sleep(1 / rate)


async def run(base_url: str, phones: int, messages: int, rate: float, failure_rate: float) -> Stats:
    stats = Stats()
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        first = (await client.post(f"{MOBILE}/device", json={"name": "demo/phone-1"})).json()
        auth = (first["login"], first["password"])
        tokens = [first["token"]]
        for index in range(2, phones + 1):
            joined = await client.post(f"{MOBILE}/device", json={"name": f"demo/phone-{index}"}, auth=auth)
            tokens.append(joined.json()["token"])
        print(f"account {auth[0]} with {len(tokens)} phones; sending {messages} messages at {rate}/s")
        async with trio.open_nursery() as nursery:
            for token in tokens:
                nursery.start_soon(phone, client, token, stats, failure_rate)
            nursery.start_soon(traffic, client, auth, messages, rate, stats)
            deadline = trio.current_time() + messages / rate + 30
            while trio.current_time() < deadline:
                await trio.sleep(1)
                done = len(stats.delivered_at) + len(stats.failed)
                print(f"  accepted {len(stats.sent_at):4d}  delivered {len(stats.delivered_at):4d}  "
                      f"failed {len(stats.failed):3d}  in flight {len(stats.sent_at) - done:3d}", flush=True)
                if len(stats.sent_at) + stats.rejected == messages and done == len(stats.sent_at):
                    break
            nursery.cancel_scope.cancel()
        for state in ("Pending", "Processed", "Sent", "Delivered", "Failed"):
            listed = await client.get(f"{THIRD_PARTY}/messages", auth=auth, params={"state": state, "limit": 1})
            stats.server_counts[state] = int(listed.headers["X-Total-Count"])
    return stats


def summary(stats: Stats) -> None:
    latencies = sorted(stats.delivered_at[i] - stats.sent_at[i] for i in stats.delivered_at if i in stats.sent_at)
    print("\nsummary")
    print(f"  accepted (202)   {len(stats.sent_at)}")
    print(f"  rejected         {stats.rejected}")
    print(f"  delivered        {len(stats.delivered_at)}")
    print(f"  failed (radio)   {len(stats.failed)}")
    print(f"  stuck            {len(stats.sent_at) - len(stats.delivered_at) - len(stats.failed)}")
    print("  the server's view: " + ", ".join(f"{k} {v}" for k, v in stats.server_counts.items()))
    if latencies:
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"  send->Delivered  p50 {statistics.median(latencies):.2f}s  p95 {p95:.2f}s")


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit("the server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=3)
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10, help="messages per second")
    parser.add_argument("--failure-rate", type=float, default=0.05, help="share of sends the radio fails")
    parser.add_argument("--server", help="use this running server instead of starting one (base URL)")
    args = parser.parse_args()
    if args.server:
        summary(trio.run(run, args.server.rstrip("/"), args.phones, args.messages, args.rate, args.failure_rate))
        return
    with tempfile.TemporaryDirectory(prefix="smsgate-demo-") as workdir:
        # No config file, no SMSGate environment: the server's embedded defaults (SQLite, :3000).
        env = {k: v for k, v in os.environ.items() if "__" not in k and k != "CONFIG_PATH"}
        print(f"starting smsgate-server in {workdir} (SQLite ./smsgate.db, port 3000)")
        server = subprocess.Popen([sys.executable, "-m", "reference_server", "serve"], cwd=workdir, env=env)
        try:
            base_url = "http://127.0.0.1:3000"
            wait_ready(base_url, server)
            summary(trio.run(run, base_url, args.phones, args.messages, args.rate, args.failure_rate))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

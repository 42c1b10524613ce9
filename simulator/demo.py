"""The demo: the reference server on its embedded defaults, 50 simulated phones, steady traffic, live figures.

It starts `smsgate-server` in a temporary directory (SQLite ./smsgate.db, port 3000, public mode),
ramps up the phones (SSE, or FCM through the simulator's own FCM endpoint), sends messages through
the 3rd-party API, shows live figures, and ends with a summary: after --duration seconds, or at
Ctrl-C. While it runs, the server's URL and an account's credentials are printed for curl.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio
from rich.console import Console

from .load import LocalServer, RunConfig, RunHooks, run_load, summary_lines
from .load.fleet import Account
from .load.runner import find_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=50, help="simulated phones (default %(default)s)")
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second (default %(default)s)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of traffic before the summary (default %(default)s); Ctrl-C ends earlier")
    parser.add_argument("--push", choices=["sse", "fcm"], default="sse", help="how phones hear of messages")
    parser.add_argument("--failure-rate", type=float, default=0.05, help="share of sends the radio fails")
    parser.add_argument("--port", type=int, default=3000, help="the server's port (default %(default)s)")
    parser.add_argument("--server", help="use this running server (base URL) instead of starting one")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--html", type=Path, help="also write the HTML report here")
    parser.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                        help="live table (default: when stdout is a terminal)")
    return parser


def credentials(base_url: str) -> Any:
    def lines(accounts: list[Account]) -> list[str]:
        if not accounts:
            return ["no phone registered: see the server log"]
        account = accounts[0]
        auth = f"{account.login}:{account.password}"
        return [
            f"account 1 of {len(accounts)}: login {account.login}  password {account.password}  "
            f"({len(account.device_ids)} phones)",
            f"  curl -u '{auth}' '{base_url}/api/3rdparty/v1/messages?limit=3'",
            f"  curl -u '{auth}' -H 'Content-Type: application/json' {base_url}/api/3rdparty/v1/messages "
            """-d '{"textMessage": {"text": "Hello"}, "phoneNumbers": ["+79990001122"]}'""",
            "Ctrl-C ends the traffic early and prints the summary.",
        ]
    return lines


async def demo(args: argparse.Namespace, console: Console) -> None:
    fcm = None
    server: LocalServer | None = None
    async with trio.open_nursery() as nursery:
        if args.push == "fcm":
            from .phone import FcmEndpoint

            fcm = FcmEndpoint(project_id="smsgate-sim")
            await nursery.start(fcm.serve, "127.0.0.1", 0)
        try:
            if args.server:
                base_url = args.server.rstrip("/")
                header = [f"SMSGate demo against {base_url}"]
            else:
                env = {} if fcm is None else {"FCM__ENDPOINT": fcm.base_url,
                                              "FCM__CREDENTIALS_JSON": fcm.service_account_json()}
                server = LocalServer(port=args.port, env=env)
                server.start()
                console.print(f"started smsgate-server (pid {server.pid}) on its embedded defaults in "
                              f"{server.workdir} (SQLite ./smsgate.db, port {args.port}; log: {server.log_path})",
                              highlight=False, markup=False, soft_wrap=True)
                await server.wait_ready()
                base_url = server.base_url
                header = [f"SMSGate demo: reference server at {base_url}"
                          + (f", FCM endpoint at {fcm.base_url}" if fcm else "")]
            config = RunConfig(server=base_url, devices=args.phones, ramp=25.0, push=args.push, rate=args.rate,
                               duration=args.duration, grace=15.0, phones_per_account=10,
                               failure_rate=args.failure_rate, report=args.report, html=args.html, live=args.live)
            hooks = RunHooks(fcm=fcm, header=header, console=console, on_ready=credentials(base_url))
            report = await run_load(config, hooks)
            console.print("\n".join(summary_lines(report)), highlight=False, markup=False, soft_wrap=True)
        finally:
            if server is not None:
                code = server.stop()
                console.print(f"smsgate-server stopped (exit code {code})", highlight=False, markup=False,
                              soft_wrap=True)
                server.cleanup()
            nursery.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        trio.run(demo, args, console)
    except BaseException as exc:
        if find_error(exc, KeyboardInterrupt):
            console.print("aborted")
            return 130
        error = find_error(exc, RuntimeError)
        if error is None:
            raise
        console.print(f"demo failed: {error}", highlight=False, markup=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

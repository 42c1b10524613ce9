"""`smsgate-sim`: load runs of simulated phones against an SMSGate server, shard merges, the demo."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio
import yaml

from .load import RunConfig, RunHooks, Shard, run_load, summary_lines
from .load.runner import find_error
from .load.stages import Stages
from .report import ReportError, csvfiles, merge, read, render_html, write

ENV_PREFIX = "SMSGATE_SIM_"
EXIT_LOST = 3

DESCRIPTION = """Simulated SMS Gateway for Android phones against an SMSGate server.

run     ramp up a fleet of phones, send messages through the 3rd-party API at a steady rate, measure
        send -> Processed / Sent / Delivered per message, count anything lost or stuck, write reports
merge   combine the JSON reports of the shards of one fleet (run --shard K/N) into one
html    render the HTML page of a JSON report
demo    a reference server on its embedded defaults, 50 phones, steady traffic, live figures
bench   how fast the server and the simulator are, beside ceilings measured in the same run"""

RUN_EPILOG = f"""Every option can also come from the environment as {ENV_PREFIX}<OPTION> (e.g.
{ENV_PREFIX}SERVER, {ENV_PREFIX}PRIVATE_TOKEN, {ENV_PREFIX}DEVICES) or from a YAML/JSON file given
with --config whose keys are the option names (devices: 1000, private-token: ...). Precedence:
command line > environment > file > defaults.

--mobile-url and --thirdparty-url give the two APIs' base URLs when they are not SERVER/api/mobile/v1
and SERVER/api/3rdparty/v1 (with both, --server may be left out). When every request to one API answers
404, the verdict says so once, with the prefixes tried.

The phones are grouped into accounts of --phones-per-account: the first registers (anonymously, or
with --private-token), the others join with its login and password. Traffic starts when the ramp is
done, lasts --duration seconds at --rate messages per second (over all shards), then every message
has --grace seconds to reach a final state (Delivered, Failed). At the end each account's messages
are listed through the 3rd-party API to check that the server agrees.

A message accepted (202) that is not final after the grace period is LOST when no phone ever picked
it up (the server still shows Pending, or does not know it), STUCK when a phone did (it holds the message
as Pending, Processed or Sent). Messages younger than --grace at the check (after Ctrl-C) are unfinished.
Exit status: 0 when the verdict is green, {EXIT_LOST} when it is red: by default an API that answered
nothing but 404, a phone that failed to register or never came online, a send not accepted (any answer
but 202) or unanswered, a message lost or stuck, a state report for a message the run never sent each
make it red, and the summary gives the reasons root causes first. --threshold
(k6-style, repeatable) adds checks, and one on a default's metric replaces that default:
  --threshold 'send_errors<1%' --threshold 'send_to_sent.p99<1s' --threshold 'lost==0'
Metrics: send_errors, rejected, unanswered, lost, stuck, unknown_events, late, phones_failed,
phones_offline, inbound_lost (counts; with % a share), send_to_processed|send_to_sent|send_to_delivered|
receive_to_webhook .min/.mean/.p50/.p95/.p99/.max (ms, or with s).

Load shapes: --stages 30s:100,2m:100,30s:0 (phones online: the fleet is the peak, phones start and
stop to follow it, traffic runs along it and goes to accounts with a phone online) and
--rate-stages 30s:5,2m:20,30s:0 (messages per second); each replaces --duration (and --stages
--devices/--ramp). --model closed (default) holds sends back beyond --max-in-flight outstanding ones;
--model open sends every message on time, however slow the server is.

--inbound-rate R: the phones receive R SMS per second (over the fleet) and fire sms:received to a
webhook per account: the simulator's own HTTPS receiver (--webhook-listen), which measures receive ->
webhook latency and counts what never arrived, or --webhook-url (only the phones' side is counted).

With --push fcm the simulator serves an FCM-compatible endpoint (--fcm-listen) and prints the
FCM__ENDPOINT / FCM__CREDENTIALS_JSON the server must be started with.

--shard K/N runs phones K-1, K-1+N, ... and 1/N of the rate, so N processes (or machines) with the
same options and K = 1..N make one fleet; `smsgate-sim merge` then combines their reports.
--shard N alone takes K from JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job; deploy/k8s/)."""


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return (float(low), float(high or low))


def _thresholds(text: str) -> list[str]:
    """Several thresholds from one value (environment or file): separated by `;` or `,`."""
    return [item.strip() for item in re.split(r"[;,]", text) if item.strip()]


def _key_version(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 2**31 - 1:
        raise ValueError(f"a key version is 1 to 2147483647, not {value}")
    return value


def _bool(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


# option, type, default, help
RUN_OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("server", str, None, "the server's base URL, e.g. http://127.0.0.1:3000 (required unless both API URLs "
                          "below are given)"),
    ("mobile-url", str, None, "the mobile API's base URL (default: SERVER/api/mobile/v1)"),
    ("thirdparty-url", str, None, "the 3rd-party API's base URL (default: SERVER/api/3rdparty/v1)"),
    ("private-token", str, None, "gateway.private_token of a private-mode server"),
    ("devices", int, 10, "phones in the whole fleet (default %(default)s)"),
    ("ramp", float, 20.0, "phones started per second (default %(default)s)"),
    ("push", str, "sse", "how phones hear of new messages: sse or fcm (default %(default)s)"),
    ("rate", float, 5.0, "messages per second over the whole fleet (default %(default)s)"),
    ("duration", float, 30.0, "seconds of traffic after the ramp (default %(default)s)"),
    ("grace", float, 30.0, "seconds every message has to reach a final state (default %(default)s)"),
    ("phones-per-account", int, 10, "phones sharing one account (default %(default)s)"),
    ("client", str, "json", "json (plain HTTP) or official (the android-sms-gateway client) (default %(default)s)"),
    ("failure-rate", float, 0.0, "share of sends the simulated radio fails (default %(default)s)"),
    ("sent-latency", _pair, (0.1, 0.5), "radio seconds to Sent, LOW,HIGH (default 0.1,0.5)"),
    ("delivered-latency", _pair, (0.5, 2.0), "seconds from Sent to Delivered, LOW,HIGH (default 0.5,2.0)"),
    ("shard", Shard.parse, Shard(), "run shard K of N, e.g. 2/4 (default 1/1)"),
    ("fcm-listen", str, "127.0.0.1:0", "HOST:PORT of the FCM endpoint with --push fcm (default %(default)s)"),
    ("report", Path, None, "write the JSON report here"),
    ("html", Path, None, "write the HTML report here"),
    ("max-in-flight", int, 256, "concurrent sends before the driver falls behind (default %(default)s)"),
    ("seed", int, None, "random seed (radio, recipients)"),
    ("stages", Stages.parse, None, "phones online over time, DURATION:TARGET,... e.g. 30s:100,2m:100,30s:0"),
    ("rate-stages", Stages.parse, None, "messages per second over time, e.g. 30s:5,2m:20,30s:0"),
    ("model", str, "closed", "closed (at most --max-in-flight sends outstanding) or open (default %(default)s)"),
    ("csv", str, None, "write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv (Locust's)"),
    ("inbound-rate", float, 0.0, "SMS per second received by the fleet, firing sms:received (default none)"),
    ("webhook-url", str, None, "with --inbound-rate: the user's https webhook receiver instead of ours"),
    ("webhook-listen", str, "127.0.0.1:0", "HOST:PORT of the simulator's webhook receiver (default %(default)s)"),
    ("inbox-upload", str, None, "PASSPHRASE: phones upload the SMS they receive to POST /mobile/v1/inbox, "
                                "encrypted with it (the app's pending inbox upload; off by default)"),
    ("key-version", _key_version, None, "N: phones send a made-up public key with keyVersion N at registration and in "
                               "PATCH /device (the app's pending device keys; off by default)"),
]


def _file_values(path: str) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text())  # JSON is YAML too
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values")
    return {str(key).replace("_", "-"): value for key, value in data.items()}


def _convert(kind: Callable[[str], Any], value: Any, source: str) -> Any:
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    try:
        return kind(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _defaults(config_path: str | None, environ: dict[str, str]) -> dict[str, Any]:
    """Option values from the --config file, then SMSGATE_SIM_* variables (which win)."""
    known = {name: kind for name, kind, _, _ in RUN_OPTIONS} | {"live": _bool, "threshold": _thresholds}
    values: dict[str, Any] = {}
    if config_path:
        for name, value in _file_values(config_path).items():
            if name not in known:
                raise ValueError(f"{config_path}: unknown option {name!r}")
            values[name] = _convert(known[name], value, f"{config_path}: {name}")
    for name, kind in known.items():
        variable = ENV_PREFIX + name.upper().replace("-", "_")
        if environ.get(variable):
            values[name] = _convert(kind, environ[variable], variable)
    return {name.replace("-", "_"): value for name, value in values.items()}


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(prog="smsgate-sim", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="a load run against a server", description=RUN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--config", help="YAML or JSON file of option values")
    for name, kind, default, help_text in RUN_OPTIONS:
        choices = {"push": ["sse", "fcm"], "client": ["json", "official"], "model": ["closed", "open"]}.get(name)
        run.add_argument(f"--{name}", type=kind, default=default, help=help_text, choices=choices)
    run.add_argument("--threshold", action="append", default=None, metavar="EXPR",
                     help="a pass/fail check, e.g. 'send_to_sent.p99<1s' (repeatable; see above)")
    run.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                     help="redraw a live table (default: when stdout is a terminal; else a line every 5 s)")
    merge_cmd = commands.add_parser("merge", help="merge the JSON reports of a sharded run")
    merge_cmd.add_argument("reports", nargs="+", type=Path, help="JSON reports of the shards")
    merge_cmd.add_argument("--report", type=Path, required=True, help="write the merged JSON report here")
    merge_cmd.add_argument("--html", type=Path, help="write the merged HTML report here")
    merge_cmd.add_argument("--csv", help="write the merged Locust-style CSV files with this PREFIX")
    html_cmd = commands.add_parser("html", help="render the HTML page of a JSON report")
    html_cmd.add_argument("report", type=Path)
    html_cmd.add_argument("--html", type=Path, required=True, help="where to write the page")
    demo = commands.add_parser("demo", help="reference server + 50 phones + traffic (python -m simulator.demo)",
                               add_help=False)
    demo.add_argument("rest", nargs=argparse.REMAINDER)
    bench = commands.add_parser("bench", help="measure server and simulator (python -m simulator.bench)",
                                add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return parser, run


def _run_config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(server=args.server or "", devices=args.devices, ramp=args.ramp, push=args.push, rate=args.rate,
                     duration=args.duration, grace=args.grace, private_token=args.private_token,
                     phones_per_account=args.phones_per_account, client=args.client, failure_rate=args.failure_rate,
                     sent_latency=tuple(args.sent_latency), delivered_latency=tuple(args.delivered_latency),
                     shard=args.shard, fcm_listen=args.fcm_listen, report=args.report, html=args.html,
                     live=args.live, max_in_flight=args.max_in_flight, seed=args.seed,
                     thresholds=tuple(_flatten(args.threshold)), stages=args.stages, rate_stages=args.rate_stages,
                     model=args.model, csv=args.csv, inbound_rate=args.inbound_rate, webhook_url=args.webhook_url,
                     webhook_listen=args.webhook_listen, inbox_upload=args.inbox_upload, key_version=args.key_version,
                     mobile_api=args.mobile_url, thirdparty_api=args.thirdparty_url)


def _flatten(values: Any) -> list[str]:
    """--threshold given on the command line (a list of texts) or from a file or the environment (lists)."""
    if values is None:
        return []
    if isinstance(values, str):
        return _thresholds(values)
    return [text for value in values for text in _flatten(value)]


def exit_status(report: dict[str, Any]) -> int:
    return 0 if report["verdict"]["ok"] else EXIT_LOST


def cmd_run(config: RunConfig) -> int:
    try:
        report = trio.run(run_load, config, RunHooks())
    except BaseException as exc:
        if find_error(exc, KeyboardInterrupt):
            print("aborted", file=sys.stderr)
            return 130
        error = find_error(exc, RuntimeError)
        if error is None:
            raise
        print(f"smsgate-sim: {error}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(report)))
    for kind, path in (("JSON", config.report), ("HTML", config.html)):
        if path:
            print(f"  {kind} report     {path}")
    if config.csv:
        print(f"  CSV files        {config.csv}_stats.csv, _stats_history.csv, _failures.csv")
    return exit_status(report)


def cmd_merge(args: argparse.Namespace) -> int:
    merged = merge([read(path) for path in args.reports])
    write(merged, args.report)
    if args.html:
        args.html.write_text(render_html(merged), encoding="utf-8")
    if args.csv:
        csvfiles.write(merged, args.csv)
    print("\n".join(summary_lines(merged)))
    return exit_status(merged)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        from .demo import main as demo_main

        return demo_main(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser, run = _parser()
    if argv[:1] == ["run"]:
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config")
        known, _ = pre.parse_known_args(argv[1:])
        try:
            run.set_defaults(**_defaults(known.config, dict(os.environ)))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            parser.error(str(exc))
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if not args.server and not (args.mobile_url and args.thirdparty_url):
                run.error(f"--server is required (or {ENV_PREFIX}SERVER, or server: in --config), unless both "
                          "--mobile-url and --thirdparty-url are given")
            try:
                config = _run_config(args)
            except ValueError as exc:
                run.error(str(exc))
            return cmd_run(config)
        if args.command == "merge":
            return cmd_merge(args)
        report = read(args.report)
        args.html.write_text(render_html(report), encoding="utf-8")
        return 0
    except ReportError as exc:
        print(f"smsgate-sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`smsgate-conformance`: does a server honour the SMSGate contract, capability by capability?

    smsgate-conformance --server URL [options]          run the suite (exit 0: no unexpected failure)
    smsgate-conformance capabilities                    list the capabilities and what each needs
    smsgate-conformance fcm-credentials --endpoint URL  a service account for pointing a target's FCM at the suite
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from . import capabilities
from .settings import ENV_PREFIX, Settings, load

EPILOG = f"""Every option can also come from a TOML file (--config or {ENV_PREFIX}CONFIG; keys as the long
options) or from {ENV_PREFIX}<OPTION> variables (dashes as underscores): command line > environment > file.
Exit status: 0 no unexpected failure of a MUST (with --strict: nor of a SHOULD; with --certify: nothing
skipped); 1 otherwise; 2 bad usage."""


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smsgate-conformance", epilog=EPILOG,
                                description="Judge an SMSGate server from outside: schemathesis against the "
                                            "spec, scenarios with simulated phones, a verdict per capability.")
    target = p.add_argument_group("target")
    target.add_argument("--server", action="append", metavar="URL",
                        help="the server's root URL, e.g. http://127.0.0.1:3000; give it again for more URLs (other "
                             "processes) of the same deployment: the shared-state checks use them")
    target.add_argument("--api-path", help="where the API groups live under the root (default /api; '' for none)")
    target.add_argument("--mobile-url", metavar="URL",
                        help="the mobile (device) API's base URL when it is not {server}{api-path}/mobile/v1, "
                             "e.g. http://host/api/mobile/v1")
    target.add_argument("--thirdparty-url", metavar="URL",
                        help="the 3rd-party (integration) API's base URL when it is not "
                             "{server}{api-path}/3rdparty/v1, e.g. http://host/3rdparty/v1")
    target.add_argument("--login", help="an existing user: phones join it instead of creating users")
    target.add_argument("--password", help="that user's password")
    target.add_argument("--private-token", help="gateway.private_token of a private-mode target")
    target.add_argument("--private-server", metavar="URL", help="a second instance in private mode (with "
                                                                "--private-token) for the private-mode checks")
    target.add_argument("--ca", metavar="URL", help="the CA API base, e.g. http://127.0.0.1:3000/api/ca/v1")
    target.add_argument("--fcm-credentials", metavar="FILE", help="the service-account JSON the target's FCM uses "
                                                                  "(see `smsgate-conformance fcm-credentials`)")
    target.add_argument("--relay-listen", metavar="HOST:PORT", help="receive a private target's upstream pushes "
                                                                    "here (its gateway.upstream_url)")
    scope = p.add_argument_group("what to run")
    scope.add_argument("--capabilities", "--only", dest="capabilities", action="append", metavar="LIST",
                       help="only these capabilities (comma-separated; `schema-*` patterns)")
    scope.add_argument("--skip", action="append", metavar="LIST", help="leave these capabilities out")
    scope.add_argument("--thorough", action="store_true", default=None, help="schemathesis at full size")
    scope.add_argument("--fuzz-budget", "--examples", dest="examples", type=int, metavar="N",
                       help="schemathesis cases per operation (default 8; thorough 100)")
    scope.add_argument("--seed", type=int, help="the generation seed (fixed by default: the same cases in the same "
                                                "order every run; shown in every report)")
    scope.add_argument("--max-rps", type=float, metavar="N",
                       help="pace the whole run at N requests a second; 429s are always waited out (Retry-After, "
                            "bounded) and retried")
    scope.add_argument("--push-wait", type=float, help="seconds an event may take to reach a phone (default 30)")
    scope.add_argument("--request-timeout", type=float)
    out = p.add_argument_group("verdicts and reports")
    out.add_argument("--certify", action="store_true", default=None, help="fail on any skip (no capability left out)")
    out.add_argument("--strict", action="store_true", default=None, help="a SHOULD missed fails the run too")
    out.add_argument("--baseline", metavar="FILE", help="expected failures: fail on new ones, report fixed ones")
    out.add_argument("--write-baseline", metavar="FILE", help="write this run's failures as a baseline")
    out.add_argument("--junit-xml", metavar="FILE")
    out.add_argument("--html", metavar="FILE")
    out.add_argument("--json", metavar="FILE")
    out.add_argument("--verbose", action="store_true", default=None, help="pytest's own output too")
    out.add_argument("--pytest-arg", dest="pytest_args", action="append", metavar="ARG",
                     help="pass ARG to pytest (repeatable), e.g. --pytest-arg=-k --pytest-arg=cancel")
    p.add_argument("--config", metavar="FILE", help="a TOML file with any of these options")
    return p


def _split(values: list[str] | None) -> list[str] | None:
    return [item.strip() for value in values for item in value.split(",") if item.strip()] if values else None


def main_run(argv: list[str]) -> int:
    args = vars(run_parser().parse_args(argv))
    args["capabilities"], args["skip"] = _split(args["capabilities"]), _split(args["skip"])
    servers = args.pop("server") or []
    args["server"] = servers[0] if servers else None
    args["also"] = servers[1:] or None
    console = Console(stderr=False, highlight=False)
    if not console.is_terminal:  # written to a file or a CI log: no wrapping at 80 columns
        console = Console(stderr=False, highlight=False, width=200)
    try:
        settings = load(args)
        validate(settings)
    except (ValueError, OSError) as exc:
        console.print(f"[red]smsgate-conformance:[/] {exc}")
        return 2
    # Imported here: `--help`, usage errors and `capabilities` need neither pytest nor the harness.
    from .report import print_summary, progress_printer, write_html, write_json, write_junit
    from .results import RunResult
    from .runner import run
    from .settings import shown_options

    console.print(RunResult(settings.server, [], seed=settings.seed, options=shown_options(settings)).header,
                  highlight=False, markup=False, soft_wrap=True)
    result = run(settings, progress_printer(console))
    print_summary(result, console)
    for path, writer in ((settings.junit_xml, write_junit), (settings.json, write_json), (settings.html, write_html)):
        if path:
            writer(result, path)
    return result.exit_status


def validate(settings: Settings) -> None:
    if not settings.server:
        raise ValueError("--server is required (or server = ... in the config file, or "
                         f"{ENV_PREFIX}SERVER)")
    if bool(settings.login) != bool(settings.password):
        raise ValueError("--login and --password go together")
    if settings.private_server and not settings.private_token:
        raise ValueError("--private-server needs --private-token")
    capabilities.resolve(settings.capabilities + settings.skip)


def main_capabilities() -> int:
    console = Console(highlight=False)
    for capability in capabilities.CAPABILITIES:
        console.print(f"[bold cyan]{capability.name}[/] — {capability.title}")
        console.print(f"  {capability.meaning}", markup=False)
        if capability.needs:
            console.print(f"  needs: {capability.needs}", markup=False)
    return 0


def main_credentials(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="smsgate-conformance fcm-credentials",
                                description="Write a service account whose token endpoint is the suite's FCM "
                                            "endpoint. Give the same file to the target (its FCM credentials, "
                                            "with its FCM endpoint set to URL) and to the suite (--fcm-credentials).")
    p.add_argument("--endpoint", required=True, metavar="URL", help="where the suite will serve FCM, e.g. "
                                                                    "http://127.0.0.1:9099")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    args = p.parse_args(argv)
    from .harness.push import make_credentials

    document: dict[str, Any] = make_credentials(args.endpoint)
    text = json.dumps(document)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as stream:
            stream.write(text)
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["capabilities"]:
        return main_capabilities()
    if argv[:1] == ["fcm-credentials"]:
        return main_credentials(argv[1:])
    if argv[:1] == ["run"]:
        argv = argv[1:]
    return main_run(argv)


if __name__ == "__main__":
    sys.exit(main())

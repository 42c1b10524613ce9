"""`smsgate-ca`: run the private CA (init, serve) and get certificates from it (webhooks, private)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import httpx
from cryptography.hazmat.primitives import hashes
from dotenv import dotenv_values

from ..config import ConfigError, HttpSettings, load_settings, parse_duration
from .client import (
    DEFAULT_ENDPOINT,
    ClientError,
    OutputError,
    ParamsError,
    build_csr,
    key_pem,
    new_key,
    private_ip,
    request_certificate,
    write_outputs,
)
from .paths import root_cert_path

EXIT_OK, EXIT_PARAMS, EXIT_CLIENT, EXIT_OUTPUT, EXIT_INTERNAL = 0, 1, 2, 3, 4
DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_TIMEOUT = "30s"

DESCRIPTION = f"""The private Certificate Authority of SMSGate (SMS Gateway for Android).

Phones deliver webhooks (and talk to a private server) only over HTTPS, and public CAs do not
certify private IP addresses. This CA does: it signs certificates for 10/8, 172.16/12,
192.168/16 and fc00::/7 addresses.

  smsgate-ca init --dir ./ca                     create the root certificate and key, once
  smsgate-ca serve --dir ./ca --listen 0.0.0.0:8443
                                                 run the CA API at http://HOST:8443/api/v1
  smsgate-ca webhooks 192.168.1.10 --endpoint http://192.168.1.2:8443/api/v1
                                                 get server.crt + server.key for a webhook receiver
  smsgate-ca private 192.168.1.10                the same for a private SMSGate server

Then install ./ca/ca.crt on each phone as a user CA certificate (Android: Settings > Security >
Encryption & credentials > Install a certificate > CA certificate), and serve HTTPS with
server.crt and server.key.

Environment: ASG_CA_ENDPOINT (default {DEFAULT_ENDPOINT}) and ASG_CA_TIMEOUT (default
{DEFAULT_TIMEOUT}), also read from ./.env. `serve` reads the server's configuration (--config,
CONFIG_PATH, .env, SECTION__KEY variables): database.url, ca.ttl, ca.rate_limit, http.proxies.

Exit codes: 0 done, 1 bad parameters, 2 CA unreachable or refused (or timed out),
3 cannot write the output files, 4 internal error."""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 1 (upstream's "params" code), not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_PARAMS, f"{self.prog}: error: {message}\n")


def _client_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS  # a subcommand's flag wins over the global one
    parser.add_argument("-e", "--endpoint", default=default,
                        help=f"the CA API base (env ASG_CA_ENDPOINT; default {DEFAULT_ENDPOINT}; "
                             "smsgate-server with ca.enabled: http://HOST:3000/api/ca/v1)")
    parser.add_argument("-t", "--timeout", default=default,
                        help=f"how long to wait for the certificate, e.g. 30s, 2m or 45 "
                             f"(env ASG_CA_TIMEOUT; default {DEFAULT_TIMEOUT}); polls every second")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smsgate-ca", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    _client_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="create the root certificate and key in --dir (never overwrites)",
                               description="Create ca.key (mode 0600) and a self-signed ca.crt, valid 10 years.")
    init.add_argument("--dir", required=True, type=Path, help="the CA directory (created if missing)")
    init.add_argument("--name", default="SMSGate Private Root CA", help="the root's common name")
    init.add_argument("--key-type", choices=["rsa", "ec"], default="rsa",
                      help="rsa: RSA-4096 (default, as upstream's root); ec: P-384")
    init.set_defaults(handler=_init)

    serve = commands.add_parser("serve", help="run the CA API (/api/v1) for the root in --dir",
                                description="Serve POST /api/v1/csr and GET /api/v1/csr/{id} over HTTP.")
    serve.add_argument("--dir", type=Path, help="the CA directory (default: ca.dir of the configuration)")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN})")
    serve.add_argument("--config", help="YAML configuration (default: $CONFIG_PATH or ./config.yml)")
    serve.set_defaults(handler=_serve)

    for name, alias, kind, what in (("webhooks", "wh", "webhook", "a webhook receiver"),
                                    ("private", "p", "private_server", "a private SMSGate server")):
        command = commands.add_parser(name, aliases=[alias], help=f"get a certificate for {what} at IP",
                                      description=f"Get a certificate for {what} listening on a private IP.")
        command.add_argument("ip", help="the private IP address the phone will connect to")
        command.add_argument("--out", type=Path, default=Path("server.crt"),
                             help="certificate file (default server.crt, mode 0600)")
        command.add_argument("--keyout", type=Path, default=Path("server.key"),
                             help="private key file (default server.key, EC P-256, mode 0400)")
        _client_options(command, top=False)
        command.set_defaults(handler=_issue, kind=kind)
    return parser


def _init(args: argparse.Namespace) -> int:
    from .authority import RootExists, init_root

    try:
        certificate = init_root(args.dir, common_name=args.name, key_type=args.key_type)
    except RootExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_OUTPUT
    except OSError as exc:
        print(f"error: cannot create the CA in {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_OUTPUT
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    print(f"Root certificate: {root_cert_path(args.dir)} (valid until {certificate.not_valid_after_utc:%Y-%m-%d})")
    print(f"SHA-256 fingerprint: {fingerprint}")
    print(f"Next: smsgate-ca serve --dir {args.dir}, and install the root certificate on each phone as a user CA.")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from .authority import RootMissing
    from .server import STANDALONE_PREFIX, create_ca_app, serve

    try:
        settings = load_settings(args.config)
        bind = HttpSettings(listen=args.listen).bind_address()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_PARAMS
    except ValueError:
        print(f"error: --listen expects HOST:PORT like 0.0.0.0:8443, got {args.listen!r}", file=sys.stderr)
        return EXIT_PARAMS
    directory = args.dir or (Path(settings.ca.dir) if settings.ca.dir else None)
    if directory is None:
        print("error: which CA? Give --dir DIR (a directory made by `smsgate-ca init --dir DIR`)", file=sys.stderr)
        return EXIT_PARAMS
    logging.basicConfig(level=settings.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_ca_app(settings, directory)
    except RootMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PARAMS
    print(f"CA API on http://{bind}{STANDALONE_PREFIX} (root {root_cert_path(directory)})", file=sys.stderr)
    try:
        serve(app, bind, access_log=settings.log.level == "DEBUG")
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _setting(args: argparse.Namespace, name: str, env_name: str, default: str) -> str:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    if os.environ.get(env_name):
        return os.environ[env_name]
    from_file = dotenv_values(".env", interpolate=False).get(env_name) if Path(".env").is_file() else None
    return from_file or default


def _issue(args: argparse.Namespace) -> int:
    endpoint = _setting(args, "endpoint", "ASG_CA_ENDPOINT", DEFAULT_ENDPOINT)
    timeout_text = _setting(args, "timeout", "ASG_CA_TIMEOUT", DEFAULT_TIMEOUT)
    try:
        timeout = parse_duration(timeout_text).total_seconds()
    except ConfigError:
        timeout = -1
    if timeout <= 0:
        raise ParamsError(f"--timeout expects a positive duration like 30s or 2m, got {timeout_text!r}")
    if not endpoint.startswith(("http://", "https://")):
        raise ParamsError(f"--endpoint expects an http:// or https:// URL, got {endpoint!r}")
    ip = private_ip(args.ip)

    def progress(line: str) -> None:
        print(line, file=sys.stderr)

    progress("Generating the private key ...")
    key = new_key()
    csr = build_csr(key, ip)
    with httpx.Client(timeout=timeout) as client:
        certificate = request_certificate(client, endpoint, csr, args.kind, timeout, progress=progress)
    write_outputs(certificate, key_pem(key), args.out, args.keyout)
    print(f"Certificate saved to {args.out}")
    print(f"Private key saved to {args.keyout}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_PARAMS
    try:
        return handler(args)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PARAMS
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CLIENT
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CLIENT
    except Exception as exc:  # a bug or a broken environment: say so, with the cause
        print(f"internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

"""What one run is pointed at and how it reports: built from defaults, a TOML file, the environment and
the command line, in that order (later wins).

File (`--config FILE` or `SMSGATE_CONFORMANCE_CONFIG`), keys as the long options::

    server = "https://sms.example.org"
    api-path = "/api"
    private-token = "..."
    skip = ["ca"]
    junit-xml = "conformance.xml"

Environment: `SMSGATE_CONFORMANCE_<OPTION>` with dashes as underscores, lists comma-separated, booleans
`true`/`false` (e.g. `SMSGATE_CONFORMANCE_SERVER`, `SMSGATE_CONFORMANCE_CERTIFY=true`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SMSGATE_CONFORMANCE_"


@dataclass
class Settings:
    server: str = ""  # the target's root URL, e.g. http://127.0.0.1:3000
    also: list[str] = field(default_factory=list)  # more URLs of the same deployment (`--server A --server B`)
    api_path: str = "/api"  # where the API groups live: {server}{api_path}/3rdparty/v1, .../mobile/v1
    mobile_url: str | None = None  # the mobile API's base URL when not {server}{api_path}/mobile/v1
    thirdparty_url: str | None = None  # the 3rd-party API's base URL when not {server}{api_path}/3rdparty/v1
    login: str | None = None  # an existing user's credentials: phones join it instead of creating users
    password: str | None = None
    private_token: str | None = None  # the target's (or --private-server's) gateway.private_token
    private_server: str | None = None  # a second instance of the same implementation in private mode
    ca: str | None = None  # the CA API base, e.g. http://127.0.0.1:3000/api/ca/v1
    fcm_credentials: str | None = None  # service-account JSON file the target's FCM uses (token_uri = the suite)
    relay_listen: str | None = None  # host:port where the suite receives a private target's upstream pushes
    capabilities: list[str] = field(default_factory=list)  # only these (default: all)
    skip: list[str] = field(default_factory=list)
    junit_xml: str | None = None
    html: str | None = None
    json: str | None = None
    baseline: str | None = None  # expected failures of this implementation
    write_baseline: str | None = None  # write this run's failures as a baseline
    certify: bool = False  # no skips allowed
    strict: bool = False  # a SHOULD missed (Non-strict) fails the run too
    thorough: bool = False  # schemathesis at full size
    examples: int | None = None  # --fuzz-budget: schemathesis cases per operation (default 8, thorough 100)
    seed: int = 20240601
    push_wait: float = 30.0  # seconds to wait for an event to reach a phone (push debounce is >= 5 s)
    request_timeout: float = 15.0
    max_rps: float = 0.0  # pace the whole run at this many requests a second (0: unpaced)
    verbose: bool = False  # keep pytest's own output too
    pytest_args: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        path = self.api_path.strip("/")
        return self.server.rstrip("/") + ("/" + path if path else "")

    @property
    def mobile(self) -> str:
        return (self.mobile_url or self.api + "/mobile/v1").rstrip("/")

    @property
    def thirdparty(self) -> str:
        return (self.thirdparty_url or self.api + "/3rdparty/v1").rstrip("/")

    @property
    def max_examples(self) -> int:
        return self.examples if self.examples is not None else (100 if self.thorough else 8)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = str(FIELDS[name].type)
    if "list" in kind:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            return [str(item) for item in value]
    elif "bool" in kind:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            return value.lower() in ("1", "true", "yes", "on")
    elif "float" in kind:
        return float(value)
    elif "int" in kind:
        return int(value)
    else:
        return str(value)
    raise ValueError(f"{source}: {name} = {value!r} is not a {kind}")


ALIASES = {"fuzz_budget": "examples", "only": "capabilities"}
SECRET_FIELDS = {"password", "private_token"}
# Shown in every report's header (when not at their default): what makes two runs comparable.
HEADER_FIELDS = ("also", "api_path", "mobile_url", "thirdparty_url",
                 "private_server", "ca", "capabilities", "skip", "thorough", "examples", "max_rps",
                 "push_wait", "login", "strict", "certify", "baseline")


def shown_options(settings: Settings) -> dict[str, Any]:
    """The options of a run that differ from the defaults, for report headers (no secrets among them)."""
    defaults = Settings()
    shown = {name: getattr(settings, name) for name in HEADER_FIELDS
             if getattr(settings, name) != getattr(defaults, name) and name not in SECRET_FIELDS}
    shown["fuzz_budget"] = shown.pop("examples", settings.max_examples)
    return {name: ",".join(map(str, value)) if isinstance(value, list) else value for name, value in shown.items()}


def apply(settings: Settings, values: Mapping[str, Any], source: str) -> Settings:
    for key, value in values.items():
        name = key.replace("-", "_")
        name = ALIASES.get(name, name)
        if name not in FIELDS:
            raise ValueError(f"{source}: unknown key {key!r}")
        if value is not None:
            setattr(settings, name, _coerce(name, value, source))
    return settings


def from_file(path: str | Path) -> dict[str, Any]:
    with open(path, "rb") as stream:
        document = tomllib.load(stream)
    return dict(document.get("conformance", document))


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in [*FIELDS, *ALIASES]:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            values[name] = environ[key]
    return values


def load(cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    cli = dict(cli or {})
    settings = Settings()
    config_file = cli.pop("config", None) or environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        apply(settings, from_file(config_file), str(config_file))
    apply(settings, from_environment(environ), "environment")
    apply(settings, cli, "command line")
    return settings


_active: Settings | None = None


def activate(settings: Settings) -> None:
    global _active
    _active = settings


def active() -> Settings:
    """The run's settings: those the CLI activated (pytest runs in its process), else the environment and the
    config file (a pytest run of the scenarios started by hand)."""
    return _active if _active is not None else load()

"""smsgate-conformance: judges any SMSGate server from outside, through the spec (schemathesis) and
simulated phones (scenarios), and scores it per capability. Never imports `reference_server`.

Public surface: `conformance.cli.main` (the command), `conformance.settings.Settings` and
`conformance.runner.run` (a run from Python), `conformance.capabilities.CAPABILITIES`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smsgate-reference")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

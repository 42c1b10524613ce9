"""smsgate-conformance: judges any SMSGate server from outside, through the spec (schemathesis) and
simulated phones (scenarios), and scores it per capability. Never imports `reference_server`.

Public surface: `conformance.cli.main` (the command), `conformance.settings.Settings` and
`conformance.runner.run` (a run from Python), `conformance.capabilities.CAPABILITIES`.
"""

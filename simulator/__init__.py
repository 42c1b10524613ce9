"""Simulated Android gateway phones. Talks to any SMSGate server over HTTP; never imports reference_server."""

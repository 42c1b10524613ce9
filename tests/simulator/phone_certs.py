"""A throw-away CA and a server certificate for 127.0.0.1 (the simulator's own helper, for the tests)."""

from simulator.load.tls import make_ca_and_leaf

__all__ = ["make_ca_and_leaf"]

"""Bring your own network: the adapter protocol for a user's own implementation (adapter.py) and loading one named
on the command line as one more framework (load.py). Imports only harness.core (and the reference's loss
definition, for the default evaluation)."""

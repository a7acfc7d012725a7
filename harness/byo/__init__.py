"""Bring your own network: the adapter protocol for a user's own implementation (adapter.py), its framework plug-in
registered in this process (plugin.py), and loading one named on the command line as one more framework (load.py).
Imports only harness.core; the reference (for the default evaluation) is reached through the registry."""

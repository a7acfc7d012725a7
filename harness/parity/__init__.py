"""The parity suite: every variant through every pair of frameworks, compared tensor by tensor."""

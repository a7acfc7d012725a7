"""torch_impl."""

"""keras_impl."""

"""The contract every layer and framework package builds on: specs, the FrameworkModel interface, parameter layout,
batching and dropout masks, learning-rate schedules, conventions, tolerances, errors and the framework registry."""

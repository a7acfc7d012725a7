"""The contract every layer and framework package builds on: specs, the FrameworkModel interface, parameter layout,
batching and dropout masks, learning-rate schedules, conventions, tolerances, errors and the framework registry."""

from harness.core import frameworks, specs

# The specs read earlier form names, which the plug-ins declare; the registry imports the specs, so it hands them the
# table (computed when first asked) rather than the specs importing the registry.
specs.supply_schema1_form_names(frameworks.schema1_form_names)

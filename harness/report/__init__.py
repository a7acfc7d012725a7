"""Tables, plots and the report of a run directory; the reproduction summary across run directories; the export
of a run directory to MLflow."""

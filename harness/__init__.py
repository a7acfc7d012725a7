"""The framework-neutral harness, in layers that import only downward:

    cli      the `fwcompare` command line
    report   tables, plots and the report of a run directory; the reproduction summary; the MLflow export
    run      the runner (matrix → cells → records), executors (in process, a local pool, Ray), environment, run
             lock, estimates
    parity   the parity suite: every variant through every pair of frameworks, tensor by tensor; the diagnosis of
             a tensor that disagrees; a user's ported models compared setting by setting
    byo      bring your own network: the adapter protocol for a user's implementation, loading it by file or module
    catalog  the named variants and matrices: the matrix type, the reproduction rows, the TOML loader
    data     data sets: the registry, where they come from (local files, downloads, the wheel fallback, digits),
             IDX files, preprocessing
    core     the contract: specs, the FrameworkModel interface, params layout, batching and masks, schedules,
             conventions, tolerances, errors, the framework registry, the cell record, the atomic file writer, a
             user's model read into the contract (ports)

Framework packages (the NumPy reference and one package per library, beside harness/) import only `harness.core`
and register through the entry point group `fwcompare.frameworks` (harness.core.frameworks); the harness reaches
them only through that registry.
"""

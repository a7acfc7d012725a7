"""Running a matrix: cells, executors (in process, a local pool, Ray), the recorded environment, the run lock, size
and time estimates."""

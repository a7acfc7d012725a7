"""Running a matrix: cells, executors, the recorded environment, the run lock, size and time estimates."""

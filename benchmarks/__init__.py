"""Speed and memory measurements of fwcompare's training paths (`python -m benchmarks`; see README.md here)."""

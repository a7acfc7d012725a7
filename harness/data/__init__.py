"""Data sets: registry and verified sources, the IDX reader, preprocessing."""

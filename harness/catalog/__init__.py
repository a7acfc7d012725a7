"""The catalogue: named variants and matrices, and the loader for users' TOML matrices."""

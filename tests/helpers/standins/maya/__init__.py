"""Stand-in for Maya's ``maya`` package (tests only; see ../README.md)."""

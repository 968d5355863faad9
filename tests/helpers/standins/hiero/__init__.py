"""Stand-in for Hiero's ``hiero`` package (tests only; see ../README.md)."""

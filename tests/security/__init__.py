"""Security regression suite: one module per finding of issue 11 (tests/security/)."""

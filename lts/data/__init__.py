"""Data files shipped with LTS (the common-password list)."""

"""sessionhub: one canonical session manager."""

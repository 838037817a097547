"""sessionhub benchmarks: measures sessionhub and its peers in one run (``python -m bench``)."""

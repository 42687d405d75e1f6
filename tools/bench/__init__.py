"""``python -m tools.bench``: throughput, latency and memory of the pipeline against the broker's own limit."""

"""``python -m tools.bench``: throughput, latency and memory of the pipeline against the broker's and framework's
ceilings (run from the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--complaints", "count", type=int, default=10_000, show_default=True, help="Complaints per run (N).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes per role (W).")
@click.option("--rate", type=float, default=None, help="Offer a steady R complaints/s instead of a burst.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write all figures here.")
def main(count: int, workers: int, rate: float | None, json_path: Path | None) -> None:
    """Throughput, latency and memory of the pipeline against the broker's and framework's ceilings."""
    from kernel.eventloop import install_event_loop
    from kernel.settings import get_settings
    from tools.bench.command import run_bench

    settings = get_settings()
    install_event_loop(settings.event_loop)  # the counting SMTP server shares the machine with the workers
    sys.exit(run_bench(settings, count=count, workers=workers, rate=rate, json_path=json_path))


if __name__ == "__main__":
    main()

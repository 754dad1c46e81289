"""Make the demo data bundled in ``storestatus/demo_data`` (seeded, so the output is stable).

Business hours and time zones are those of real stores (``../shared/data/real``); status polls are
generated: about one poll an hour per store with jitter, some lost polls, and outages that last
a few hours. A few stores are left without hours rows (open 24/7) or without a time zone
(America/Chicago), as in the real data.

    python examples/make_demo_data.py ../shared/data/real storestatus/demo_data
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

STORES = 60
END = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)
DAYS = 9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", type=Path, help="folder with business_hours.csv, timezones.csv")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=20230125)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    text = {"store_id": pl.String}
    hours = pl.read_csv(args.real / "business_hours.csv", schema_overrides=text)
    zones = pl.read_csv(args.real / "timezones.csv", schema_overrides=text)
    with_hours = sorted(set(hours["store_id"]) & set(zones["store_id"]))
    without_hours = sorted(set(zones["store_id"]) - set(hours["store_id"]))
    without_zone = sorted(set(hours["store_id"]) - set(zones["store_id"]))
    stores = (
        rng.sample(with_hours, STORES - 8)
        + rng.sample(without_hours, 4)
        + rng.sample(without_zone, 4)
    )

    args.out.mkdir(parents=True, exist_ok=True)
    hours.filter(pl.col("store_id").is_in(stores)).sort("store_id", "day").write_csv(
        args.out / "business_hours.csv"
    )
    zones.filter(pl.col("store_id").is_in(stores)).sort("store_id").write_csv(
        args.out / "timezones.csv"
    )
    polls = [row for store in sorted(stores) for row in _polls(store, rng)]
    pl.DataFrame(polls, schema=["store_id", "status", "timestamp_utc"], orient="row").write_csv(
        args.out / "store_status.csv"
    )


def _polls(store: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Hourly polls with jitter; 3% lost; outages start with 2% chance and last 1-5 polls."""
    rows = []
    outage_left = 0
    reliability = rng.choice([0.0, 0.0, 0.5, 1.0, 2.0])  # some stores never go down
    hour = END - timedelta(days=DAYS)
    while hour < END:
        at = hour + timedelta(seconds=rng.uniform(0, 3000), microseconds=rng.randrange(1_000_000))
        if outage_left == 0 and rng.random() < 0.02 * reliability:
            outage_left = rng.randint(1, 5)
        status = "inactive" if outage_left else "active"
        outage_left = max(0, outage_left - 1)
        if rng.random() >= 0.03:
            rows.append((store, status, at.strftime("%Y-%m-%d %H:%M:%S.%f UTC")))
        hour += timedelta(hours=1)
    return rows


if __name__ == "__main__":
    main()

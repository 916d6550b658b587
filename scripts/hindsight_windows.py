"""Each server's best fixed keep-alive window, picked with its whole run known.

A measured companion to `poisson_bound.py`: run a scenario's frontier one
server per shard, then, for each cold-start price C, give every server the
fixed window (`keep-alive-1m` ... `keep-alive-60m`) with the least
replica-hours + C x cold starts over its whole run, and add them up. No
policy that learns as it goes can choose better among fixed windows; one
that changes its window during the run can.

    N=300; for i in $(seq 0 $((N-1))); do
      mcp-autoscaler simulate --frontier --shard $i/$N --out shards/$i
    done
    python3 scripts/hindsight_windows.py shards

Prints, per price, the fleet's replica-hours and cold starts, then the cold
starts at `keep-alive-10m`'s replica-hours (interpolated between prices)
as a multiple of `keep-alive-10m`'s. Standard library only.
"""
import json
import os
import sys

PRICES_MIN = [5, 10, 20, 30, 60, 120]
WINDOWS = [f"keep-alive-{m}m" for m in (1, 2, 5, 10, 20, 30, 60)]


def partials(root):
    """Every partial report under `root` (one per directory)."""
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry, "partial.json")
        if os.path.exists(path):
            with open(path) as f:
                yield path, json.load(f)


def servers(root):
    """Per shard: {policy: (replica-hours, cold starts)}, after checking
    that the shards are one server each, distinct, of one fleet, and ran
    every fixed window."""
    seen = set()
    for path, partial in partials(root):
        shard, count = partial["shard"]["index"], partial["shard"]["count"]
        if count != partial["servers"]:
            sys.exit(f"{path}: shard of {count} over {partial['servers']} servers:"
                     " run one server per shard (--shard I/N with N the server count)")
        if shard in seen:
            sys.exit(f"{path}: shard {shard} is given twice")
        seen.add(shard)
        names = [run["name"] for run in partial["runs"]]
        missing = [w for w in WINDOWS if w not in names]
        if missing:
            sys.exit(f"{path}: no {', '.join(missing)}: run the scenario with --frontier")
        yield {
            name: (stats["replica_us"] / 3.6e9, stats["cold_starts"])
            for name, stats in zip(names, partial["stats"])
        }


def main(root):
    fleet = list(servers(root))
    if not fleet:
        sys.exit(f"no partial.json under {root}")
    size = next(partials(root))[1]["servers"]
    if len(fleet) != size:
        sys.exit(f"{len(fleet)} shards under {root} for a fleet of {size}: some are missing")
    windows = WINDOWS
    points = []
    for minutes in PRICES_MIN:
        price = minutes / 60
        hours = cold = 0.0
        for server in fleet:
            best = min(windows, key=lambda w: server[w][0] + price * server[w][1])
            hours += server[best][0]
            cold += server[best][1]
        points.append((hours, cold))
        print(f"price {minutes:>3}m: {hours:8.1f} replica-hours, {cold:6.0f} cold starts")
    ka_hours = sum(s["keep-alive-10m"][0] for s in fleet)
    ka_cold = sum(s["keep-alive-10m"][1] for s in fleet)
    for (h1, c1), (h2, c2) in zip(points, points[1:]):
        if h1 <= ka_hours < h2:
            at = c1 + (c2 - c1) * (ka_hours - h1) / (h2 - h1)
            ratio = f" = {at / ka_cold:.2f}x its {ka_cold:.0f}" if ka_cold else ""
            print(f"at keep-alive-10m's {ka_hours:.1f} replica-hours: {at:.0f} cold starts{ratio}")
            return
    print(f"keep-alive-10m's {ka_hours:.1f} replica-hours fall outside the prices' range")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "shards")

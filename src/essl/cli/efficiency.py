"""``essl efficiency``: metric-vs-cost curves, cost-to-target and efficiency ratios of runs."""

from __future__ import annotations

import argparse
from typing import Any

COSTS = ("flops", "audio", "memory", "energy", "time")


def register(sub: Any) -> None:
    p = sub.add_parser("efficiency", help="efficiency curves and cost-to-target of runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories, then OUT_DIR")
    p.add_argument("--metric", default="loss", help="logged metric (default: loss)")
    p.add_argument("--cost", default="flops", choices=COSTS, help="cost axis (default: flops)")
    p.add_argument("--target", type=float, default=None, help="metric value to reach")
    p.add_argument("--smooth", type=int, default=1, help="moving-average window (steps)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import csv
    import io
    from pathlib import Path

    from essl._io import atomic_open, write_json
    from essl.errors import EsslError
    from essl.metering.efficiency import COST_AXES, read_curve, summarize
    from essl.reports.plots import line_plot

    if len(args.runs) < 2:
        raise EsslError("give at least one RUN_DIR and an OUT_DIR")
    *runs, out = args.runs
    out_dir = Path(out)
    curves = [read_curve(r, args.metric, args.cost, smooth=args.smooth) for r in runs]
    rows = summarize(curves, args.target)
    write_json(
        out_dir / "efficiency.json",
        {
            "schema": "essl.efficiency/1",
            "metric": args.metric,
            "cost": args.cost,
            "axis": COST_AXES[args.cost],
            "target": args.target,
            "runs": rows,
        },
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_open(out_dir / "efficiency.csv") as f:
        f.write(buf.getvalue())
    line_plot(
        [(Path(c.run).name, c.x, c.y) for c in curves],
        out_dir / "efficiency",
        xlabel=f"{args.cost} ({COST_AXES[args.cost]})",
        ylabel=args.metric,
        title=f"{args.metric} vs {args.cost}",
        target=args.target,
        logx=args.cost == "flops",
    )
    for r in rows:
        ctt = "not reached" if r["cost_to_target"] is None else f"{r['cost_to_target']:.4g}"
        print(
            f"{r['run']}: final {args.metric} {r['final_metric']:.4g} at {args.cost} "
            f"{r['final_cost']:.4g}; AUC {r['auc_shared_range']:.4g}; cost-to-target {ctt}"
        )
    print(f"wrote {out_dir}/efficiency.{{json,csv,png,svg}}")
    return 0

#!/usr/bin/env python3
"""Draws the CPG benchmark's plot and prints its headline table.

Reads the results files that tests/src/bin/bench-cpg.rs writes
(target/bench/cpg-<time>.tsv; `#` lines, a header, then one row per table,
nodes, program, size and metric), prints BENCHMARKS.md's headline table in
Markdown with the line that says where and when the figures were measured,
and with --svg writes the plot: Rust/C per message size for throughput,
client CPU and instructions, with lines at 1.0 and 1.05.

Several files combine (a full run and an `--async-only --nodes 3` run, for
example); a figure found in more than one comes from the last.

Usage: scripts/plot-bench.py [--svg docs/bench-cpg.svg] FILE...
Python 3.11 standard library only.
"""

import argparse
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

SIZES = [64, 1024, 16 * 1024, 64 * 1024]


def size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def read(paths: list[Path]) -> tuple[dict, list[dict]]:
    """All rows as {(table, nodes, program, size, metric): value}, and each
    file's `# key: value` lines."""
    figures: dict = {}
    metas: list[dict] = []
    for path in paths:
        meta: dict = {"file": str(path)}
        header = None
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
                continue
            fields = line.split("\t")
            if header is None:
                header = fields
                if header != ["table", "nodes", "program", "size", "metric", "value"]:
                    sys.exit(f"{path}:{number}: not a bench-cpg results file")
                continue
            if len(fields) != 6:
                sys.exit(f"{path}:{number}: expected 6 tab-separated fields")
            table, nodes, program, size, metric, value = fields
            figures[(table, int(nodes), program, int(size), metric)] = float(value)
        metas.append(meta)
    return figures, metas


def ratio(figures: dict, table: str, nodes: int, num: str, den: str, size: int, metric: str):
    a = figures.get((table, nodes, num, size, metric))
    b = figures.get((table, nodes, den, size, metric))
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def rust_c(figures: dict) -> dict:
    """The plotted series: name -> [Rust/C or None per size]."""
    return {
        "throughput, messages/s (higher is better)": [
            ratio(figures, "throughput", 1, "rust", "c", s, "msgs_per_s") for s in SIZES
        ],
        "client CPU per message (lower is better)": [
            ratio(figures, "throughput", 1, "rust", "c", s, "cpu_us_per_msg") for s in SIZES
        ],
        "instructions per message, callgrind (lower is better)": [
            ratio(figures, "callgrind", 1, "rust", "c", s, "instructions_per_msg")
            for s in SIZES
        ],
    }


def fmt(value, digits: int = 3, group: str = "") -> str:
    return "–" if value is None else f"{value:{group}.{digits}f}"


def table(figures: dict) -> str:
    series = list(rust_c(figures).values())
    nodes = sorted({k[1] for k in figures if k[0] == "async"})
    head = [
        "size",
        "throughput Rust/C",
        "client CPU Rust/C",
        "instructions/msg, C / Rust",
        "instructions Rust/C",
        "callback instructions/msg, C / Rust",
    ] + [f"async/blocking, {n} node{'s' if n > 1 else ''}" for n in nodes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for i, size in enumerate(SIZES):
        calls = [figures.get(("callgrind", 1, p, size, "instructions_per_msg")) for p in ("c", "rust")]
        backs = [
            figures.get(("callgrind", 1, p, size, "callback_instructions_per_msg"))
            for p in ("c", "rust")
        ]
        cells = [
            size_label(size),
            fmt(series[0][i]),
            fmt(series[1][i]),
            f"{fmt(calls[0], 0, ',')} / {fmt(calls[1], 0, ',')}",
            fmt(series[2][i]),
            f"{fmt(backs[0], 0)} / {fmt(backs[1], 0)}",
        ] + [
            fmt(ratio(figures, "async", n, "rust-async", "rust", size, "msgs_per_s"))
            for n in nodes
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measured(metas: list[dict]) -> str:
    """Where and with what the figures were measured, and by which runs."""
    first = metas[0]

    def get(key: str) -> str:
        return first.get(key, "unknown")

    corosync = get("corosync").rsplit("version", 1)[-1].strip(" '")
    rustc = get("rustc").removeprefix("rustc ").split(" (")[0]
    cc = get("cc")
    if cc.startswith(("cc (", "gcc (")):
        cc = "gcc " + cc.split()[-1]
    valgrind = get("valgrind").removeprefix("valgrind-")
    dates = sorted({m.get("date", "?")[:10] for m in metas})
    commits = sorted({m.get("commit", "?") for m in metas})
    text = (
        f"Measured {', '.join(dates)} at commit {', '.join(commits)} on {get('machine')}, "
        f"{get('os')}, kernel {get('kernel')}; corosync {corosync}, libqb {get('libqb')}, "
        f"Rust {rustc} (release build), C by {cc} -O2, valgrind {valgrind}."
    )
    runs = "; ".join(f"`{m.get('command', '?')}` ({m.get('date', '?')})" for m in metas)
    return f"{text}\nRuns: {runs}."


def svg(figures: dict, metas: list[dict]) -> str:
    width, height = 720, 480
    left, right, top, bottom = 70, 140, 62, 120
    plot_w, plot_h = width - left - right, height - top - bottom
    series = rust_c(figures)
    values = [v for vs in series.values() for v in vs if v is not None]
    # The axis shows 0.90-1.10 at least, and at most 0.5-1.6: a point
    # beyond is drawn on the edge with its value.
    lo = max(0.5, min([0.9] + [v - 0.02 for v in values]))
    hi = min(1.6, max([1.1] + [v + 0.02 for v in values]))
    step = 0.02 if hi - lo <= 0.25 else 0.05 if hi - lo <= 0.5 else 0.1
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step

    def x(size: int) -> float:
        return left + (SIZES.index(size) + 0.5) * plot_w / len(SIZES)

    def y(value: float) -> float:
        value = min(max(value, lo), hi)
        return top + (hi - value) / (hi - lo) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold">'
        "CPG multicast: the bindings against plain C (Rust/C)</text>",
    ]
    meta = metas[0]
    sub = f"{meta.get('date', '?')[:10]}, commit {meta.get('commit', '?')}, {meta.get('machine', '?')}"
    out.append(f'<text x="{left}" y="44" fill="#555">{escape(sub)}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
    )
    tick = lo
    while tick <= hi + 1e-9:
        ty = y(tick)
        out.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 8}" y="{ty + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
        tick += step
    for size in SIZES:
        out.append(
            f'<text x="{x(size):.1f}" y="{top + plot_h + 20}" text-anchor="middle">{size_label(size)}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 40}" text-anchor="middle">message size</text>'
    )
    out.append(
        f'<text transform="translate(20 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">Rust / C</text>'
    )
    for level, colour, dash, label in [
        (1.0, "#333", "", "1.0: as fast as C"),
        (1.05, "#c00", ' stroke-dasharray="6 4"', "1.05: the target"),
    ]:
        ly = y(level)
        out.append(
            f'<line x1="{left}" y1="{ly:.1f}" x2="{left + plot_w}" y2="{ly:.1f}" '
            f'stroke="{colour}" stroke-width="1.5"{dash}/>'
        )
        out.append(f'<text x="{left + plot_w + 6}" y="{ly + 4:.1f}" fill="{colour}">{label}</text>')
    styles = [("#1f77b4", "circle"), ("#ff7f0e", "square"), ("#2ca02c", "diamond")]
    for (name, vs), (colour, shape) in zip(series.items(), styles):
        points = [(x(s), y(v), v) for s, v in zip(SIZES, vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, v in points:
            out.append(marker(shape, px, py, colour))
            if not lo <= v <= hi:
                dy = 20 if v > hi else -12
                out.append(
                    f'<text x="{px - 8:.1f}" y="{py + dy:.1f}" fill="{colour}" '
                    f'text-anchor="end">{v:.2f} (off scale)</text>'
                )
    for i, (name, (colour, shape)) in enumerate(zip(series, styles)):
        ly = height - 50 + i * 20
        lx = left + 10
        out.append(marker(shape, lx, ly - 4, colour))
        out.append(f'<text x="{lx + 12}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def marker(shape: str, px: float, py: float, colour: str) -> str:
    if shape == "circle":
        return f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{px - 4.5:.1f}" y="{py - 4.5:.1f}" width="9" height="9" fill="{colour}"/>'
    return (
        f'<polygon points="{px:.1f},{py - 6:.1f} {px + 6:.1f},{py:.1f} '
        f'{px:.1f},{py + 6:.1f} {px - 6:.1f},{py:.1f}" fill="{colour}"/>'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="bench-cpg results (.tsv)")
    parser.add_argument("--svg", type=Path, help="write the plot here (docs/bench-cpg.svg)")
    args = parser.parse_args()
    figures, metas = read(args.files)
    print(table(figures))
    print()
    print(measured(metas))
    if args.svg:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(svg(figures, metas))
        print(f"\nplot: {args.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()

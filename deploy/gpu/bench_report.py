"""Report parts of the GPU benchmark (issue #6) that deploy/gpu/bench-gpu.sh prints last, from its own logs.

    python3 bench_report.py --png OUT/throughput_vs_concurrency.png [--title TEXT] LOG [LOG ...]

Reads the key=value lines of the logs (GpuBench, SteadyLoadBench, bench_gpu.py make) and
  - prints the steady-load table (steady_c<N>_cap<C>_* keys): ITL percentiles, p99/p50 against the target, output
    tok/s, TTFT, step time, prompt tokens per step, for each prefill cap while decoding;
  - writes a PNG of output throughput against concurrency (engine_<in>_<out>_c<N>_tok_s keys, one line per
    workload; the steady-load runs and Hugging Face generate at batch 32 as single points), with matplotlib when it
    is installed, else with a small pure-Python rasterizer (zlib + struct): axes, ticks, labels, legend.
No third-party module is needed for either.
"""
import argparse
import math
import re
import struct
import sys
import zlib


def read_logs(paths):
    d = {}
    for path in paths:
        try:
            f = open(path, errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                if "=" in line and not line.startswith((" ", "WARN", "[")):
                    k, _, v = line.strip().partition("=")
                    d[k] = v
    return d


def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return float("nan")


def throughput_series(d):
    """{(in, out): [(concurrency, tok/s), ...]} sorted by concurrency."""
    series = {}
    for k in d:
        m = re.fullmatch(r"engine_(\d+)_(\d+)_c(\d+)_tok_s", k)
        if m and math.isfinite(num(d, k)):
            series.setdefault((int(m.group(1)), int(m.group(2))), []).append((int(m.group(3)), num(d, k)))
    return {w: sorted(p) for w, p in sorted(series.items())}


def steady_runs(d):
    """[(streams, cap, tag)] of the steady-load runs, in order of streams then cap."""
    runs = set()
    for k in d:
        m = re.fullmatch(r"(steady_c(\d+)_cap(\d+))_tok_s", k)
        if m:
            runs.add((int(m.group(2)), int(m.group(3)), m.group(1)))
    return sorted(runs)


def steady_table(d):
    runs = steady_runs(d)
    if not runs:
        return ""
    out = ["| streams | prefill cap while decoding | output tok/s | ITL p50 ms | p90 | p99 | p99.9 | max | p99/p50 "
           "(target <= 1.25) | TTFT p50 / p99 ms | step ms | prompt tokens / step | backend busy |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, cap, t in runs:
        g = lambda s: num(d, f"{t}_{s}")
        ratio = g("itl_p99_ms") / g("itl_p50_ms") if g("itl_p50_ms") > 0 else float("nan")
        out.append(f"| {n} | {'off' if cap == 0 else cap} | {g('tok_s'):.0f} | {g('itl_p50_ms'):.2f} | {g('itl_p90_ms'):.2f} | "
                   f"{g('itl_p99_ms'):.2f} | {g('itl_p999_ms'):.2f} | {g('itl_max_ms'):.1f} | {ratio:.2f} "
                   f"{'met' if ratio <= 1.25 else 'not met'} | {g('ttft_p50_ms'):.0f} / {g('ttft_p99_ms'):.0f} | "
                   f"{g('step_ms'):.2f} | {g('prompt_tokens_per_step'):.0f} | {g('backend_busy_frac'):.1%} |")
    return "\n".join(out)


def plot_items(d):
    """Lines and single points to draw: [(label, [(x, y), ...], is_line)]."""
    items = [(f"{i} in / {o} out, all at once", pts, True) for (i, o), pts in throughput_series(d).items()]
    workload = d.get("steady_workload", "")
    for n, cap, t in steady_runs(d):
        y = num(d, f"{t}_tok_s")
        if math.isfinite(y):
            items.append((f"steady load{' ' + workload if workload else ''}, prefill cap {'off' if cap == 0 else cap}",
                          [(n, y)], False))
    hf = num(d, "hf_generate_b32_128_128_tok_s")
    if math.isfinite(hf):
        items.append(("HF generate 128/128", [(32, hf)], False))
    return items


def nice_step(span, ticks=6):
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def axis_limits(items):
    xs = sorted({x for _, pts, _ in items for x, _ in pts})
    ymax = max([y for _, pts, _ in items for _, y in pts] + [1e-9])
    step = nice_step(ymax * 1.08)
    return xs, step, step * math.ceil(ymax * 1.08 / step)


def plot_matplotlib(items, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs, step, ytop = axis_limits(items)
    fig, ax = plt.subplots(figsize=(9, 5.6), dpi=100)
    for label, pts, line in items:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if line else "s", label=label, linewidth=2, markersize=7)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.set_ylim(0, ytop)
    ax.set_xlabel("concurrent sequences")
    ax.set_ylabel("output tokens / s")
    ax.set_title(title)
    ax.grid(True, color="#dddddd")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


# ---- the fallback: a tiny rasterizer and PNG writer ----

FONT = {  # 5x7 glyphs, rows top to bottom; text is drawn upper-case
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000", "/": "00000 00001 00010 00100 01000 10000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011", "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000", "_": "00000 00000 00000 00000 00000 00000 11111",
    "|": "00100 00100 00100 00100 00100 00100 00100", "?": "01110 10001 00001 00010 00100 00000 00100",
}
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)]


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def rect(self, x0, y0, x1, y1, c):
        for y in range(max(0, y0), min(self.h, y1 + 1)):
            for x in range(max(0, x0), min(self.w, x1 + 1)):
                self.dot(x, y, c)

    def disc(self, cx, cy, r, c):
        for y in range(-r, r + 1):
            for x in range(-r, r + 1):
                if x * x + y * y <= r * r + r:
                    self.dot(cx + x, cy + y, c)

    def line(self, x0, y0, x1, y1, c, width=1):
        x0, y0, x1, y1 = round(x0), round(y0), round(x1), round(y1)
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(n + 1):
            x, y = round(x0 + (x1 - x0) * i / n), round(y0 + (y1 - y0) * i / n)
            if width <= 1:
                self.dot(x, y, c)
            else:
                self.disc(x, y, width // 2, c)

    def text(self, x, y, s, c, scale=2, vertical=False):
        """Top-left at (x, y); vertical text reads bottom to top, (x, y) its bottom-left."""
        for k, ch in enumerate(s.upper()):
            rows = FONT.get(ch, FONT["?"]).split()
            for r, bits in enumerate(rows):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        gx, gy = k * 6 + col, r
                        for dy in range(scale):
                            for dx in range(scale):
                                if vertical:
                                    self.dot(x + gy * scale + dy, y - gx * scale - dx, c)
                                else:
                                    self.dot(x + gx * scale + dx, y + gy * scale + dy, c)

    @staticmethod
    def text_width(s, scale=2):
        return len(s) * 6 * scale - scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def plot_plain(items, png, title):
    w, h, right, top, bottom = 900, 560, 30, 50, 70
    cv = Canvas(w, h)
    xs, step, ytop = axis_limits(items)
    yticks = [(i * step, f"{i * step:,.0f}" if step >= 1 else f"{i * step:g}") for i in range(int(round(ytop / step)) + 1)]
    left = 12 + 14 + 12 + max(cv.text_width(t) for _, t in yticks) + 10  # y label, gap, tick labels, gap
    lx0, lx1 = math.log2(xs[0]), math.log2(xs[-1])
    pad = 0.3 if lx1 > lx0 else 1.0
    lx0, lx1 = lx0 - pad, lx1 + pad
    X = lambda x: left + (math.log2(x) - lx0) / (lx1 - lx0) * (w - left - right)
    Y = lambda y: h - bottom - y / ytop * (h - top - bottom)
    black, grid, grey = (0, 0, 0), (225, 225, 225), (90, 90, 90)
    for v, label in yticks:  # y grid and labels
        y = round(Y(v))
        cv.line(left, y, w - right, y, grid)
        cv.text(left - 10 - cv.text_width(label), y - 7, label, grey)
    for x in xs:  # x grid and labels
        px = round(X(x))
        cv.line(px, top, px, h - bottom, grid)
        cv.text(px - cv.text_width(str(x)) // 2, h - bottom + 10, str(x), grey)
    cv.line(left, top, left, h - bottom, black, 1)
    cv.line(left, h - bottom, w - right, h - bottom, black, 1)
    xl = "concurrent sequences"
    cv.text((left + w - right - cv.text_width(xl)) // 2, h - bottom + 38, xl, black)
    yl = "output tokens / s"
    cv.text(12, (top + h - bottom + cv.text_width(yl)) // 2, yl, black, vertical=True)
    cv.text(max(4, (w - cv.text_width(title)) // 2), 16, title, black)
    for k, (label, pts, is_line) in enumerate(items):
        c = PALETTE[k % len(PALETTE)]
        if is_line:
            for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
                cv.line(X(xa), Y(ya), X(xb), Y(yb), c, 3)
            for x, y in pts:
                cv.disc(round(X(x)), round(Y(y)), 4, c)
        else:
            for x, y in pts:
                cv.rect(round(X(x)) - 5, round(Y(y)) - 5, round(X(x)) + 5, round(Y(y)) + 5, c)
        ly = top + 12 + k * 22  # legend, upper left inside the axes
        if is_line:
            cv.line(left + 16, ly + 7, left + 44, ly + 7, c, 3)
        else:
            cv.rect(left + 25, ly + 2, left + 35, ly + 12, c)
        cv.text(left + 54, ly, label, black)
    cv.png(png)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--png", help="where to write the throughput vs concurrency plot")
    ap.add_argument("--title", default="Output throughput vs concurrency")
    ap.add_argument("--renderer", choices=["auto", "matplotlib", "plain"], default="auto")
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args(argv)
    d = read_logs(a.logs)
    table = steady_table(d)
    if table:
        workload = d.get("steady_workload", "")
        print(f"\nSteady load (a new request as soon as one ends{', ' + workload if workload else ''}):\n" + table)
    if not a.png:
        return 0
    items = plot_items(d)
    if not items:
        print(f"no engine_*_tok_s lines in {a.logs}: no plot")
        return 1
    renderer = a.renderer
    if renderer == "auto":
        try:
            import matplotlib  # noqa: F401
            renderer = "matplotlib"
        except ImportError:
            renderer = "plain"
    (plot_matplotlib if renderer == "matplotlib" else plot_plain)(items, a.png, a.title)
    print(f"wrote {a.png} ({renderer}; {len(items)} series)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

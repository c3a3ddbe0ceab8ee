"""Page weight and speed: what each page costs a browser, on this machine and on a slow 1.6 Mbit/s link.

Why: the pages are used from district offices and phones on slow intranet links. The issue's goal is
the coverage map's first paint under 1 s on the demo and under 3 s at 1.6 Mbit/s, and the coverage page
under 300 KB transferred. This script starts the demo server (building the demo database first if it
is missing, as ``make demo`` does), opens every page in headless Chromium, once on the local link and
once with Chrome's network throttling (``Network.emulateNetworkConditions``: 1.6 Mbit/s down, 0.75 up,
150 ms latency), and records per page: bytes transferred (the sum of ``encodedDataLength`` of every
response, headers included, compressed as sent), the number of requests, first paint and first
contentful paint (``performance.getEntriesByType('paint')``), the load event, and the HTML's own size.
Every visit starts with an empty browser cache (a first visit); a second, cached visit shows what the
cache headers save. The server's own caches are warmed first (one untimed request per page): the
figures are what a browser waits for, not the first computation of an analysis.

    .venv/bin/python bench/web_bench.py                 # make bench-web
    .venv/bin/python bench/web_bench.py --db sqlite:///other.db --runs 3

The table is printed and written to docs/web-benchmark.md (``--out``). The server is stopped by its
PID when the script ends, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
PASSWORD = "shequ-demo"  # the demo accounts' password (shequ.usecases.demo)
#: the slow link: Chrome DevTools' throughput is in bytes per second
SLOW = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 0.75e6 / 8}
SCENARIO = "bench-web"


@dataclass
class Visit:
    """One page load: what travelled and when the page showed something."""

    bytes: int = 0
    requests: int = 0
    html_bytes: int = 0
    first_paint_ms: float | None = None
    fcp_ms: float | None = None
    load_ms: float | None = None
    ttfb_ms: float | None = None
    by_type: dict[str, int] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_demo(url: str) -> None:
    """The demo database, built as ``make demo`` does when the file is missing."""
    path = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///") or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the demo database {path} (about 30 s)…", flush=True)
    subprocess.run([str(BIN / "shequ"), "--db", url, "demo"], check=True, stdout=subprocess.DEVNULL)


@contextmanager
def demo_server(url: str, port: int) -> Iterator[str]:
    """``shequ serve`` on the database, in its own process; stopped by its PID."""
    log = open(ROOT / "out" / "web_bench_server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(BIN / "shequ"), "--db", url, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: see {log.name}") from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _post(base: str, path: str, token: str, body: dict) -> dict:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"{}")


def _get(base: str, path: str, token: str = "") -> dict:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def _token(base: str, user: str) -> str:
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD}).encode()
    with urllib.request.urlopen(urllib.request.Request(base + "/login", data=data), timeout=30) as r:
        return json.loads(r.read())["access_token"]


def pages(base: str) -> list[tuple[str, str, str]]:
    """(name, path, user) of every page; a scenario for /maps/compare is made through the API if the demo
    has none (a kindergarten added in the middle of the residences)."""
    token = _token(base, "planner")
    listed = _get(base, "/scenarios", token).get("scenarios", [])
    if not any(s["name"] == SCENARIO for s in listed):
        one = _get(base, "/collections/residences/items?limit=1", token)["features"][0]["geometry"]
        x, y = _first_xy(one["coordinates"])
        _post(base, "/scenarios", token, {"name": SCENARIO, "title": "基准测试 benchmark"})
        _post(base, f"/scenarios/{SCENARIO}/changes", token, {"changes": [
            {"kind": "add_facility", "properties": {"type": "kindergarten", "name": "bench"},
             "geometry": {"type": "Point", "coordinates": [x, y]}}]})
    code = _get(base, "/collections/communities/items?limit=1", token)["features"][0]["properties"]["code"]
    return [("home", "/", "planner"), ("coverage map", "/maps/coverage", "planner"),
            ("access map", "/maps/access", "planner"), ("compare", f"/maps/compare?scenario={SCENARIO}", "planner"),
            ("scorecards", "/reports/scorecard", "planner"), ("one community", f"/reports/scorecard/{code}", "planner"),
            ("progress", "/reports/progress", "planner"), ("grid editor", "/edit/grids", "wangge"),
            ("exports", "/exports", "planner")]


def _first_xy(coords: list) -> tuple[float, float]:
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


PAINT_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  return {fp: paint['first-paint'] ?? null, fcp: paint['first-contentful-paint'] ?? null,
          load: nav && nav.loadEventEnd > 0 ? nav.loadEventEnd : null,
          ttfb: nav ? nav.responseStart - nav.requestStart : null};
}"""


def visit(page, cdp, url: str, *, cold: bool) -> Visit:
    """One navigation to ``url``; every response until the network is quiet is counted."""
    if cold:
        cdp.send("Network.clearBrowserCache")
    seen: dict[str, dict] = {}

    def response(e: dict) -> None:
        r = e["response"]
        if r["url"].startswith("http"):
            seen[e["requestId"]] = {"type": e.get("type", "Other"), "url": r["url"], "bytes": 0,
                                    "cached": bool(r.get("fromDiskCache") or r.get("fromMemoryCache"))}

    def finished(e: dict) -> None:
        if e["requestId"] in seen:
            seen[e["requestId"]]["bytes"] = int(e.get("encodedDataLength", 0))

    cdp.on("Network.responseReceived", response)
    cdp.on("Network.loadingFinished", finished)
    try:
        page.goto(url, wait_until="load", timeout=300_000)
        # then what the page fetches after its load event (the editor's grids, the exports' areas): until no
        # response has arrived for 1 s (at most 30 s)
        quiet, count, deadline = time.monotonic(), len(seen), time.monotonic() + 30
        while time.monotonic() - quiet < 1.0 and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if len(seen) != count:
                quiet, count = time.monotonic(), len(seen)
    finally:
        cdp.remove_listener("Network.responseReceived", response)
        cdp.remove_listener("Network.loadingFinished", finished)
    timing = page.evaluate(PAINT_JS)
    v = Visit(first_paint_ms=timing["fp"], fcp_ms=timing["fcp"], load_ms=timing["load"], ttfb_ms=timing["ttfb"])
    for r in seen.values():
        v.bytes += r["bytes"]
        v.requests += 1
        v.by_type[r["type"]] = v.by_type.get(r["type"], 0) + r["bytes"]
        if r["type"] == "Document":
            v.html_bytes += r["bytes"]
    return v


def log_in(page, base: str, user: str) -> None:
    """The user's login as the pages keep it: the token in the tab, the cookie for navigations."""
    page.goto(f"{base}/", wait_until="load")
    page.evaluate("([u, p]) => shequ.login(u, p)", [user, PASSWORD])


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _merge(visits: list[Visit]) -> Visit:
    """The median of several visits (bytes and requests from the first: they do not vary)."""
    first = visits[0]
    return Visit(bytes=first.bytes, requests=first.requests, html_bytes=first.html_bytes, by_type=first.by_type,
                 first_paint_ms=_median([v.first_paint_ms for v in visits]),
                 fcp_ms=_median([v.fcp_ms for v in visits]), load_ms=_median([v.load_ms for v in visits]),
                 ttfb_ms=_median([v.ttfb_ms for v in visits]))


def measure(base: str, runs: int) -> tuple[list[dict], str]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    rows: list[dict] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        version = browser.version
        listed = pages(base)
        for _name, path, user in listed:  # warm the server's caches (analyses, page cache)
            req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {_token(base, user)}"})
            with urllib.request.urlopen(req, timeout=300) as r:
                r.read()
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        current = ""
        for name, path, user in listed:
            if user != current:
                log_in(page, base, user)
                current = user
            row: dict = {"page": name, "path": path, "user": user}
            for link, conditions in (("local", None), ("slow", SLOW)):
                cdp.send("Network.emulateNetworkConditions", conditions or
                         {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
                row[link] = _merge([visit(page, cdp, base + path, cold=True) for _ in range(runs)])
                row[link + "_cached"] = visit(page, cdp, base + path, cold=False)
                print(f"  {name:14} {link:5} {row[link].bytes / 1024:7.0f} KB {row[link].requests:3} requests  "
                      f"FCP {_ms(row[link].fcp_ms):>7}  load {_ms(row[link].load_ms):>7}", flush=True)
            rows.append(row)
        context.close()
        browser.close()
    return rows, version


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x / 1000:.2f} s"


def _kb(n: int) -> str:
    return f"{n / 1024:,.0f} KB"


def table(rows: list[dict]) -> str:
    head = ("| page | transferred | requests | HTML | first paint | FCP | load | FCP at 1.6 Mbit/s | "
            "load at 1.6 Mbit/s | cached visit at 1.6 Mbit/s (transferred, FCP) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in rows:
        local, slow, again = r["local"], r["slow"], r["slow_cached"]
        lines.append(f"| {r['page']} (`{r['path']}`) | {_kb(local.bytes)} | {local.requests} | "
                     f"{_kb(local.html_bytes)} | "
                     f"{_ms(local.first_paint_ms)} | {_ms(local.fcp_ms)} | {_ms(local.load_ms)} | {_ms(slow.fcp_ms)} | "
                     f"{_ms(slow.load_ms)} | {_kb(again.bytes)}, {_ms(again.fcp_ms)} |")
    return head + "\n".join(lines) + "\n"


def what_dominates(rows: list[dict]) -> str:
    """The largest kinds of transfer of each page, to say where the bytes go."""
    out = []
    for r in rows:
        parts = sorted(r["local"].by_type.items(), key=lambda kv: -kv[1])[:3]
        out.append(f"- {r['page']}: " + ", ".join(f"{kind} {_kb(n)}" for kind, n in parts))
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=f"sqlite:///{ROOT / 'demo' / 'shequ.db'}", help="the database (the demo)")
    ap.add_argument("--runs", type=int, default=3, help="cold visits per page and link (the median is shown)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "web-benchmark.md"))
    args = ap.parse_args()
    (ROOT / "out").mkdir(exist_ok=True)
    _ensure_demo(args.db)
    port = _free_port()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with demo_server(args.db, port) as base:
        print(f"measuring {base} ({args.runs} cold visits per page and link)", flush=True)
        rows, chromium = measure(base, args.runs)
    coverage = next(r for r in rows if r["path"] == "/maps/coverage")
    local_fcp, slow_fcp = coverage["local"].fcp_ms, coverage["slow"].fcp_ms
    verdict = (f"Coverage map: {_kb(coverage['local'].bytes)} transferred (goal < 300 KB), first contentful paint "
               f"{_ms(local_fcp)} on this machine (goal < 1 s) and {_ms(slow_fcp)} at 1.6 Mbit/s (goal < 3 s).")
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    text = (
        "# Page weight and speed\n\n"
        f"Measured by `bench/web_bench.py` (`make bench-web`) on {started}: the demo (central Chengdu, "
        "`make demo`) served by `shequ serve`, each page opened in headless Chromium "
        f"{chromium} at 1440×900 with an empty cache, logged in as the user who would open it (planner; the "
        "grid manager `wangge` for the editor), "
        f"the median of {args.runs} visits. *Local*: the loopback link; *1.6 Mbit/s*: Chrome's network "
        "throttling (1.6 Mbit/s down, 0.75 up, 150 ms latency). Transferred: every response's bytes as "
        "sent (compressed, headers included). The server's caches were warm (one untimed request per page "
        "first): the figures are the browser's wait, not a first analysis. The cached visit is a second "
        "visit with the browser's cache kept.\n\n"
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}.\n\n"
        f"{verdict}\n\n" + table(rows) +
        "\nWhere the bytes go (first visit, by kind of response):\n\n" + what_dominates(rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print()
    print(table(rows))
    print(verdict)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

"""Load benchmark of the web application: concurrent users on the sheet and species pages.

Target (issue 5): 50 concurrent users on loopback for 60 s on the sheet and species pages of a
150,000-species project: no errors, p95 at most 500 ms, on SQLite and on PostgreSQL.

Serves an existing store (build one with ``benchmarks/sheet_scale.py --keep --workdir DIR``: project
``bench``) the documented production way — ``a2p serve --prepare-only`` then gunicorn
(``--workers``, ``--threads``) — and runs ``--users`` simulated users from this process for
``--seconds``. Each user has its own logged-in session (logged in before the timed window: password
hashing is deliberately slow) and loops: open a page, wait for the whole answer, read it for a
think time drawn uniformly from ``[0, 2 * --think]`` seconds (``--think 0``: no pause at all, a
stress test), go on. Pages: ``--sheet-share`` of the requests are planning-sheet pages drawn from
``SHEET_QUERIES`` (filters, text search, sort, first three pages; each with its facet counts), the
others species pages of taxa drawn at random from the whole project.

Prints, per page kind, requests, errors, median, p95 and max latency, and throughput; and the
number of distinct sheet answers asked for (each is computed once per data version and then served
from the shared cache; the first asking of each pays the full query and facet counts). Exits 1
when an error occurred or the p95 exceeds the target (``--no-check``: report only).

    .venv/bin/python benchmarks/web_load.py --store /work/bench150/bench.sqlite3
    .venv/bin/python benchmarks/web_load.py --database postgres://a2p@127.0.0.1:5432/a2p_sheet_x
    .venv/bin/python benchmarks/web_load.py --store S --think 0      # no think time: stress
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 500.0
PROJECT = "bench"
USER, PASSWORD = "loadtester", "load-tester-password-1"

#: the sheet questions of a workshop room (filters, text search, sort), first three pages each
SHEET_QUERIES: list[dict[str, str]] = [
    {},
    {"q": "category=CR"},
    {"q": "category=CR,EN,VU"},
    {"q": "category=CR,EN,VU country=ID"},
    {"q": "category=CR,EN,VU country=ID threat=7", "search": "fishing"},
    {"q": "category=CR,EN,VU country=ID threat=5.4", "search": "fishing"},
    {"q": "threat=5.4 action_needed=none"},
    {"q": "major_threat=11"},
    {"q": "year<2010", "sort": "-year_published"},
    {"search": "coral bleaching"},
    {"q": "category=EN", "sort": "category"},
    {"q": "country=PH,ID,MY"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(database: str, env: dict) -> list[str]:
    """Tables, the load tester's account (viewer of the project), and the taxon ids to visit."""
    subprocess.run(
        [sys.executable, "-m", "assess2plan.cli", "serve", "--prepare-only", "--database", database],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    code = f"""
import os, json
from assess2plan import store
store.setup({database!r})
store.migrate()
from django.contrib.auth.models import User
from assess2plan.web.app.models import ProjectMembership
from assess2plan.web.store.models import Project, Assessment
p = Project.objects.get(slug={PROJECT!r})
u, _ = User.objects.get_or_create(username={USER!r})
u.set_password({PASSWORD!r}); u.save()
ProjectMembership.objects.get_or_create(user=u, project=p, defaults={{"role": "viewer"}})
ids = list(Assessment.objects.filter(project=p, latest=True).values_list("taxon__taxon_id", flat=True))
print(json.dumps(ids))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def _login(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=120.0, follow_redirects=False)
    page = c.get("/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = c.post(
        "/login/",
        data={"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/login/"},
    )
    if r.status_code != 302:
        raise SystemExit(f"log-in failed: HTTP {r.status_code}")
    return c


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q * (len(s) - 1)))))
    return s[k]


def run(args: argparse.Namespace) -> int:
    database = args.database or f"sqlite:///{Path(args.store).resolve()}"
    home = Path(tempfile.mkdtemp(prefix="a2p-load-"))
    env = {**os.environ, "A2P_HOME": str(home), "A2P_DATABASE_URL": database}
    print(f"store: {database.split('@')[-1]}  users: {args.users}  seconds: {args.seconds}  think: {args.think} s "
          f"(uniform 0..{2 * args.think})  gunicorn: {args.workers} workers x {args.threads} threads")
    t = time.perf_counter()
    taxa = _prepare(database, env)
    print(f"prepared in {time.perf_counter() - t:.1f} s: {len(taxa):,} species in project {PROJECT!r}")
    port = _free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [gunicorn, "assess2plan.web.wsgi", "-w", str(args.workers), "--threads", str(args.threads),
         "-b", f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(base + "/login/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        t = time.perf_counter()
        clients = [_login(base) for _ in range(args.users)]
        print(f"{args.users} sessions logged in ({time.perf_counter() - t:.1f} s, not timed)")
        results: dict[str, list[float]] = {"sheet": [], "species": []}
        errors: list[str] = []
        asked: set[str] = set()
        lock = threading.Lock()
        start = time.perf_counter()
        stop = start + args.seconds

        def user(i: int, client: httpx.Client) -> None:
            # one kept-alive connection per user, as a browser has (http.client: the load generator
            # shares the 2 cores with the server, and costs far less CPU per request than httpx)
            rnd = random.Random(args.seed * 1000 + i)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while time.perf_counter() < stop:
                if rnd.random() < args.sheet_share:
                    kind = "sheet"
                    params = dict(rnd.choice(SHEET_QUERIES))
                    page = rnd.choice((1, 1, 2, 3))
                    if page > 1:
                        params["page"] = str(page)
                    url = f"/p/{PROJECT}/" + ("?" + urlencode(params) if params else "")
                else:
                    kind = "species"
                    url = f"/p/{PROJECT}/species/{rnd.choice(taxa)}/"
                t0 = time.perf_counter()
                try:
                    conn.request("GET", url, headers={"Cookie": cookie})
                    r = conn.getresponse()
                    body = r.read()
                    ok = r.status == 200 and (kind != "sheet" or b'id="sheet-summary"' in body)
                    why = f"HTTP {r.status}" if r.status != 200 else "unexpected page"
                except (OSError, http.client.HTTPException) as e:
                    ok, why = False, f"{type(e).__name__}: {e}"
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if t0 < stop:
                        results[kind].append(ms)
                        if kind == "sheet":
                            asked.add(url)
                        if not ok:
                            errors.append(f"{url}: {why}")
                if args.think > 0:
                    time.sleep(rnd.uniform(0, 2 * args.think))

        threads = [threading.Thread(target=user, args=(i, c), daemon=True) for i, c in enumerate(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - start
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    allv = results["sheet"] + results["species"]
    print()
    print("| page | requests | errors | median ms | p95 ms | max ms | req/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, vals in (*results.items(), ("all", allv)):
        errs = sum(1 for e in errors if ("/species/" in e) == (kind == "species")) if kind != "all" else len(errors)
        print(f"| {kind} | {len(vals):,} | {errs} | {statistics.median(vals) if vals else float('nan'):.0f} | "
              f"{_percentile(vals, 0.95):.0f} | {max(vals) if vals else float('nan'):.0f} | {len(vals) / elapsed:.1f} |")
    print(f"\ndistinct sheet answers asked for: {len(asked)} (each computed once, then from the shared cache)")
    for e in errors[:10]:
        print("error:", e)
    p95 = _percentile(allv, 0.95)
    if args.no_check:
        return 0
    if errors or p95 > TARGET_P95_MS:
        print(f"TARGET MISSED: {len(errors)} errors, p95 {p95:.0f} ms (target {TARGET_P95_MS:.0f} ms)")
        return 1
    print(f"target met: no errors, p95 {p95:.0f} ms <= {TARGET_P95_MS:.0f} ms")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="a SQLite store file holding project 'bench'")
    where.add_argument("--database", help="a database URL (postgres://...) holding project 'bench'")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time between pages, seconds")
    ap.add_argument("--sheet-share", type=float, default=0.5, help="share of requests that are sheet pages")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-check", action="store_true", help="only report; never fail on the target")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()

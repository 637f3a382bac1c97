#!/usr/bin/env python3
"""SCENARIO=scale (scripts/load-test starts the shops): the same mixed load against each shop given, one phase
after the other, then the last one again with one of its instances killed.

In every phase, at once:
- anonymous visitors at a fixed rate with loadgen (latency from each request's due time): the home page, catalog
  lists (filters, sorts, pages), searches with words, course pages; RATE requests/s each, CONNECTIONS each;
- STUDENTS students in a closed loop (each sends its next request when the last one answered; their latency is
  from the send): register, then order after order, each one course added from its page, the cart, the
  checkout form and its POST, the order page and the order history. Read-your-writes is checked on every write:
  the cart right after adding must hold the course, and the order page and history right after the checkout's
  303 must show the order. A read that does not, while the primary has the write, is a violation. A student
  starts again as a new student after ORDERS_PER_STUDENT orders (a course is bought once).
- the demo instructor, editing a course of theirs every EDIT_EVERY_S (5) and reading its public page at once: the
  page must show the edit. (A student's orders are always read on the primary; an instructor's course page is
  the read that goes to the replica once it has replayed the edit, so it is the one a lag could break.)
- a sampler (twice a second): the replica's lag as the instances measure it (courseshop_replica_lag_seconds, what
  decides where reads go), the connections the instances' pools hold, and the server connections PgBouncer holds.
Before and after each phase: statements per server (pg_stat_statements, when the server loads it) and the
instances' read counters (reads by target, reads kept on the primary by reason) from their /metrics.

Environment: LOADGEN, DURATION_S, WARMUP_S, RATE, CONNECTIONS, STUDENTS, ORDERS_PER_STUDENT, DATABASE (the shop's
database name), PRIMARY_ADMIN_URL and REPLICA_ADMIN_URL (the servers' postgres database), HAPROXY_CSV (HAProxy's
statistics as CSV), KILL (instance name to SIGKILL in the last phase), KILL_AT_S, LOAD_COMMAND (printed).
Arguments: LABEL=BASE_URL=METRICS_URL[,METRICS_URL...][=PGBOUNCER_ADMIN_URL] for each phase; the kill phase
repeats the last one.
"""
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from search_paths import paths as search_paths
from shop_client import KEY, Visitor, course_edit, csrf_token, percentile

env = os.environ
DURATION_S, WARMUP_S = float(env.get("DURATION_S", "30")), float(env.get("WARMUP_S", "3"))
RATE, CONNECTIONS = env.get("RATE", "50"), env.get("CONNECTIONS", "16")
STUDENTS, ORDERS_PER_STUDENT = int(env.get("STUDENTS", "4")), int(env.get("ORDERS_PER_STUDENT", "15"))
DATABASE, PRIMARY, REPLICA = env["DATABASE"], env["PRIMARY_ADMIN_URL"], env.get("REPLICA_ADMIN_URL", "")
ORDER_LINK = re.compile(r'href="/orders/([A-Za-z0-9-]+)"')
CART_LINE = re.compile(r'<li class="cart__line">.*?<a href="/courses/([^"]+)"', re.S)


def psql(url, sql):
    """One row of one query, as strings; None when the server does not answer (the replica may be down)."""
    result = subprocess.run(["psql", url, "-XtAq", "-F", "|", "-c", sql], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    lines = [line for line in result.stdout.splitlines() if line]
    return lines[0].split("|") if lines else []


def on_database(admin_url):
    """The shop's database on the server `admin_url` names."""
    return admin_url.rsplit("/", 1)[0] + "/" + DATABASE


def statements(admin_url):
    """Statements run in the shop's database on this server so far (None: pg_stat_statements not loaded)."""
    row = psql(on_database(admin_url), "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = "
                                       "(SELECT oid FROM pg_database WHERE datname = current_database())")
    return int(row[0]) if row and row[0] else None


def scrape(url):
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except (OSError, urllib.error.URLError):
        return ""


def counters(urls):
    """The instances' read counters, summed: reads by target, and reads kept on the primary by reason."""
    totals = {}
    for text in map(scrape, urls):
        for name, label, value in re.findall(
                r'^courseshop_(database_reads_total|replica_fallbacks_total)\{(?:target|reason)="([a-z_]+)"\} (\d+)',
                text, re.M):
            totals[(name, label)] = totals.get((name, label), 0) + int(value)
    return totals


class Sampler(threading.Thread):
    """Twice a second until stopped: the replica's lag as the instances measure it (the lag that decides where
    reads go), the connections the instances' pools hold, and the server connections PgBouncer holds."""

    def __init__(self, metrics_urls, pgbouncer):
        super().__init__(daemon=True)
        self.urls, self.pgbouncer, self.stop = metrics_urls, pgbouncer, threading.Event()
        self.lag_ms, self.behind_bytes, self.pools, self.servers = [], [], [], []

    def run(self):
        while not self.stop.wait(0.5):
            texts = [text for text in map(scrape, self.urls) if text]
            lags = [float(value) * 1000 for text in texts
                    for value in re.findall(r"^courseshop_replica_lag_seconds (\S+)", text, re.M)]
            if lags:
                self.lag_ms.append(max(lags))
                # finer than the instances' 200 ms polls: how much log the replica has still to replay
                written = psql(PRIMARY, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
                replayed = psql(REPLICA, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn") if REPLICA else None
                if written and replayed and written[0] and replayed[0]:
                    self.behind_bytes.append(max(0, int(float(written[0])) - int(float(replayed[0]))))
            self.pools.append(sum(int(float(value)) for text in texts for value in re.findall(
                r'^courseshop_postgres_pool_connections\{state="(?:idle|in_use)"\} (\S+)', text, re.M)))
            if self.pgbouncer:
                # SHOW POOLS: sv_active, sv_idle, sv_used, sv_tested, sv_login are server connections
                result = subprocess.run(["psql", self.pgbouncer, "-XtAq", "-F", "|", "-c", "SHOW POOLS"],
                                        capture_output=True, text=True)
                rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith(DATABASE + "|")]
                header = ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
                          "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle",
                          "sv_used", "sv_tested", "sv_login"]
                held = 0
                for row in rows:
                    fields = dict(zip(header, row))
                    held += sum(int(fields.get(name, "0") or 0) for name in
                                ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
                self.servers.append(held)


class Students:
    """STUDENTS students in a closed loop until `stop`; latency by page, read-your-writes checked."""

    def __init__(self, base, slugs):
        self.base, self.slugs, self.stop = base, slugs, threading.Event()
        self.lock = threading.Lock()
        self.latency, self.failed, self.violations, self.orders, self.notes = {}, 0, 0, 0, []

    def timed(self, visitor, page, path, form=None):
        started = time.perf_counter()
        try:
            status, body = visitor.request(path, form)
        except OSError as error:
            status, body = 0, str(error)
        took = time.perf_counter() - started
        with self.lock:
            self.latency.setdefault(page, []).append(took)
            if status not in (200, 303):
                self.failed += 1
                self.notes.append(f"{page} ({'POST' if form else 'GET'} {path.split('?')[0]}) answered "
                                  f"{status or body}")
        return status, body

    def violation(self, what, on_primary):
        """A read through the front door missed the client's own write; `on_primary` (SQL giving a count) says
        whether the primary holds it, as a read-your-writes violation needs."""
        row = psql(on_database(PRIMARY), on_primary)
        with self.lock:
            self.violations += 1
            self.notes.append(f"{what} (the primary: {row[0] if row else '?'})")

    def student(self, number):
        offset = number * 997
        while not self.stop.is_set():
            visitor, email = Visitor(self.base), f"scale-{uuid.uuid4().hex[:12]}@example.com"
            _, page = self.timed(visitor, "register", "/register")
            status, _ = self.timed(visitor, "register", "/register", {
                "csrf_token": csrf_token(page), "email": email,
                "display_name": f"Scale student {number}", "password": "load-test-password"})
            if status != 303:
                time.sleep(0.2)
                continue
            for k in range(ORDERS_PER_STUDENT):
                if self.stop.is_set():
                    return
                slug = self.slugs[(offset + k) % len(self.slugs)]
                _, page = self.timed(visitor, "course page", f"/courses/{slug}")
                status, _ = self.timed(visitor, "cart add", "/cart/items",
                                       {"csrf_token": csrf_token(page), "course": slug})
                if status != 303:
                    continue
                _, cart = self.timed(visitor, "cart", "/cart")
                if slug not in CART_LINE.findall(cart):
                    with self.lock:
                        self.violations += 1
                        self.notes.append(f"the cart right after adding {slug} did not hold it")
                _, form = self.timed(visitor, "checkout form", "/checkout")
                key = KEY.search(form)
                if not key:
                    continue
                status, _ = self.timed(visitor, "checkout", "/checkout", {
                    "csrf_token": csrf_token(form), "idempotency_key": key.group(1),
                    "card_number": "4242 4242 4242 4242"})
                location = visitor.last_location
                if status != 303 or not location:
                    continue
                with self.lock:
                    self.orders += 1
                order = location.rsplit("/", 1)[-1]
                status, _ = self.timed(visitor, "order page", location)
                orders_on_primary = (f"SELECT count(*) || ' orders of {email}' FROM orders o "
                                     f"JOIN users u ON u.id = o.user_id WHERE u.email = '{email}'")
                if status != 200:
                    self.violation(f"the order page right after the checkout answered {status}", orders_on_primary)
                _, history = self.timed(visitor, "order history", "/orders")
                if order not in ORDER_LINK.findall(history):
                    self.violation("the order history right after the checkout did not list the order",
                                   orders_on_primary)
            offset += ORDERS_PER_STUDENT


class Instructor(threading.Thread):
    """The demo instructor edits a course of theirs every EDIT_EVERY_S and reads its public page at once: the page
    must show the edit (the read goes to the replica only once it has replayed the edit, else to the primary)."""

    def __init__(self, base, students):
        super().__init__(daemon=True)
        self.base, self.students, self.stop, self.edits = base, students, threading.Event(), 0

    def run(self):
        visitor = Visitor(self.base)
        _, page = visitor.request("/login")
        status, _ = visitor.request("/login", {"csrf_token": csrf_token(page),
                                               "email": "instructor@courseshop.example",
                                               "password": "courseshop-demo"})
        _, mine = visitor.request("/teach/courses")
        slugs = re.findall(r'href="/teach/courses/([^"/]+)/edit"', mine)
        if status != 303 or not slugs:
            with self.students.lock:
                self.students.notes.append("the demo instructor could not sign in or has no course")
            return
        slug = slugs[0]
        while not self.stop.wait(float(env.get("EDIT_EVERY_S", "5"))):
            _, form = self.students.timed(visitor, "edit form", f"/teach/courses/{slug}/edit")
            mark = f"Revision {uuid.uuid4().hex[:10]} of this course."
            edit = course_edit(form, mark)
            if not edit:
                continue
            self.edits += 1
            status, _ = self.students.timed(visitor, "course edit", f"/teach/courses/{slug}", edit)
            if status != 303:
                continue
            _, public = self.students.timed(visitor, "edited course page", f"/courses/{slug}")
            if mark not in public:
                self.students.violation("the course page right after the instructor's edit did not show it",
                                        f"SELECT count(*) || ' courses with the edit' FROM courses "
                                        f"WHERE slug = '{slug}' AND summary = '{mark}'")


def kill_instance(name, csv_url, at_s, outcome):
    """SIGKILLs the instance started with SHOP_INSTANCE=name after at_s, then times until HAProxy marks it DOWN."""
    time.sleep(at_s)
    pid = None
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if f"SHOP_INSTANCE={name}".encode() in environ.read().split(b"\0"):
                    pid = int(entry)
                    break
        except (OSError, ValueError):
            continue
    if pid is None:
        outcome["error"] = f"no process runs as {name}"
        return
    os.kill(pid, signal.SIGKILL)
    killed = time.perf_counter()
    while time.perf_counter() - killed < 30:
        try:
            csv = urllib.request.urlopen(csv_url, timeout=2).read().decode()
        except (OSError, urllib.error.URLError):
            csv = ""
        lines = csv.splitlines()
        if lines:
            header = lines[0].lstrip("# ").split(",")
            name_at, status_at = header.index("svname"), header.index("status")
            for line in lines[1:]:
                fields = line.split(",")
                if len(fields) > status_at and fields[name_at] == name and fields[status_at].startswith("DOWN"):
                    outcome["out_after_s"] = time.perf_counter() - killed
                    return
        time.sleep(0.05)
    outcome["error"] = f"HAProxy did not mark {name} DOWN within 30 s"


def url_files(base, work):
    """The anonymous visitors' paths: catalog lists, searches and course pages of the catalog at `base`."""
    slugs = []
    for page in range(1, 11):
        _, body = Visitor(base).request(f"/courses?page={page}&sort=newest")
        slugs += re.findall(r'card__title"><a href="/courses/([^"]+)"', body)
    if not slugs:
        sys.exit(f"no courses found at {base}")
    lists = [f"/courses?level={level}&sort={sort}&page={page}" for level in ("beginner", "intermediate", "advanced")
             for sort in ("newest", "price_asc", "price_desc") for page in (1, 2, 3)] + \
            [f"/courses?page={page}" for page in range(1, 11)]
    files = {"home": ["/"], "catalog": lists, "search": list(search_paths(2000, 7)),
             "course": [f"/courses/{slug}" for slug in slugs]}
    for name, lines in files.items():
        with open(os.path.join(work, name), "w") as out:
            out.write("\n".join(lines) + "\n")
    return slugs


def phase(label, base, metrics_urls, pgbouncer, work, kill=None):
    slugs = url_files(base, work)
    statements_before = (statements(PRIMARY), statements(REPLICA) if REPLICA else None)
    counters_before = counters(metrics_urls)
    sampler, students = Sampler(metrics_urls, pgbouncer), Students(base, slugs)
    report = os.path.join(work, f"{label}.json")
    loadgen = subprocess.Popen(
        [env["LOADGEN"], "--base", base, "--rate", RATE, "--connections", CONNECTIONS, "--warmup", f"{WARMUP_S}s",
         "--duration", f"{DURATION_S}s", "--json-out", report]
        + [arg for name in ("home", "catalog", "search", "course")
           for arg in ("--target", f"{name}=@{os.path.join(work, name)}")],
        stdout=subprocess.DEVNULL)
    outcome = {}
    killer = None
    if kill:
        killer = threading.Thread(target=kill_instance, args=(kill, env["HAPROXY_CSV"], WARMUP_S + float(
            env.get("KILL_AT_S", "5")), outcome), daemon=True)
        killer.start()
    sampler.start()
    instructor = Instructor(base, students)
    instructor.start()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(STUDENTS) as pool:
        runs = [pool.submit(students.student, number) for number in range(STUDENTS)]
        loadgen.wait()
        students.stop.set()
        for run in runs:
            run.result()
    elapsed = time.perf_counter() - started
    instructor.stop.set()
    instructor.join()
    sampler.stop.set()
    sampler.join()
    if killer:
        killer.join()
    statements_after = (statements(PRIMARY), statements(REPLICA) if REPLICA else None)
    counters_after = counters(metrics_urls)
    with open(report) as file:
        summary = json.load(file)
    delta = lambda after, before: None if after is None or before is None else (after - before) / elapsed
    return {"label": label, "elapsed": elapsed, "loadgen": summary, "students": students, "sampler": sampler,
            "statements": [delta(a, b) for a, b in zip(statements_after, statements_before)],
            "reads": {key: value - counters_before.get(key, 0) for key, value in counters_after.items()},
            "kill": outcome if kill else None}


def table(results):
    width = 24
    heads = [r["label"] for r in results]
    print()
    print(f"{'':<34}" + "".join(f"{h:>{width}}" for h in heads))
    row = lambda name, cells: print(f"{name:<34}" + "".join(f"{c:>{width}}" for c in cells))
    def answered(r):
        targets = r["loadgen"]["targets"]
        anonymous = sum(t["responses"]["2xx"] for t in targets) / r["loadgen"]["duration_s"]
        student = sum(len(v) for v in r["students"].latency.values()) / r["elapsed"]
        return f"{anonymous + student:.0f} ({anonymous:.0f}+{student:.0f})"
    row("requests/s (anonymous+students)", [answered(r) for r in results])
    for name in ("home", "catalog", "search", "course"):
        cells = []
        for r in results:
            t = next(t for t in r["loadgen"]["targets"] if t["name"] == name)
            cells.append(f"{t['latency_ms']['p50']:.1f} / {t['latency_ms']['p99']:.1f} ms")
        row(f"  {name} p50 / p99 (fixed rate)", cells)
    pages = ["course page", "cart add", "cart", "checkout form", "checkout", "order page", "order history",
             "course edit", "edited course page"]
    for page in pages:
        cells = []
        for r in results:
            values = r["students"].latency.get(page, [])
            cells.append(f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} ms" if values else "-")
        row(f"  {page} p50 / p99 (students)", cells)
    row("orders placed", [str(r["students"].orders) for r in results])
    def failed(r):
        anonymous = sum(t["errors"] + t["timeouts"] + t["responses"]["5xx"] for t in r["loadgen"]["targets"])
        return f"{anonymous + r['students'].failed}"
    row("failed requests (errors, 5xx)", [failed(r) for r in results])
    row("  404s (search pages past the last)",
        [str(sum(t["responses"]["4xx"] for t in r["loadgen"]["targets"])) for r in results])
    fmt = lambda v: "n/a" if v is None else f"{v:.0f}"
    row("statements/s primary", [fmt(r["statements"][0]) for r in results])
    def replica(r):
        primary, replica = r["statements"]
        if replica is None:
            return "-"
        share = replica / (replica + primary) * 100 if primary else 0
        return f"{replica:.0f} ({share:.0f}%)"
    row("statements/s replica (share)", [replica(r) for r in results])
    reads = lambda r, kind, label: r["reads"].get((kind, label), 0)
    def routed(r):
        replica = reads(r, "database_reads_total", "replica")
        total = replica + reads(r, "database_reads_total", "primary")
        return "-" if not total else f"{replica / total * 100:.0f}% of {total}"
    row("routed reads answered by the replica", [routed(r) for r in results])
    reasons = sorted({label for r in results for kind, label in r["reads"] if kind == "replica_fallbacks_total"})
    for reason in reasons:
        row(f"  kept on the primary: {reason}",
            [str(reads(r, "replica_fallbacks_total", reason)) for r in results])
    def lag(r):
        values = r["sampler"].lag_ms
        # percentile() takes seconds and gives milliseconds; these are milliseconds already
        return "-" if not values else f"{percentile(values, 50) / 1000:.0f} / {percentile(values, 99) / 1000:.0f} ms"
    row("replica lag p50 / p99 (instances)", [lag(r) for r in results])
    def behind(r):
        values = r["sampler"].behind_bytes
        return "-" if not values else f"{percentile(values, 50) / 1000:.0f} / {percentile(values, 99) / 1000:.0f} B"
    row("  log not yet replayed p50 / p99", [behind(r) for r in results])
    row("read-your-writes violations", [str(r["students"].violations) for r in results])
    held = lambda values: "-" if not values else f"{max(values)}"
    row("the shop's pool connections (max)", [held(r["sampler"].pools) for r in results])
    row("PgBouncer's server connections (max)", [held(r["sampler"].servers) for r in results])
    for r in results:
        if r["kill"] is not None:
            k = r["kill"]
            out = f"{k['out_after_s']:.2f} s" if "out_after_s" in k else k.get("error", "?")
            row("killed instance: out of HAProxy after", [out if x is r else "" for x in results])
    generator = [r["loadgen"]["generator"]["cpu_share"] for r in results]
    row("loadgen CPU (of one core)", ["?" if g is None else f"{g * 100:.1f}%" for g in generator])
    for r in results:
        for note in r["students"].notes[:5]:
            print(f"  {r['label']}: {note}")
        for target in r["loadgen"]["targets"]:
            if target.get("first_error"):
                print(f"  {r['label']}: {target['name']}: {target['errors']} errors, the first: {target['first_error']}")


def main():
    phases = [(arg.split("=", 3) + [""])[:4] for arg in sys.argv[1:]]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for label, base, urls, pgbouncer in phases:
            print(f"==> {label}: {DURATION_S:.0f} s of mixed load on {base}", flush=True)
            results.append(phase(label, base, urls.split(","), pgbouncer, work))
        if env.get("KILL"):
            label, base, urls, pgbouncer = phases[-1]
            print(f"==> {label}, {env['KILL']} SIGKILLed {env.get('KILL_AT_S', '5')} s in", flush=True)
            results.append(phase(f"{label}, one killed", base, urls.split(","), pgbouncer, work, kill=env["KILL"]))
    table(results)
    print(f"(command: {env.get('LOAD_COMMAND', 'SCENARIO=scale ./scripts/load-test')}; anonymous pages at "
          f"{RATE}/s each on {CONNECTIONS} connections, latency from the due time; {STUDENTS} students in a "
          f"closed loop, latency from the send)")
    if any(r["students"].violations for r in results):
        sys.exit(1)


main()

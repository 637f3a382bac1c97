#!/usr/bin/env python3
"""Enrollment load scenario (loopback only): synchronous enrollment (step 3, in the checkout transaction)
against asynchronous enrollment (step 4: outbox -> RabbitMQ -> enrollment-worker), on two shops of one
database. scripts/load-test starts the shops; this script starts and stops the worker itself.

Phase A  the same students against both shops at once (interleaved, one pool of CONCURRENCY clients, as
         carts.py does): each registers, adds PER_ORDER courses through the real forms and checks out with
         the test card. Times every POST /checkout up to its 303. Then waits until every step-4 order is
         enrolled and reads checkout-to-enrolled lag (orders.updated_at - orders.created_at) from PostgreSQL.
Phase B  stops the worker (SIGTERM), places BACKLOG orders on the step-4 shop, checks they are all paid and
         published to the queue, starts the worker and times until its /metrics counts them all enrolled.

Usage: enrollment.py STUDENTS CONCURRENCY PER_ORDER BACKLOG sync=BASE_URL async=BASE_URL
Environment: DATABASE_URL, WORKER_BIN, WORKER_PORT, WORKER_LOG, WORKER_PID_FILE, LOAD_TAG (marks this run's
students' email domains), RABBITMQ_URL, RABBITMQ_NAME_PREFIX (for the worker and the queue check),
LOAD_COMMAND (printed with the results).
"""
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from shop_client import Visitor, check_out, percentile, published_slugs, register

STUDENTS, CONCURRENCY, PER_ORDER, BACKLOG = (int(arg) for arg in sys.argv[1:5])
SHOPS = dict(arg.split("=", 1) for arg in sys.argv[5:7])
DATABASE_URL = os.environ["DATABASE_URL"]
WORKER_BIN = os.environ["WORKER_BIN"]
WORKER_PORT = int(os.environ["WORKER_PORT"])
WORKER_LOG = os.environ["WORKER_LOG"]
WORKER_PID_FILE = os.environ["WORKER_PID_FILE"]
TAG = os.environ["LOAD_TAG"]
PREFIX = os.environ.get("RABBITMQ_NAME_PREFIX", "")
ENROLLED = re.compile(r'^courseshop_enrollment_messages_total\{outcome="([a-z_]+)"\} (\d+)', re.M)
LAG_TIMEOUT_S = 60
BACKLOG_ORDERS_PER_STUDENT = 5
PHASES = {"sync": "step 3 (sync)", "async": "step 4 (async)"}


def domain(group):
    """Each group of students gets an email domain of its own, so orders map to groups by a join."""
    return f"{group}-{TAG}.load.example"


def psql(sql):
    result = subprocess.run(["psql", DATABASE_URL, "-XtAq", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"psql failed: {result.stderr.strip()}\n{sql}")
    return [line.split("|") for line in result.stdout.splitlines() if line]


def orders_of(group, what):
    return (f"SELECT {what} FROM orders o JOIN users u ON u.id = o.user_id "
            f"WHERE u.email LIKE '%@{domain(group)}'")


def journey(base, group, number, slugs, orders=1):
    """One student: register, then `orders` times fill the cart and check out (other courses each time).
    Returns one (checkout seconds or None, error or None) an order, or a single error."""
    student = Visitor(base)
    outcomes = []
    try:
        status = register(student, f"load-{uuid.uuid4().hex[:16]}@{domain(group)}", f"Load student {number}")
        if status != 303:
            return [(None, f"register answered {status}")]
        for order in range(orders):
            first = (number * orders + order) * PER_ORDER
            for k in range(PER_ORDER):
                status, _ = student.add_to_cart(slugs[(first + k) % len(slugs)])
                if status != 303:
                    return outcomes + [(None, f"cart add answered {status}")]
            status, took = check_out(student)
            outcomes.append((took, None if status == 303 else f"checkout answered {status}"))
        return outcomes
    except Exception as error:  # noqa: BLE001 - every failure is counted and shown, none stops the run
        return outcomes + [(None, f"{type(error).__name__}: {error}")]


class Tally:
    def __init__(self):
        self.checkouts, self.errors, self.finished, self.placed = [], [], 0.0, 0

    def add(self, outcomes, finished):
        for took, error in outcomes:
            if took is not None:
                self.checkouts.append(took)  # a non-303 checkout is timed too, and counted as an error
                self.placed += error is None
            if error:
                self.errors.append(error)
        self.finished = max(self.finished, finished)

    def ok(self):
        return self.placed


def run_students(jobs, slugs):
    """jobs: (label, base, group, number, orders). Returns ({label: Tally}, start time)."""
    tallies = {label: Tally() for label, *_ in jobs}
    started = time.perf_counter()

    def one(job):
        label, base, group, number, orders = job
        outcome = journey(base, group, number, slugs, orders)
        return label, outcome, time.perf_counter()

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        for label, outcome, finished in pool.map(one, jobs):
            tallies[label].add(outcome, finished)
    return tallies, started


# --- the worker ------------------------------------------------------------------------------------
def worker_url(path):
    return f"http://127.0.0.1:{WORKER_PORT}{path}"


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return None, ""


def worker_outcomes():
    _, body = http_get(worker_url("/metrics"))
    return {outcome: int(count) for outcome, count in ENROLLED.findall(body)}


class Worker:
    def __init__(self):
        self.process = None

    def start(self):
        with open(WORKER_LOG, "a") as log:
            self.process = subprocess.Popen([WORKER_BIN], stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "RUST_LOG": "warn", "LOG_FORMAT": "pretty"})
        with open(WORKER_PID_FILE, "w") as pid_file:
            pid_file.write(str(self.process.pid))

    def wait_ready(self, timeout=30):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the enrollment worker exited with {self.process.returncode} (see {WORKER_LOG})")
            if http_get(worker_url("/readyz"))[0] == 200:
                return
            time.sleep(0.05)
        sys.exit(f"the enrollment worker was not ready within {timeout} s (see {WORKER_LOG})")

    def stop(self):
        """SIGTERM, as a platform stops it; returns its exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return "killed after 30 s"
        finally:
            if os.path.exists(WORKER_PID_FILE):
                os.remove(WORKER_PID_FILE)


# --- the figures -----------------------------------------------------------------------------------
def wait_enrolled(group, expected, timeout=LAG_TIMEOUT_S):
    """Polls PostgreSQL until all `expected` orders of the group are enrolled; fails loudly otherwise."""
    deadline = time.perf_counter() + timeout
    while True:
        [[total, paid]] = psql(orders_of(group, "count(*), count(*) FILTER (WHERE o.status = 'paid')"))
        if int(total) == expected and int(paid) == 0:
            return
        if time.perf_counter() > deadline:
            sys.exit(f"FAILED: {paid} of {total} {group} orders (expected {expected}) still not enrolled "
                     f"{timeout} s after the last checkout (worker log: {WORKER_LOG})")
        time.sleep(0.2)


def lags_ms(group):
    rows = psql(orders_of(group, "extract(epoch FROM o.updated_at - o.created_at)") + " AND o.status = 'enrolled'")
    return [float(seconds) for [seconds] in rows]


def queue_depth():
    """Messages ready in the run's main queue (rabbitmqctl on this machine), or None when not available."""
    if not shutil.which("rabbitmqctl"):
        return None
    result = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages"],
                            capture_output=True, text=True, timeout=60)
    for line in result.stdout.splitlines():
        name, _, count = line.partition("\t")
        if name == f"{PREFIX}enrollment.order-placed":
            return int(count)
    return None


def ms(seconds_list, p):
    return f"{percentile(seconds_list, p):.1f} ms" if seconds_list else "-"


def main():
    sync_base, async_base = SHOPS["sync"], SHOPS["async"]
    slugs = published_slugs(sync_base)
    if not slugs:
        sys.exit("no courses found at " + sync_base)
    failures = []
    worker = Worker()
    try:
        worker.start()
        worker.wait_ready()

        # warm-up, not counted: each shop's pools, caches and the broker connection are opened
        warmup, _ = run_students([(label, SHOPS[label], "warmup", n, 1) for n in range(CONCURRENCY) for label in SHOPS],
                                 slugs)
        for label, tally in warmup.items():
            failures += [f"warm-up {label}: {e}" for e in tally.errors]

        # --- phase A --------------------------------------------------------------------------------
        print(f"phase A: {STUDENTS} students a shop, both shops at once, {CONCURRENCY} clients in all, "
              f"{PER_ORDER} courses an order (load average before: {os.getloadavg()[0]:.2f})", flush=True)
        jobs = [(label, SHOPS[label], label, n, 1) for n in range(STUDENTS) for label in ("sync", "async")]
        phase_a, started_a = run_students(jobs, slugs)
        for label, tally in phase_a.items():
            failures += [f"phase A {label}: {e}" for e in tally.errors]
        if not (phase_a["sync"].ok() and phase_a["async"].ok()):
            sys.exit("FAILED: no successful checkout on one of the shops:\n  " + "\n  ".join(failures[:20]))
        print(f"phase A: done in {max(t.finished for t in phase_a.values()) - started_a:.1f} s; waiting until "
              f"every step-4 order is enrolled", flush=True)
        wait_enrolled("async", phase_a["async"].ok())
        wait_enrolled("warmup", sum(tally.ok() for tally in warmup.values()))
        lag = {label: lags_ms(label) for label in SHOPS}
        [[sync_total, sync_paid]] = psql(orders_of("sync", "count(*), count(*) FILTER (WHERE o.status = 'paid')"))
        if int(sync_total) != phase_a["sync"].ok() or int(sync_paid) != 0:
            failures.append(f"step 3: {sync_total} orders, {sync_paid} not enrolled (expected "
                            f"{phase_a['sync'].ok()}, all enrolled at checkout)")
        throughput = {label: tally.ok() / (tally.finished - started_a) for label, tally in phase_a.items()}

        # --- phase B --------------------------------------------------------------------------------
        status = worker.stop()
        if status != 0:
            failures.append(f"the worker did not stop cleanly on SIGTERM: exit status {status}")
        print(f"phase B: worker stopped (SIGTERM, exit {status}); placing a backlog of {BACKLOG} orders on "
              f"step 4 with {CONCURRENCY} clients", flush=True)
        # several orders a student, so placing the backlog is not mostly argon2id hashing at registration
        per_student = max(1, min(BACKLOG_ORDERS_PER_STUDENT, len(slugs) // PER_ORDER))
        placing, started_b = run_students(
            [("async", async_base, "backlog", n, min(per_student, BACKLOG - n * per_student))
             for n in range(-(-BACKLOG // per_student))], slugs)
        backlog = placing["async"]
        failures += [f"phase B backlog: {e}" for e in backlog.errors]
        placed_per_s = backlog.ok() / (backlog.finished - started_b)
        [[total, paid]] = psql(orders_of("backlog", "count(*), count(*) FILTER (WHERE o.status = 'paid')"))
        if int(total) != backlog.ok() or int(paid) != backlog.ok():
            failures.append(f"backlog: {total} orders, {paid} paid; expected {backlog.ok()} all paid")
        deadline = time.perf_counter() + 60
        while int(psql("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]) > 0:
            if time.perf_counter() > deadline:
                sys.exit("FAILED: the outbox relay did not publish the backlog within 60 s")
            time.sleep(0.1)
        depth = queue_depth()
        if depth is not None and depth != backlog.ok():
            failures.append(f"backlog: {depth} messages in {PREFIX}enrollment.order-placed, expected {backlog.ok()}")
        print(f"phase B: placed in {backlog.finished - started_b:.1f} s; {total} orders paid, outbox published, {depth if depth is not None else '?'} messages "
              f"waiting in {PREFIX}enrollment.order-placed; starting the worker", flush=True)

        started = time.perf_counter()
        worker.start()
        ready = first = None
        timeout = max(60.0, backlog.ok() / 5)
        while True:
            outcomes = worker_outcomes()
            now = time.perf_counter()
            if ready is None and outcomes:
                ready = now  # /metrics answers: the process is up
            if first is None and outcomes.get("enrolled", 0) > 0:
                first = now
            if outcomes.get("enrolled", 0) >= backlog.ok():
                done = now
                break
            if now - started > timeout or worker.process.poll() is not None:
                sys.exit(f"FAILED: the worker enrolled {outcomes.get('enrolled', 0)} of {backlog.ok()} in "
                         f"{now - started:.1f} s (outcomes {outcomes}; log {WORKER_LOG})")
            time.sleep(0.05)
        wait_enrolled("backlog", backlog.ok(), timeout=10)
        for outcome in ("retried", "dead_lettered"):
            if outcomes.get(outcome):
                failures.append(f"drain: {outcomes[outcome]} messages {outcome}")
        [[span]] = psql(orders_of("backlog", "extract(epoch FROM max(o.updated_at) - min(o.updated_at))"))
        drain_wall = backlog.ok() / (done - started)
        drain_steady = (backlog.ok() - 1) / float(span) if float(span) > 0 else float("inf")
        status = worker.stop()
        if status != 0:
            failures.append(f"the worker did not stop cleanly on SIGTERM: exit status {status}")
    finally:
        worker.stop()

    # --- the report ---------------------------------------------------------------------------------
    sync, asyn = phase_a["sync"], phase_a["async"]
    print()
    print("| mode | checkouts | failures | checkout p50 | checkout p99 | orders/s in phase A "
          "| enrolled lag p50 | lag p99 | drain from a backlog |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {PHASES['sync']} | {len(sync.checkouts)} | {len(sync.errors)} | {ms(sync.checkouts, 50)} "
          f"| {ms(sync.checkouts, 99)} | {throughput['sync']:.1f} | {ms(lag['sync'], 50)} | {ms(lag['sync'], 99)} "
          f"| no backlog (enrolls at checkout): checkout rate {throughput['sync']:.1f} orders/s in phase A |")
    print(f"| {PHASES['async']} | {len(asyn.checkouts)} | {len(asyn.errors)} | {ms(asyn.checkouts, 50)} "
          f"| {ms(asyn.checkouts, 99)} | {throughput['async']:.1f} | {ms(lag['async'], 50)} "
          f"| {ms(lag['async'], 99)} | {drain_steady:.0f} orders/s ({drain_wall:.0f}/s from worker start) |")
    print()
    print(f"ratio step 4 / step 3 checkout: p50 x{percentile(asyn.checkouts, 50) / percentile(sync.checkouts, 50):.2f}, "
          f"p99 x{percentile(asyn.checkouts, 99) / percentile(sync.checkouts, 99):.2f}")
    print(f"step 3 lag is 0 by construction: the order is inserted as enrolled in the checkout transaction "
          f"(created_at = updated_at); measured max {max(lag['sync'], default=0) * 1000:.1f} ms over "
          f"{len(lag['sync'])} orders")
    print(f"step 4 lag (outbox relay -> RabbitMQ -> worker): {len(lag['async'])} orders, max "
          f"{max(lag['async'], default=0) * 1000:.1f} ms; lag = orders.updated_at - orders.created_at, from the "
          f"checkout transaction's start to the enrolling transaction's start")
    print(f"orders/s in phase A: each shop's successful checkouts over the phase. The {CONCURRENCY} clients "
          f"alternate students between the shops and each order includes registering (argon2id) and filling the "
          f"cart, so both shops move at the same client-bound pace: a rate of the whole machine, not a shop's "
          f"capacity. It stands in the drain column for step 3 because step 3 enrolls at checkout and never "
          f"has a backlog")
    print(f"backlog: {backlog.ok()} orders placed on step 4 with the worker stopped ({per_student} a student) at "
          f"{placed_per_s:.1f} orders/s (checkout p50 {ms(backlog.checkouts, 50)}, p99 {ms(backlog.checkouts, 99)}); worker "
          f"started -> /metrics up {ready - started:.2f} s -> first enrolled {first - started:.2f} s -> "
          f"all {backlog.ok()} enrolled {done - started:.2f} s; first->last enrollment in PostgreSQL "
          f"{float(span):.2f} s = {drain_steady:.0f} orders/s (WORKER_PREFETCH "
          f"{os.environ.get('WORKER_PREFETCH', 'default 10')})")
    print(f"machine: everything on {os.cpu_count()} cores: both shops, the worker, PostgreSQL, Redis, RabbitMQ, "
          f"the local Cosmos DB server and these clients")
    print(f"command: {os.environ.get('LOAD_COMMAND', 'SCENARIO=enrollment ./scripts/load-test')}")
    non_303 = sum("checkout answered" in failure for failure in failures)
    print(f"failures: {len(failures)} (non-303 checkouts: {non_303}, other errors: {len(failures) - non_303})")
    for failure in failures[:20]:
        print(f"  {failure}")
    sys.exit(1 if failures else 0)


main()

#!/usr/bin/env python3
"""SCENARIO=soak (scripts/load/soak.sh starts the shop and its stores): a fixed-rate mixed population through the
front door for DURATION_S, the faults of the design's failure table one after another on a fixed schedule, then
the invariants checked from the stores and from what every client was told.

The population (each class at its own fixed rate; a tick is one request of one client, latency counted from when
the tick was due, so a client kept waiting by a stalled shop shows in the figures):
- anonymous visitors (ANON_RATE/s): the home page, catalog lists, searches, course pages;
- visitors editing carts (CART_RATE/s of requests): a course page, add it, now and then remove a line;
- students (STUDENT_RATE/s of requests): register, then course page, add, checkout form, checkout (every
  DECLINE_EVERY-th with the declined card), order page; signed in again whenever the shop asks;
- the demo instructor (one edit every EDIT_EVERY_S): the course's summary, its price unchanged.

What each client was told is kept: the cart lines it added and did not remove (only those answered 303 count as
certain), the orders it was redirected to, the checkouts left without an answer (a timeout or a 5xx: the order
may exist; the client retries the same form, as a person pressing again does, and the rest counts apart).

The faults (soak_faults.py): each held HOLD_S, then undone with no restart of the shop or the workers. The report,
the chart and the invariants are soak_report.py's.
"""
import os
import queue
import random
import re
import resource
import sys
import threading
import time
import uuid

from search_paths import paths as search_paths
from shop_client import KEY, Visitor, course_edit, csrf_token
from soak_faults import Faults, schedule
from soak_report import Record, check_invariants, psql, write_report

env = os.environ
BASE, DURATION_S = env.get("BASE", "http://127.0.0.1:8680"), float(env.get("DURATION_S", "300"))
RUN = env.get("RUN", uuid.uuid4().hex[:8])
ANON_RATE, CART_RATE = float(env.get("ANON_RATE", "24")), float(env.get("CART_RATE", "8"))
STUDENT_RATE, EDIT_EVERY_S = float(env.get("STUDENT_RATE", "10")), float(env.get("EDIT_EVERY_S", "5"))
DECLINE_EVERY = int(env.get("DECLINE_EVERY", "7"))
CART_LINE = re.compile(r'<li class="cart__line">\s*<div>\s*<a href="/courses/([^"]+)"'
                       r'.*?action="/cart/items/(\d+)/delete"', re.S)
ORDER_PATH = re.compile(r"^/orders/([0-9A-Za-z-]+)$")
TIMEOUT_S = float(env.get("CLIENT_TIMEOUT_S", "10"))


class Client:
    """One browser of the population: its cookies, its place in its flow, what it was told."""

    def __init__(self, kind, number, slugs):
        self.kind, self.number = kind, number
        self.visitor = Visitor(BASE, timeout=TIMEOUT_S)
        self.slugs = slugs
        self.step, self.page, self.slug = "start", "", None
        self.cart = set()          # lines the shop confirmed (303) and the client did not remove
        self.maybe = set()         # lines whose add or remove got no clear answer
        self.bought = set()
        self.email = f"soak-{RUN}-{kind}-{number}@example.com"
        self.orders = {}           # order id told (readable) -> the courses in the cart when it was placed
        self.unconfirmed = 0       # checkouts that got no answer even after their retries
        self.checkouts = 0
        self.form = None           # a checkout form being submitted (kept for a retry with the same key)
        self.tries = 0
        self.resume = None         # the step to go back to after signing in again


class Population:
    def __init__(self, slugs, anonymous_paths):
        self.records, self.lock = [], threading.Lock()
        self.stop = threading.Event()
        self.anonymous_paths = anonymous_paths
        rng = random.Random(1)
        shuffled = slugs[:]
        rng.shuffle(shuffled)
        self.clients = {
            "anonymous": [Client("anon", n, slugs) for n in range(12)],
            "cart": [Client("visitor", n, shuffled[n * 7:] + shuffled[:n * 7]) for n in range(8)],
            "student": [Client("student", n, shuffled[n * 11:] + shuffled[:n * 11]) for n in range(8)],
        }
        self.rng = rng

    # --- one request, timed from its due time -----------------------------------------------------------
    def send(self, client, page, due, path, form=None):
        try:
            status, body = client.visitor.request(path, form)
        except OSError as error:  # a timeout or a refused connection: no answer
            status, body = 0, str(error)
        with self.lock:
            self.records.append(Record(due, time.monotonic(), status, client.kind, page))
        return status, body

    def submit(self, client, page, due, path, fields):
        """Post a form with the CSRF token of the page it came from: the client's last page."""
        return self.send(client, page, due, path, {"csrf_token": csrf_token(client.page), **fields})

    # --- the flows ---------------------------------------------------------------------------------------
    def anonymous(self, client, due):
        self.send(client, "browse", due, self.rng.choice(self.anonymous_paths))

    def cart_visitor(self, client, due):
        if client.step in ("start", "course"):
            client.slug = client.slugs[client.number % len(client.slugs)]
            client.slugs = client.slugs[1:] + client.slugs[:1]
            _, client.page = self.send(client, "course page", due, f"/courses/{client.slug}")
            client.step = "add"
        elif client.step == "add":
            status, _ = self.submit(client, "cart add", due, "/cart/items", {"course": client.slug})
            self.told(client, client.slug, status, adding=True)
            client.step = "cart" if len(client.cart) > 3 else "course"
        elif client.step == "cart":
            status, client.page = self.send(client, "cart", due, "/cart")
            client.step = "remove" if status == 200 else "course"
        elif client.step == "remove":
            lines = dict(CART_LINE.findall(client.page))
            sure = sorted(client.cart & set(lines))
            if sure:
                slug = self.rng.choice(sure)
                status, _ = self.submit(client, "cart remove", due, f"/cart/items/{lines[slug]}/delete", {})
                self.told(client, slug, status, adding=False)
            client.step = "course"

    def told(self, client, slug, status, adding):
        """What a cart answer means for the lines the client can count on."""
        if status == 303:
            (client.cart.add if adding else client.cart.discard)(slug)
            client.maybe.discard(slug)
        elif status == 0 or status >= 500:
            client.maybe.add(slug)
            if not adding:
                client.cart.discard(slug)

    def student(self, client, due):
        step = client.step
        if step == "start":
            client.email = f"soak-{RUN}-student-{client.number}-{uuid.uuid4().hex[:6]}@example.com"
            _, client.page = self.send(client, "register form", due, "/register")
            client.step = "register"
        elif step == "register":
            status, _ = self.submit(client, "register", due, "/register", {
                "email": client.email, "display_name": f"Soak student {client.number}",
                "password": "soak-test-password"})
            client.step = "course" if status == 303 else "start"
            if status == 303:
                client.cart, client.maybe, client.bought = set(), set(), set()
        elif step == "login form":
            _, client.page = self.send(client, "login form", due, "/login")
            client.step = "login"
        elif step == "login":
            status, _ = self.submit(client, "login", due, "/login",
                                    {"email": client.email, "password": "soak-test-password"})
            client.step = (client.resume or "course") if status == 303 else "login form"
        elif step == "course":
            fresh = [slug for slug in client.slugs if slug not in client.bought and slug not in client.cart]
            client.slug = fresh[0] if fresh else None
            if client.slug is None:
                client.step = "start"  # bought everything on offer to it: a new student
                return
            status, client.page = self.send(client, "course page", due, f"/courses/{client.slug}")
            client.step = "add" if status == 200 else "course"
        elif step == "add":
            status, _ = self.submit(client, "cart add", due, "/cart/items", {"course": client.slug})
            if self.signed_out(client, status, "course"):
                return
            self.told(client, client.slug, status, adding=True)
            client.step = "checkout form" if len(client.cart) >= 2 else "course"
        elif step == "checkout form":
            status, page = self.send(client, "checkout form", due, "/checkout")
            if self.signed_out(client, status, "checkout form"):
                return
            key = KEY.search(page)
            if status != 200 or not key:
                client.step = "course"
                return
            client.checkouts += 1
            declined = DECLINE_EVERY and client.checkouts % DECLINE_EVERY == 0
            client.form = {"csrf_token": csrf_token(page), "idempotency_key": key.group(1),
                           "card_number": "4000 0000 0000 0002" if declined else "4242 4242 4242 4242"}
            client.tries, client.step = 0, "checkout"
        elif step == "checkout":
            client.tries += 1
            status, _ = self.send(client, "checkout", due, "/checkout", client.form)
            location = client.visitor.last_location or ""
            order = ORDER_PATH.match(location)
            if status == 303 and order:
                client.orders[order.group(1)] = (frozenset(client.cart), frozenset(client.maybe))
                client.bought |= client.cart | client.maybe
                client.cart, client.maybe = set(), set()
                client.page, client.step = location, "order page"
            elif status == 303 and "/login" in location:
                # signed out (Redis lost the session): the form's token is no good any more; a new form
                client.resume, client.step = "checkout form", "login form"
            elif status in (0, 502, 503, 504) or status >= 500:
                if client.tries >= 3:
                    client.unconfirmed += 1
                    client.step = "course"
                # else: the same form again at the next tick (same idempotency key)
            else:  # declined (422), or refused for another reason the page says: the cart is as it was
                client.step = "course"
        elif step == "order page":
            self.send(client, "order page", due, client.page)
            client.step = "course"

    def signed_out(self, client, status, resume):
        location = client.visitor.last_location or ""
        if status == 303 and "/login" in location:
            client.resume, client.step = resume, "login form"
            return True
        return False

    # --- the schedule ---------------------------------------------------------------------------------------
    def drive(self, kind, rate, flow, started):
        """Ticks of `kind` at `rate` a second, each to the next idle client of the class (waiting for one if
        all are busy: that wait counts in the tick's latency)."""
        idle = queue.Queue()
        for client in self.clients[kind]:
            idle.put(client)

        def tick(client, due):
            try:
                flow(client, due)
            finally:
                idle.put(client)

        interval, n = 1.0 / rate, 0
        while not self.stop.is_set():
            due = started + n * interval
            if due - started >= DURATION_S:
                return
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client = idle.get()
            threading.Thread(target=tick, args=(client, due), daemon=True).start()
            n += 1


class Instructor(threading.Thread):
    """The demo instructor: edits a course's summary every EDIT_EVERY_S (price unchanged)."""
    def __init__(self, population, started):
        super().__init__(daemon=True)
        self.population, self.started = population, started
        self.client = Client("instructor", 0, [])
        self.client.email = "instructor@courseshop.example"

    def run(self):
        p, c, n = self.population, self.client, 0
        slug = None
        while not p.stop.is_set():
            due = self.started + n * EDIT_EVERY_S
            n += 1
            if due - self.started >= DURATION_S:
                return
            delay = due - time.monotonic()
            if delay > 0 and p.stop.wait(delay):
                return
            if slug is None:
                _, c.page = p.send(c, "login form", due, "/login")
                p.submit(c, "login", due, "/login", {"email": c.email, "password": "courseshop-demo"})
                _, mine = p.send(c, "teach", due, "/teach/courses")
                found = re.findall(r'href="/teach/courses/([^"/]+)/edit"', mine)
                slug = found[0] if found else None
                continue
            status, form = p.send(c, "edit form", due, f"/teach/courses/{slug}/edit")
            if status != 200:
                slug = None if status == 303 else slug  # signed out: sign in again next time
                continue
            edit = course_edit(form, f"Soak revision {uuid.uuid4().hex[:10]}.")
            if edit:
                p.send(c, "course edit", due, f"/teach/courses/{slug}", edit)


def anonymous_paths(slugs):
    lists = [f"/courses?level={level}&sort={sort}&page={page}" for level in ("beginner", "intermediate", "advanced")
             for sort in ("newest", "price_asc") for page in (1, 2)]
    # first pages only: a later page of a search with few matches is a 404, which is no fault's doing
    searches = [path for path in search_paths(600, 11) if "page=" not in path][:200]
    return ["/"] * 10 + lists + searches + [f"/courses/{slug}" for slug in slugs]


def main():
    out = env.get("OUT_DIR", "target/soak")
    os.makedirs(out, exist_ok=True)
    rows = psql(env["PRIMARY_URL"], "SELECT string_agg(slug, ' ' ORDER BY id) FROM "
                                     "(SELECT id, slug FROM courses WHERE published ORDER BY id LIMIT 400) c")
    slugs = rows[0][0].split() if rows and rows[0] and rows[0][0] else []
    if len(slugs) < 50:
        sys.exit("soak: the shop's catalog has fewer than 50 published courses")
    population = Population(slugs, anonymous_paths(slugs))
    faults = Faults(env, out)
    plan = schedule(DURATION_S, float(env["HOLD_S"]) if env.get("HOLD_S") else None)
    print("soak: the faults, in this order every run (seconds from the start):", flush=True)
    for name, at, hold in plan:
        print(f"  {at:6.1f} s  {name} for {hold:.0f} s", flush=True)
    print(f"soak: {ANON_RATE:g} anonymous + {CART_RATE:g} cart + {STUDENT_RATE:g} student requests/s and an "
          f"instructor edit every {EDIT_EVERY_S:g} s, for {DURATION_S:.0f} s, through {BASE}", flush=True)

    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    drivers = [threading.Thread(target=population.drive, args=args, daemon=True) for args in (
        ("anonymous", ANON_RATE, population.anonymous, started),
        ("cart", CART_RATE, population.cart_visitor, started),
        ("student", STUDENT_RATE, population.student, started))]
    instructor = Instructor(population, started)
    injector = threading.Thread(target=faults.run, args=(plan, started), daemon=True)
    for thread in drivers + [instructor, injector]:
        thread.start()
    for thread in drivers:
        thread.join()
    population.stop.set()
    instructor.join()
    injector.join()
    time.sleep(TIMEOUT_S)  # the last ticks' answers (each thread ends within its client's timeout)
    elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - usage_before.ru_utime + usage.ru_stime - usage_before.ru_stime) / elapsed
    faults.restore_all()

    with population.lock:
        records = list(population.records)
    clients = [c for kind in ("cart", "student") for c in population.clients[kind]]
    verdict = check_invariants(env, RUN, clients)
    if faults.dropped_events:
        verdict["notes"].append(f"SOAK_BREAK=outbox: {faults.dropped_events} events dropped from the outbox while "
                                "RabbitMQ was away, as a checkout publishing straight to the broker would lose them")
    write_report(out, records, faults.windows, started, verdict, cpu, env)
    sys.exit(1 if verdict["lost"] or verdict["duplicates"] or verdict["mispriced"] else 0)


if __name__ == "__main__":
    main()

"""The soak run's verdict and pictures: the invariants checked from the stores and from what each client was told,
a table per fault, and an SVG chart of throughput, p99 and errors over time with the fault windows shaded."""
import collections
import html
import math
import os
import re
import subprocess
import time

from shop_client import csrf_token

Record = collections.namedtuple("Record", "due end status kind page")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CART_SLUG = re.compile(r'<li class="cart__line">\s*<div>\s*<a href="/courses/([^"]+)"', re.S)


def psql(url, sql):
    """Every row of one query, as lists of strings ([] when the server does not answer)."""
    result = subprocess.run(["psql", url, "-XtAq", "-F", "\t", "-c", sql], capture_output=True, text=True)
    if result.returncode != 0:
        return []
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def order_number(readable):
    """An order's id from its readable form (shop::ids::OrderId::readable: Crockford base 32 in groups)."""
    value = 0
    for c in readable.replace("-", "").upper().replace("I", "1").replace("L", "1").replace("O", "0"):
        value = value * 32 + CROCKFORD.index(c)
    return value


def is_error(record):
    return record.status == 0 or record.status >= 500


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


# --- the invariants -------------------------------------------------------------------------------------------

def drain(env, like):
    """Waits until every order of this run has its event published and is enrolled: up to DRAIN_S (90), or
    until nothing has moved for 20 s (an event that is gone never arrives)."""
    deadline = time.monotonic() + float(env.get("DRAIN_S", "90"))
    last, moved = None, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - moved < 20:
        row = psql(env["PRIMARY_URL"],
                   f"SELECT (SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id "
                   f"        WHERE u.email LIKE '{like}' AND o.status <> 'enrolled'), "
                   f"       (SELECT count(*) FROM outbox WHERE published_at IS NULL)")
        if row and row[0] == ["0", "0"]:
            return True
        if row != last:
            last, moved = row, time.monotonic()
        time.sleep(1)
    return False


def final_cart(client):
    """The client's cart as its browser sees it at the end (signing in again if the shop asks)."""
    for _ in range(5):
        status, page = client.visitor.request("/cart")
        if status == 200:
            return set(CART_SLUG.findall(page))
        if status == 303 and "/login" in (client.visitor.last_location or ""):
            _, form = client.visitor.request("/login")
            client.visitor.request("/login", {"csrf_token": csrf_token(form),
                                              "email": client.email, "password": "soak-test-password"})
        time.sleep(1)
    return None


def check_invariants(env, run, clients):
    like = f"soak-{run}-%"
    drained = drain(env, like)
    verdict = collections.Counter()
    notes = []

    # every cart line a client added (303) and did not remove is in its cart
    kept = expected = 0
    for client in clients:
        if not client.cart:
            continue
        found = final_cart(client)
        expected += len(client.cart)
        if found is None:
            notes.append(f"the cart of {client.email} could not be read at the end")
            verdict["lost"] += len(client.cart)
            continue
        kept += len(client.cart & found)
        verdict["lost"] += len(client.cart - found)
    maybe = sum(len(client.maybe) for client in clients)
    notes.append(f"cart lines kept: {kept} of {expected} (lines whose add or remove got no clear answer: {maybe}, "
                 f"not counted)")

    # orders: every 303 is one order with the courses in the cart and the catalog prices; nothing else
    rows = psql(env["PRIMARY_URL"], f"""
        SELECT u.email, o.id, o.status,
               coalesce((SELECT string_agg(c.slug || ':' || i.price_cents || ':' || c.price_cents, ' ')
                         FROM order_items i JOIN courses c ON c.id = i.course_id
                         WHERE i.user_id = o.user_id AND i.order_id = o.id), ''),
               (SELECT count(*) FROM order_items i WHERE i.user_id = o.user_id AND i.order_id = o.id),
               (SELECT count(*) FROM enrollments e WHERE e.user_id = o.user_id AND e.order_id = o.id)
        FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email LIKE '{like}'""")
    orders = {int(r[1]): r for r in rows}
    told = {}
    for client in clients:
        for readable, courses in client.orders.items():
            told[order_number(readable)] = (client, courses)
    lost_orders = [order for order in told if order not in orders]
    verdict["lost"] += len(lost_orders)
    missing_items = mispriced = 0
    bought = collections.Counter()
    for order, row in orders.items():
        items = [item.split(":") for item in row[3].split()]
        for slug, paid, price in items:
            bought[(row[0], slug)] += 1
            mispriced += paid != price
        if order in told:
            certain, _ = told[order][1]
            missing_items += len(certain - {slug for slug, _, _ in items})
    verdict["lost"] += missing_items
    verdict["duplicates"] += sum(count - 1 for count in bought.values() if count > 1)
    unconfirmed_by_email = collections.Counter()
    for client in clients:
        unconfirmed_by_email[client.email] += client.unconfirmed
    unexplained = collections.Counter(orders[o][0] for o in orders if o not in told)
    unconfirmed_orders = 0
    for email, count in unexplained.items():
        explained = min(count, unconfirmed_by_email[email])
        unconfirmed_orders += explained
        verdict["duplicates"] += count - explained
    notes.append(f"checkouts answered 303: {len(told)}; orders in PostgreSQL: {len(orders)} "
                 f"({unconfirmed_orders} from checkouts whose client saw no answer, counted apart); "
                 f"303s without an order: {len(lost_orders)}; courses missing from an order: {missing_items}")
    notes.append(f"order items not at the catalog price: {mispriced}")
    verdict["mispriced"] = mispriced

    # events and enrollments: orders = events published = orders enrolled; enrollments = order items
    events = psql(env["PRIMARY_URL"], f"""
        SELECT payload->>'orderId', count(*) FILTER (WHERE published_at IS NOT NULL), count(*)
        FROM outbox WHERE event_type = 'OrderPlaced' AND (payload->>'userId')::bigint IN
             (SELECT id FROM users WHERE email LIKE '{like}') GROUP BY 1""")
    published = {int(r[0]): int(r[1]) for r in events}
    unpublished = sum(1 for o in orders if published.get(o, 0) == 0)
    verdict["duplicates"] += sum(n - 1 for n in published.values() if n > 1)
    items = sum(int(r[4]) for r in orders.values())
    enrollments = sum(int(r[5]) for r in orders.values())
    enrolled = sum(1 for r in orders.values() if int(r[5]) == int(r[4]) and r[2] == "enrolled")
    verdict["lost"] += max(0, items - enrollments)
    verdict["duplicates"] += max(0, enrollments - items)
    dead = 0
    if env.get("SOAK_DLQ_COUNT"):
        out = subprocess.run(["bash", "-c", env["SOAK_DLQ_COUNT"]], capture_output=True, text=True).stdout.strip()
        dead = int(out) if out.isdigit() else 0
    verdict["lost"] += dead
    notes.append(f"orders {len(orders)} = events published {len(orders) - unpublished} = orders enrolled "
                 f"{enrolled}; enrollments {enrollments} = order items {items}; dead letters {dead}"
                 + ("" if drained else " (not all drained: nothing moved for 20 s, or DRAIN_S passed)"))
    if unpublished:
        notes.append(f"orders whose OrderPlaced event is gone or was never published: {unpublished} "
                     "(their courses are not enrolled, counted above)")
    verdict["orders"], verdict["enrolled"] = len(orders), enrolled
    verdict["notes"] = notes
    return verdict


# --- the report -----------------------------------------------------------------------------------------------

def per_second(records, started, seconds):
    buckets = [[] for _ in range(seconds)]
    for record in records:
        second = int(record.due - started)
        if 0 <= second < seconds:
            buckets[second].append(record)
    return buckets


def recovery(records, started, seconds, restored, limit):
    """Seconds from the fault's end until the first second from which three in a row have no error (looking no
    further than `limit`, the next fault's start, whose errors are its own)."""
    buckets = per_second(records, started, seconds)
    first, last = int(restored - started), min(seconds, int(limit - started))
    for second in range(max(0, first), last):
        if not any(is_error(r) for b in buckets[second:min(second + 3, last)] for r in b):
            return max(0.0, second - (restored - started))
    return None


def fault_table(records, windows, started, seconds):
    lines = ["| fault | window (s) | requests | 2xx / 3xx / 4xx / 5xx / no answer | p99 in the window | "
             "recovered after the fault ended | failed pages (5xx or no answer) |",
             "|---|---|---|---|---|---|---|"]
    for n, window in enumerate(windows):
        limit = windows[n + 1]["start"] if n + 1 < len(windows) else started + seconds
        inside = [r for r in records if window["start"] <= r.due <= window["restored"]]
        by = collections.Counter("none" if r.status == 0 else f"{r.status // 100}xx" for r in inside)
        p99 = percentile([r.end - r.due for r in inside], 99) * 1000
        back = recovery(records, started, seconds, window["restored"], limit)
        failed = collections.Counter(r.page for r in inside if is_error(r)).most_common(4)
        lines.append(f"| {window['name']} | {window['start'] - started:.0f}–{window['restored'] - started:.0f} | "
                     f"{len(inside)} | {by['2xx']} / {by['3xx']} / {by['4xx']} / {by['5xx']} / {by['none']} | "
                     f"{p99:.0f} ms | {'not before the next fault' if back is None else f'{back:.1f} s'} | "
                     f"{', '.join(f'{page} {n}' for page, n in failed) or 'none'} |")
    return lines


def chart(records, windows, started, seconds, path):
    """Three panels over time (answered requests/s, p99 ms on a log scale, errors/s), fault windows shaded."""
    buckets = per_second(records, started, seconds)
    ok = [sum(not is_error(r) for r in b) for b in buckets]
    errors = [sum(is_error(r) for r in b) for b in buckets]
    p99 = [percentile([r.end - r.due for r in b], 99) * 1000 if b else 0 for b in buckets]
    width, left, right, panel, gap, top = 1100, 70, 20, 150, 40, 90
    plot = width - left - right
    height = top + 3 * panel + 2 * gap + 40
    x = lambda s: left + plot * s / max(1, seconds)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14" font-weight="bold">Soak run: {seconds} s, '
           f'{len(records)} requests, faults shaded</text>']
    colours = ["#fde2e2", "#e2ecfd", "#e6f6e2", "#fdf3d9", "#efe2fd", "#def6f6", "#f6e2ee"]
    for i, window in enumerate(windows):
        x0, x1 = x(window["start"] - started), x(window["restored"] - started)
        out.append(f'<rect x="{x0:.1f}" y="{top - 8}" width="{max(1.0, x1 - x0):.1f}" '
                   f'height="{3 * panel + 2 * gap + 8}" fill="{colours[i % len(colours)]}"/>')
        out.append(f'<text x="{x0 + 2:.1f}" y="{34 + 14 * (i % 4)}" fill="#333">{html.escape(window["name"])}</text>')
        out.append(f'<line x1="{x0:.1f}" y1="{38 + 14 * (i % 4)}" x2="{x0:.1f}" y2="{top - 8}" stroke="#999"/>')
    panels = [("answered requests/s", ok, False, "#1f6feb"), ("p99 latency, ms (log)", p99, True, "#d97706"),
              ("errors/s (5xx, no answer)", errors, False, "#cf222e")]
    for n, (title, values, log, colour) in enumerate(panels):
        y0 = top + n * (panel + gap)
        peak = max(values) if values and max(values) > 0 else 1
        if log:
            low, high = 1.0, 10 ** math.ceil(math.log10(max(peak, 10)))
            scale = lambda v: panel * (1 - (math.log10(max(v, low)) - math.log10(low)) /
                                       (math.log10(high) - math.log10(low)))
            ticks = [10 ** k for k in range(0, int(math.log10(high)) + 1)]
        else:
            high = peak * 1.1
            scale = lambda v: panel * (1 - v / high)
            step = max(1, int(high / 4))
            ticks = list(range(0, int(high) + 1, step))
        out.append(f'<text x="{left}" y="{y0 - 4}" font-weight="bold">{title}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot}" height="{panel}" fill="none" stroke="#888"/>')
        for tick in ticks:
            ty = y0 + scale(tick)
            out.append(f'<line x1="{left - 4}" y1="{ty:.1f}" x2="{left + plot}" y2="{ty:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}</text>')
        if n == 2:
            for s, v in enumerate(values):
                if v:
                    out.append(f'<rect x="{x(s):.1f}" y="{y0 + scale(v):.1f}" width="{max(1.0, x(s + 1) - x(s)):.1f}" '
                               f'height="{panel - scale(v):.1f}" fill="{colour}"/>')
        else:
            points = " ".join(f"{x(s + 0.5):.1f},{y0 + scale(v):.1f}" for s, v in enumerate(values))
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    y_axis = top + 3 * panel + 2 * gap
    for s in range(0, seconds + 1, max(10, (seconds // 10) // 10 * 10 or 10)):
        out.append(f'<text x="{x(s):.1f}" y="{y_axis + 16}" text-anchor="middle">{s} s</text>')
    out.append("</svg>")
    with open(path, "w") as file:
        file.write("\n".join(out) + "\n")


def write_report(out, records, windows, started, verdict, cpu, env):
    seconds = int(max((r.due for r in records), default=started) - started) + 1
    requests, errors = len(records), sum(is_error(r) for r in records)
    table = fault_table(records, windows, started, seconds)
    chart(records, windows, started, seconds, os.path.join(out, "soak.svg"))
    latencies = [r.end - r.due for r in records]
    with open(os.path.join(out, "timeline.csv"), "w") as file:
        file.write("second,answered,errors,p99_ms\n")
        for second, bucket in enumerate(per_second(records, started, seconds)):
            p99 = percentile([r.end - r.due for r in bucket], 99) * 1000
            file.write(f"{second},{sum(not is_error(r) for r in bucket)},{sum(is_error(r) for r in bucket)},"
                       f"{p99:.1f}\n")
    pages = collections.Counter(r.page for r in records)
    answered = collections.Counter(r.page for r in records if 200 <= r.status < 400)
    verdict["notes"].append("requests by page (answered 2xx or 3xx): " + ", ".join(
        f"{page} {n} ({answered[page]})" for page, n in pages.most_common()))
    refused = collections.Counter(f"{r.page} {r.status}" for r in records if 400 <= r.status < 500)
    verdict["notes"].append("4xx answers over the run (by design: search pages past the last, declined cards, "
                            "forms refused): " + (", ".join(f"{k} ×{n}" for k, n in refused.most_common(6))
                                                   or "none"))
    header = [f"command: {env.get('LOAD_COMMAND', 'SCENARIO=soak ./scripts/load-test')}",
              f"generator: scripts/load/soak.py (Python threads, latency from each request's due time), "
              f"{cpu * 100:.1f} % of one core; {requests / max(1, seconds):.1f} requests/s on average; "
              f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms "
              f"over the whole run"]
    with open(os.path.join(out, "soak.md"), "w") as file:
        file.write("\n".join(header + [""] + table + [""] + [f"- {n}" for n in verdict["notes"]]) + "\n")
    print()
    for line in header + [""] + table + [""]:
        print(line)
    for note in verdict["notes"]:
        print(f"soak: {note}")
    print(f"soak: the table is in {out}/soak.md, the chart in {out}/soak.svg, each second in {out}/timeline.csv")
    print(f"soak: requests={requests} errors={errors} orders={verdict['orders']} enrolled={verdict['enrolled']} "
          f"lost={verdict['lost']} duplicates={verdict['duplicates']}", flush=True)

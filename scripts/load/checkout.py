#!/usr/bin/env python3
"""Checkout load scenario (loopback only): many students at once register, add courses to the cart and
check out through the real HTML forms, with their own cookies. Reports p50/p99 of adding to the cart
and of checkout (POST /checkout up to its redirect). Registration (argon2id hashing) is not timed.

Usage: checkout.py BASE_URL STUDENTS CONCURRENCY COURSES_PER_ORDER
"""
import concurrent.futures
import sys
import time
import uuid

from shop_client import KEY, Visitor, csrf_token, percentile, published_slugs

BASE, STUDENTS, CONCURRENCY, PER_ORDER = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def journey(number, slugs):
    student = Visitor(BASE)
    adds, checkouts, failures = [], [], 0
    _, page = student.request("/register")
    status, _ = student.request("/register", {
        "csrf_token": csrf_token(page), "email": f"load-{uuid.uuid4().hex}@example.com",
        "display_name": f"Load student {number}", "password": "load-test-password"})
    if status != 303:
        return adds, checkouts, 1
    for k in range(PER_ORDER):
        status, took = student.add_to_cart(slugs[(number * PER_ORDER + k) % len(slugs)])
        adds.append(took)
        failures += status != 303
    _, page = student.request("/checkout")
    started = time.perf_counter()
    status, _ = student.request("/checkout", {
        "csrf_token": csrf_token(page), "idempotency_key": KEY.search(page).group(1),
        "card_number": "4242 4242 4242 4242"})
    checkouts.append(time.perf_counter() - started)
    failures += status != 303
    return adds, checkouts, failures


def main():
    slugs = published_slugs(BASE)
    if not slugs:
        sys.exit("no courses found at " + BASE)
    started = time.perf_counter()
    adds, checkouts, failures = [], [], 0
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        for a, c, f in pool.map(lambda n: journey(n, slugs), range(STUDENTS)):
            adds += a
            checkouts += c
            failures += f
    elapsed = time.perf_counter() - started
    print(f"cart-add  requests={len(adds)} p50_ms={percentile(adds, 50):.2f} p99_ms={percentile(adds, 99):.2f}")
    print(f"checkout  requests={len(checkouts)} p50_ms={percentile(checkouts, 50):.2f} "
          f"p99_ms={percentile(checkouts, 99):.2f} orders_per_s={len(checkouts) / elapsed:.1f} failures={failures}")
    sys.exit(1 if failures else 0)


main()

#!/usr/bin/env python3
"""Cart load scenario (loopback only): the same visitors' work against two shops at once, one per cart
store, interleaved so both see the same machine at the same moments. Each visitor opens a course page,
adds COURSES courses to an anonymous cart and removes them again through the real forms. Reports p50/p99
of adding (POST /cart/items) and removing (POST /cart/items/{id}/delete) per shop, and their ratio.

Usage: carts.py VISITORS CONCURRENCY COURSES LABEL=BASE_URL LABEL=BASE_URL
"""
import concurrent.futures
import re
import sys
import time

from shop_client import Visitor, csrf_token, percentile, published_slugs

VISITORS, CONCURRENCY, COURSES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
SHOPS = [arg.split("=", 1) for arg in sys.argv[4:]]
REMOVE = re.compile(r'action="/cart/items/(\d+)/delete"')


def visit(number, base, slugs):
    visitor = Visitor(base)
    adds, removes, failures = [], [], 0
    chosen = [slugs[(number * COURSES + k) % len(slugs)] for k in range(COURSES)]
    for slug in chosen:
        status, took = visitor.add_to_cart(slug)
        adds.append(took)
        failures += status != 303
    _, page = visitor.request("/cart")
    token = csrf_token(page)
    in_cart = REMOVE.findall(page)
    failures += len(in_cart) != len(chosen)
    for course in in_cart:
        started = time.perf_counter()
        status, _ = visitor.request(f"/cart/items/{course}/delete", {"csrf_token": token})
        removes.append(time.perf_counter() - started)
        failures += status != 303
    _, page = visitor.request("/cart")
    failures += "Your cart is empty" not in page
    return adds, removes, failures


def main():
    slugs = published_slugs(SHOPS[0][1])
    if not slugs:
        sys.exit("no courses found at " + SHOPS[0][1])
    results = {label: ([], [], 0) for label, _ in SHOPS}
    # visitor n goes to shop n % len(SHOPS): the shops are loaded side by side, not one after the other
    work = [(n, SHOPS[n % len(SHOPS)]) for n in range(VISITORS * len(SHOPS))]
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = pool.map(lambda job: (job[1][0], visit(job[0] // len(SHOPS), job[1][1], slugs)), work)
        for label, (adds, removes, failures) in outcomes:
            a, r, f = results[label]
            results[label] = (a + adds, r + removes, f + failures)
    total_failures = 0
    for label, (adds, removes, failures) in results.items():
        total_failures += failures
        print(f"{label:<10} cart-add p50_ms={percentile(adds, 50):.2f} p99_ms={percentile(adds, 99):.2f} "
              f"cart-remove p50_ms={percentile(removes, 50):.2f} p99_ms={percentile(removes, 99):.2f} "
              f"requests={len(adds) + len(removes)} failures={failures}")
    if len(results) == 2:
        (first, (fa, fr, _)), (second, (sa, sr, _)) = results.items()
        print(f"ratio {second}/{first}: add p50 x{percentile(sa, 50) / percentile(fa, 50):.2f} "
              f"p99 x{percentile(sa, 99) / percentile(fa, 99):.2f}, remove p50 x{percentile(sr, 50) / percentile(fr, 50):.2f} "
              f"p99 x{percentile(sr, 99) / percentile(fr, 99):.2f}")
    sys.exit(1 if total_failures else 0)


main()

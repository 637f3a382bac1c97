"""A browser-like client for the load scenarios: its own cookies, real HTML forms, no redirects followed."""
import html
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
COURSE = re.compile(r'card__title"><a href="/courses/([^"]+)"')


def csrf_token(page):
    """The form's token as a browser sends it: empty for a visitor without a session (the shop then takes the
    browser's word for where the post came from), and empty on a page without a form."""
    found = TOKEN.search(page)
    return found.group(1) if found else ""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    def __init__(self, base, timeout=30):
        self.base, self.timeout = base, timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
        # where the last answer redirected to (a checkout's 303 names the order), or None
        self.last_location = None

    def add_to_cart(self, slug):
        """Adds a course from its page as a browser would; returns (status, seconds the POST took)."""
        _, page = self.request(f"/courses/{slug}")
        started = time.perf_counter()
        status, _ = self.request("/cart/items", {"csrf_token": csrf_token(page), "course": slug})
        return status, time.perf_counter() - started

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        self.last_location = None
        try:
            with self.opener.open(self.base + path, data, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            self.last_location = error.headers.get("Location")
            return error.code, error.read().decode()


def published_slugs(base, pages=5):
    slugs = []
    for page in range(1, pages + 1):
        _, body = Visitor(base).request(f"/courses?page={page}")
        slugs += COURSE.findall(body)
    return slugs


def percentile(values, p):
    """The p-th percentile of durations in seconds, in milliseconds (nearest rank)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def register(visitor, email, display_name, password="load-test-password"):
    """Registers (and so signs in) through the real form; returns the POST's status (303 on success)."""
    _, page = visitor.request("/register")
    status, _ = visitor.request("/register", {
        "csrf_token": csrf_token(page), "email": email,
        "display_name": display_name, "password": password})
    return status


def check_out(visitor, card="4242 4242 4242 4242"):
    """Opens the checkout page and submits it; returns (status, seconds the POST /checkout took, up to
    its redirect)."""
    _, page = visitor.request("/checkout")
    form = {"csrf_token": csrf_token(page), "idempotency_key": KEY.search(page).group(1),
            "card_number": card}
    started = time.perf_counter()
    status, _ = visitor.request("/checkout", form)
    return status, time.perf_counter() - started


def course_edit(form, summary):
    """The fields of an instructor's course edit form (its page `form`) with a new summary, everything else as it
    was (the price too); None when the page is not that form."""
    fields = {name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', form)
              for name in ("csrf_token", "title", "duration_minutes", "price")}
    description = re.search(r'<textarea[^>]*name="description"[^>]*>(.*?)</textarea>', form, re.S)
    chosen = {name: re.search(rf'name="{name}".*?<option value="([^"]+)" selected', form, re.S)
              for name in ("category", "level")}
    if not all(fields.values()) or not description or not all(chosen.values()):
        return None
    edit = {name: html.unescape(found.group(1)) for name, found in {**fields, **chosen}.items()}
    edit.update(summary=summary, description=html.unescape(description.group(1)))
    return edit

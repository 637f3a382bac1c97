// Watches an order that is paid but not yet enrolled (tutorial step 4: a worker enrolls it a moment
// after checkout) and reloads the page once, when it is enrolled. The page names the status address
// in `data-order-status-url`; the CSP allows no inline script, so nothing else is passed in.
// Without JavaScript the page's <noscript> refresh does the same job.
(() => {
  "use strict";

  const root = document.querySelector("[data-order-status-url]");
  if (!root) {
    return;
  }
  const url = root.getAttribute("data-order-status-url");
  const hint = root.querySelector("[data-order-status-hint]");

  // Enrollment usually takes a second or two, so ask every second at first; a worker that is down
  // should not mean a request a second from every open tab, so back off, and in the end stop.
  const FAST_MS = 1000;
  const SLOW_MS = 5000;
  const FAST_FOR_MS = 60 * 1000;
  const GIVE_UP_AFTER_MS = 10 * 60 * 1000;

  const started = Date.now();
  let done = false;

  const stop = (message) => {
    done = true;
    if (hint) {
      hint.textContent = message;
      hint.hidden = false;
    }
  };

  const schedule = () => {
    if (done) {
      return;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= GIVE_UP_AFTER_MS) {
      stop(
        "This is taking longer than usual. Your payment is recorded and nothing is lost: " +
          "reload the page to check again."
      );
      return;
    }
    window.setTimeout(poll, elapsed < FAST_FOR_MS ? FAST_MS : SLOW_MS);
  };

  const poll = async () => {
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      // signed out meanwhile (sent to the login page) or the order is gone: polling cannot help
      if (response.redirected || response.status === 404) {
        stop("Reload the page to check the order's status.");
        return;
      }
      // anything else that is not a status (the shop briefly busy, say) is simply asked again
      if (response.ok) {
        const body = await response.json();
        if (body.status === "enrolled") {
          done = true;
          window.location.reload();
          return;
        }
      }
    } catch {
      // the network dropped for a moment: try again on the same schedule
    }
    schedule();
  };

  schedule();
})();

"""The soak run's faults: the design's failure table, one after another on a fixed schedule, each undone after its
hold without restarting the shop or the workers (a killed process is started again as a supervisor would: the
same command line and environment, as Container Apps restarts a replica).

soak.sh gives the stores' stop and start commands (SOAK_<STORE>_STOP / _START, shell); the processes to kill
are found by their program and environment (courseshop with SHOP_INSTANCE=shop-2, enrollment-worker with
WORKER_PORT=<the first worker's port>).
"""
import os
import signal
import subprocess
import time

# (name, what is stopped and started again): the order is fixed, so two runs compare fault by fault
FAULTS = [
    ("Redis stopped", "REDIS"),
    ("RabbitMQ stopped", "RABBITMQ"),
    ("Cosmos DB server killed", "COSMOS"),
    ("enrollment worker SIGKILLed", "WORKER"),
    ("shop instance SIGKILLed", "INSTANCE"),
    ("replica stopped", "REPLICA"),
    ("PostgreSQL primary restarted", "PRIMARY"),
]


def schedule(duration_s, hold_s=None):
    """(name, start second, hold seconds) for each fault: a calm start, then one slot each, then a calm end in
    which the shop must have recovered from the last."""
    calm, tail = max(10.0, duration_s * 0.08), max(15.0, duration_s * 0.1)
    slot = (duration_s - calm - tail) / len(FAULTS)
    hold = hold_s if hold_s else min(20.0, max(4.0, slot * 0.45))
    return [(name, calm + i * slot, hold) for i, (name, _) in enumerate(FAULTS)]


def shell(command):
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        print(f"soak: `{command}` failed ({result.returncode}): {result.stderr.strip()[-300:]}", flush=True)
    return result.returncode == 0


class Process:
    """A running process found by a variable of its environment, and how to start it again."""

    def __init__(self, marker, program):
        self.marker, self.program = marker.encode(), program
        self.pid, self.argv, self.environ, self.cwd = None, None, None, None

    def find(self):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as file:
                    variables = file.read().split(b"\0")
                if self.marker not in variables:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    argv = [arg.decode() for arg in file.read().split(b"\0") if arg]
                if not argv or os.path.basename(argv[0]) != self.program:
                    continue
                self.pid, self.argv, self.cwd = int(entry), argv, os.readlink(f"/proc/{entry}/cwd")
                self.environ = dict(v.decode().split("=", 1) for v in variables if b"=" in v)
                return True
            except (OSError, ValueError):
                continue
        return False

    def kill(self):
        if self.find():
            os.kill(self.pid, signal.SIGKILL)
            return True
        return False

    def start(self, log):
        if not self.argv:
            return None
        with open(log, "ab") as out:
            child = subprocess.Popen(self.argv, env=self.environ, cwd=self.cwd, stdout=out, stderr=out,
                                     start_new_session=True)
        return child.pid


class Faults:
    def __init__(self, env, out):
        self.env, self.out = env, out
        self.windows = []       # name, start, end of hold, restored (monotonic seconds), notes
        self.down = {}          # what is down now: key -> how to bring it back
        self.respawned = []     # pids this run started again (stopped by soak.sh at the end)
        self.broken = env.get("SOAK_BREAK", "")
        self.dropped_events = 0

    def command(self, key, action):
        return self.env.get(f"SOAK_{key}_{action}", "")

    def begin(self, key):
        """Takes `key` away; returns a note for the report."""
        if key == "WORKER":
            process = Process(f"WORKER_PORT={self.env.get('SOAK_WORKER_PORT', '8690')}", "enrollment-worker")
            self.down[key] = process
            if not process.find():
                return "no worker found to kill"
            # frozen first, so the deliveries it has taken stay unacknowledged: the kill lands mid-message
            os.kill(process.pid, signal.SIGSTOP)
            note = self.mid_message()
            os.kill(process.pid, signal.SIGKILL)
            return "killed " + note
        if key == "INSTANCE":
            process = Process(f"SHOP_INSTANCE={self.env.get('SOAK_INSTANCE', 'shop-2')}", "courseshop")
            self.down[key] = process
            return "killed" if process.kill() else "no instance found to kill"
        self.down[key] = self.command(key, "START")
        return "stopped" if shell(self.command(key, "STOP")) else "the stop command failed"

    def end(self, key):
        back = self.down.pop(key, None)
        if isinstance(back, Process):
            pid = back.start(os.path.join(self.out, f"{key.lower()}-restarted.log"))
            if pid:
                self.respawned.append(pid)
                with open(os.path.join(self.out, "respawned.pids"), "a") as file:
                    file.write(f"{pid}\n")
            return "started again" if pid else "could not be started again"
        if back:
            return "started" if shell(back) else "the start command failed"
        return ""

    def mid_message(self):
        """Waits (up to 8 s) until the frozen worker holds a delivery it has not acknowledged; says whether one
        was in flight."""
        queue_name = self.env.get("SOAK_QUEUE", "")
        deadline = time.monotonic() + 8
        while queue_name and time.monotonic() < deadline:
            listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages_unacknowledged"],
                                    capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
            for line in listed.splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[0] == queue_name and fields[1].isdigit() and int(fields[1]) > 0:
                    return f"with {fields[1]} message(s) unacknowledged"
            time.sleep(0.05)
        return "(no message was in flight within 8 s)"

    def break_outbox(self, until):
        """SOAK_BREAK=outbox: while RabbitMQ is away, what a checkout publishing straight to the broker would
        lose: the events waiting in the outbox are dropped."""
        while time.monotonic() < until:
            result = subprocess.run(["psql", self.env["PRIMARY_URL"], "-XtAq", "-c",
                                     "WITH gone AS (DELETE FROM outbox WHERE published_at IS NULL RETURNING 1) "
                                     "SELECT count(*) FROM gone"], capture_output=True, text=True)
            if result.returncode == 0 and result.stdout.strip().isdigit():
                self.dropped_events += int(result.stdout.strip())
            time.sleep(0.25)

    def run(self, plan, started):
        for (name, at, hold), (_, key) in zip(plan, FAULTS):
            delay = started + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            begun = time.monotonic()
            note = self.begin(key)
            print(f"soak: {begun - started:6.1f} s  {name}: {note}", flush=True)
            if key == "RABBITMQ" and self.broken == "outbox":
                self.break_outbox(begun + hold)
            else:
                time.sleep(max(0.0, begun + hold - time.monotonic()))
            held = time.monotonic()
            back = self.end(key)
            restored = time.monotonic()
            print(f"soak: {restored - started:6.1f} s  {name}: {back} ({restored - held:.1f} s to start)",
                  flush=True)
            self.windows.append({"name": name, "start": begun, "end": held, "restored": restored,
                                 "note": f"{note}; {back}"})

    def restore_all(self):
        for key in list(self.down):
            self.end(key)


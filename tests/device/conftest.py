"""Fixtures for the device tests: the real server binary, the real native library with
its generated Python bindings, and a small REST client to set the scene."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
SERVER = TARGET / "sysops-server"
LIBRARY = TARGET / "libmobile_ffi.so"
PASSWORD = "a-good-password"


@pytest.fixture(scope="session")
def ffi():
    """The generated Python bindings, loaded next to the real native library: one package,
    `sysops_device`, holding the modules uniffi writes (`mobile_ffi` for the device object
    and its records, `sysops_core` for the core's types it exports: the error, the sync
    state, the key store and listener, the ticket status and stage) and re-exporting both."""
    for path in (SERVER, LIBRARY):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `cargo build -p sysops-server -p mobile-ffi` (tests/run does)")
    out = pathlib.Path(tempfile.mkdtemp(prefix="sysops-bindings-"))
    package = out / "sysops_device"
    subprocess.run(
        ["cargo", "run", "-q", "-p", "uniffi-bindgen", "--", "generate", str(LIBRARY), "--language", "python",
         "--out-dir", str(package)],
        cwd=ROOT, check=True,
    )
    (package / "__init__.py").write_text("from .sysops_core import *  # noqa: F401,F403\n"
                                         "from .mobile_ffi import *  # noqa: F401,F403\n")
    shutil.copy(LIBRARY, package / LIBRARY.name)
    sys.path.insert(0, str(out))
    import sysops_device  # noqa: E402

    return sysops_device


class Server:
    """The real `sysops-server` on port 0 with a fresh SQLite database."""

    def __init__(self, data_dir, admin_email="root@sysops.test", admin_password="root-password-1"):
        self.data_dir = data_dir
        self.admin = (admin_email, admin_password)
        subprocess.run([str(SERVER), "create-admin", "--email", admin_email, "--password", admin_password,
                        "--data-dir", data_dir], check=True, capture_output=True, env=self._env())
        self.proc = None
        self.base = None

    def _env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYSOPS_")}
        env["SYSOPS_POLL_MS"] = "100"
        # The server's log filter, to debug a failing test (`SYSOPS_TEST_SERVER_LOG=debug`).
        if os.environ.get("SYSOPS_TEST_SERVER_LOG"):
            env["SYSOPS_LOG"] = os.environ["SYSOPS_TEST_SERVER_LOG"]
        return env

    def start(self, port=0):
        self.log_path = os.path.join(self.data_dir, "..", "server.log")
        log = open(self.log_path, "ab")
        self.log_from = log.tell()
        self.proc = subprocess.Popen([str(SERVER), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", self.data_dir],
                                     stdout=subprocess.PIPE, stderr=log, env=self._env())
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("listening on "):
                self.base = line.split()[-1]
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return self
        raise RuntimeError("the server did not start")

    def stop(self):
        """SIGTERM, as an operator would: the server (with devices still connected) shuts
        down cleanly, closing their sessions rather than waiting on them."""
        if self.proc:
            self.proc.terminate()
            code = self.proc.wait(timeout=30)
            self.proc = None
            with open(self.log_path, "rb") as f:
                f.seek(self.log_from)
                log = f.read().decode(errors="replace")
            late = [line for line in log.splitlines() if "in time" in line]
            assert code == 0 and not late, f"unclean shutdown (exit {code}): {late}"

    @property
    def port(self):
        return int(self.base.rsplit(":", 1)[1])

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def login(self, email, password=PASSWORD):
        status, v = self.call("POST", "/api/v1/auth/login", {"email": email, "password": password})
        assert status == 200, v
        return v["access_token"]


@pytest.fixture
def server(tmp_path):
    s = Server(str(tmp_path / "data")).start()
    yield s
    s.stop()


class World:
    """An admin, a plan, experts skilled in televisions, a customer with a subscription."""

    def __init__(self, s):
        self.s = s
        self.admin = s.login(*s.admin)
        status, plan = s.call("POST", "/api/v1/plans", {"name": "Home", "categories": ["television"],
                                                         "monthly_price_cents": 1999, "currency": "USD"}, self.admin)
        assert status == 201, plan
        self.plan = plan["id"]
        self.experts = [self.add_expert(f"expert{i}", 1.0 + i) for i in range(2)]
        email = f"casey-{uuid.uuid4().hex}@customers.test"
        status, c = s.call("POST", "/api/v1/customers", {"name": "Casey", "email": email, "password": PASSWORD,
                                                         "phone": "+13125550199", "notify_by": "email",
                                                         "address": "1 Main St, Chicago",
                                                         "location": {"lat": 41.8826, "lon": -87.6298}})
        assert status == 201, c
        self.customer_email = email
        self.customer = s.login(email)
        status, sub = s.call("POST", "/api/v1/customers/me/subscriptions", {"plan_id": self.plan, "product": "TV"},
                             self.customer)
        assert status == 201, sub
        self.subscription = sub["id"]

    def add_expert(self, name, km):
        email = f"{name}-{uuid.uuid4().hex}@experts.test"
        status, e = self.s.call("POST", "/api/v1/experts", {
            "name": name, "email": email, "password": PASSWORD, "phone": f"+1312555{1000 + int(km * 10):04d}",
            "skills": ["television"], "service_area": {"center": {"lat": 41.8781, "lon": -87.6298}, "radius_km": 40},
            "locale": "en-US", "location": {"lat": 41.8781 + km / 111.2, "lon": -87.6298}, "available": True}, self.admin)
        assert status == 201, e
        return {"id": e["id"], "email": email}

    def ticket(self, title):
        status, t = self.s.call("POST", "/api/v1/tickets", {"subscription_id": self.subscription, "category": "television",
                                                            "title": title, "description": "It stopped working."},
                                self.customer)
        assert status == 201, t
        return t

    def article(self, title, body, tags):
        status, a = self.s.call("POST", "/api/v1/kb", {"title": title, "body": body, "tags": tags}, self.admin)
        assert status == 201, a
        return a


@pytest.fixture
def world(server):
    return World(server)


def eventually(predicate, what, timeout=30.0):
    """Waits for `predicate()` to be truthy (a failure bound, not a timing assertion)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def make_keys(ffi):
    class Keys(ffi.KeyStore):
        """An in-memory key store (the apps use the Keystore / Keychain)."""

        def __init__(self):
            self.values = {}

        def get(self, key):
            return self.values.get(key)

        def put(self, key, value):
            self.values[key] = value

        def remove(self, key):
            self.values.pop(key, None)

    return Keys()

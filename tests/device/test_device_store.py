"""The device store under stress: a damaged file, a write interrupted by a crash, and a
second expert signing in on the same phone."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import PASSWORD, World, eventually, make_keys


def synced_device(ffi, s, expert, store):
    dev = ffi.SysopsDevice.open(store, s.base, make_keys(ffi))
    dev.sign_in(expert["email"], PASSWORD)
    dev.start_sync()
    return dev


def test_a_damaged_store_is_set_aside_and_rebuilt_from_the_server(ffi, tmp_path, world):
    s, w = world.s, world
    t = w.ticket("Picture freezes")
    store = str(tmp_path / "phone" / "store.db")
    dev = synced_device(ffi, s, w.experts[0], store)
    eventually(lambda: dev.tickets(), "the ticket")
    dev.close()
    # Scribble over the file (a bad flash block, a crash of another app that shared it).
    with open(store, "r+b") as f:
        f.write(b"this is not a database" * 100)
    for ext in ("-wal", "-shm"):
        if os.path.exists(store + ext):
            os.remove(store + ext)
    dev = ffi.SysopsDevice.open(store, s.base, make_keys(ffi))
    assert dev.recovered_from_damage(), "the damage is reported"
    assert dev.tickets() == [], "nothing half-read from the damaged file"
    assert any(n.startswith("store.corrupt-") for n in os.listdir(os.path.dirname(store))), "the damaged file is kept aside"
    dev.sign_in(w.experts[0]["email"], PASSWORD)
    dev.start_sync()
    eventually(lambda: [x for x in dev.tickets() if x.id == t["id"]], "the ticket back from the server")
    dev.close()


WRITER = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import sysops_device as ffi
    class Keys(ffi.KeyStore):
        def __init__(self): self.v = {}
        def get(self, k): return self.v.get(k)
        def put(self, k, v): self.v[k] = v
        def remove(self, k): self.v.pop(k, None)
    dev = ffi.SysopsDevice.open(sys.argv[2], sys.argv[3], Keys())
    dev.sign_in(sys.argv[4], sys.argv[5])
    i = 0
    while True:
        dev.set_notes(sys.argv[6], "note %d" % i)
        if i == 20:
            print("writing", flush=True)
        i += 1
''')


def test_a_crash_mid_write_leaves_a_usable_store(ffi, tmp_path, world):
    s, w = world.s, world
    t = w.ticket("Remote does nothing")
    store = str(tmp_path / "phone" / "store.db")
    dev = synced_device(ffi, s, w.experts[0], store)
    eventually(lambda: dev.tickets(), "the ticket")
    assert dev.wait_synced(20_000)
    dev.close()
    bindings = os.path.dirname(os.path.dirname(ffi.__file__))
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), bindings, store, s.base, w.experts[0]["email"], PASSWORD,
                             t["id"]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout.readline().decode().strip() == "writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    dev = ffi.SysopsDevice.open(store, s.base, make_keys(ffi))
    assert not dev.recovered_from_damage()
    notes = dev.ticket(t["id"]).notes
    assert notes.startswith("note "), notes
    # Still writable, and still syncs.
    dev.sign_in(w.experts[0]["email"], PASSWORD)
    dev.set_notes(t["id"], "after the crash")
    dev.start_sync()
    assert dev.wait_synced(20_000)
    admin = s.login(*s.admin)
    eventually(lambda: s.call("GET", f"/api/v1/tickets/{t['id']}", token=admin)[1]["expert_notes"] == "after the crash",
               "the note on the server")
    dev.close()


def test_another_expert_on_the_same_phone_never_sees_the_first_experts_data(ffi, tmp_path, world):
    s, w = world.s, world
    t = w.ticket("First expert's ticket")
    assert t["assigned_expert_id"] == w.experts[0]["id"]
    store = str(tmp_path / "shared-phone" / "store.db")
    dev = synced_device(ffi, s, w.experts[0], store)
    eventually(lambda: dev.tickets(), "the first expert's ticket")
    dev.set_notes(t["id"], "private notes of expert 0")
    dev.sign_out()
    assert dev.sign_in(w.experts[1]["email"], PASSWORD) == w.experts[1]["id"]
    assert dev.tickets() == []
    assert dev.search_kb("private notes", 5) == []
    dev.start_sync()
    assert dev.wait_synced(20_000)
    assert [x.id for x in dev.tickets()] == [], "expert 1 has no tickets, and sees none of expert 0's"
    dev.close()

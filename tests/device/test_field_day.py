"""The field day, through the generated Python bindings of the real device library,
against the real server binary (with the provider stand-ins, so the customer's survey
e-mail really goes out)."""

import datetime
import time
import json
import os
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import PASSWORD, ROOT, SERVER, TARGET, Server, World, eventually, make_keys

STANDINS = TARGET / "sysops-standins"


@pytest.fixture
def standins(tmp_path):
    creds = tmp_path / "fcm.json"
    proc = subprocess.Popen([str(STANDINS), "--fcm-credentials", str(creds)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    urls = {}
    while len(urls) < 3:
        parts = proc.stdout.readline().decode().split()
        urls[parts[0]] = parts[1:]
    env = {
        "SYSOPS_FCM_PROJECT_ID": "sysops-standin", "SYSOPS_FCM_CREDENTIALS": str(creds),
        "SYSOPS_FCM_BASE_URL": urls["fcm"][0],
        "SYSOPS_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "SYSOPS_TWILIO_AUTH_TOKEN": "standin-auth-token",
        "SYSOPS_TWILIO_FROM": "+13125550000", "SYSOPS_TWILIO_BASE_URL": urls["twilio"][0],
        "SYSOPS_SMTP_URL": urls["smtp"][0], "SYSOPS_MAIL_FROM": "Sysops Squad <squad@sysops.test>",
    }
    yield env, urls["smtp"][2]
    proc.terminate()
    proc.wait(timeout=10)


def emails(control):
    with urllib.request.urlopen(control + "/_standin/received", timeout=10) as r:
        return json.loads(r.read())


class ProviderServer(Server):
    def __init__(self, data_dir, providers):
        self.providers = providers
        super().__init__(data_dir)

    def _env(self):
        env = super()._env()
        env.update(self.providers)
        return env


def test_a_field_day_offline_then_synced(ffi, tmp_path, standins):
    providers, smtp_control = standins
    s = ProviderServer(str(tmp_path / "data"), providers).start()
    try:
        field_day(ffi, tmp_path, s, smtp_control)
    finally:
        s.stop()


def field_day(ffi, tmp_path, s, smtp_control):
    w = World(s)
    kb = w.article("HDMI handshake fails after a firmware update",
                   "Power-cycle the TV and the source for 60 seconds, then reseat the HDMI cable.", ["hdmi"])
    t = w.ticket("TV shows no signal")
    expert = w.experts[0]
    assert t["assigned_expert_id"] == expert["id"]

    # Morning: the device signs in and syncs its tickets and the knowledge base.
    store = str(tmp_path / "device" / "store.db")
    keys = make_keys(ffi)
    dev = ffi.SysopsDevice.open(store, s.base, keys)
    assert dev.sign_in(expert["email"], PASSWORD) == expert["id"]
    dev.start_sync()
    eventually(lambda: [x for x in dev.tickets() if x.id == t["id"]], "the ticket on the device")
    eventually(lambda: dev.search_kb("hdmi", 5), "the knowledge base on the device")
    assert dev.wait_synced(20_000)

    # The network goes away.
    port = s.port
    s.stop()
    eventually(lambda: not dev.sync_state().connected, "the device to notice it is offline")

    # Offline: search the KB, read the ticket, complete it, write an article.
    hits = dev.search_kb("firmware hdmi", 5)
    assert hits[0].id == kb["id"], hits
    assert "HDMI" in hits[0].snippet or "hdmi" in hits[0].snippet.lower()
    assert "reseat the HDMI cable" in dev.article(kb["id"]).body
    ticket = dev.ticket(t["id"])
    assert (ticket.title, ticket.address, ticket.customer_name) == ("TV shows no signal", "1 Main St, Chicago", "Casey")
    assert ticket.map_url.startswith("geo:")
    # The status is typed (the document keeps the string); the stage follows the device.
    assert (ticket.status, ticket.stage, ticket.finished) == (ffi.TicketStatus.ASSIGNED, ffi.TicketStage.ASSIGNED,
                                                              False)
    assert ticket.stage.label() == "New"
    dev.accept(t["id"])
    assert dev.ticket(t["id"]).stage == ffi.TicketStage.ACCEPTED, "offline, the stage follows the device at once"
    dev.en_route(t["id"])
    assert dev.ticket(t["id"]).stage == ffi.TicketStage.EN_ROUTE
    dev.arrived(t["id"])
    assert dev.ticket(t["id"]).stage.label() == "On site"
    dev.set_notes(t["id"], "Cable was loose.")
    dev.complete(t["id"], "Reseated the HDMI cable and updated the firmware.")
    done_here = dev.ticket(t["id"])
    assert (done_here.stage, done_here.finished) == (ffi.TicketStage.COMPLETED, True)
    assert done_here.status == ffi.TicketStatus.ASSIGNED, "the server's status catches up only after sync"
    completed_at = dev.ticket(t["id"]).completed_at
    article_id = dev.write_article("No signal: check the cable first", "Reseat the cable before anything else.",
                                   ["hdmi", "cable"])
    assert dev.search_kb("reseat cable first", 5)[0].id == article_id, "the new article is searchable offline"
    pending = dev.sync_state().pending_changes
    assert pending >= 2, pending
    with pytest.raises(ffi.DeviceError.NotFound):
        dev.ticket("no-such-ticket")

    # The app is closed and reopened: everything is still there, pending counted.
    dev.close()
    dev = ffi.SysopsDevice.open(store, s.base, keys)
    assert not dev.recovered_from_damage()
    assert dev.ticket(t["id"]).completed_at == completed_at
    assert dev.article(article_id).draft
    assert dev.sync_state().pending_changes == pending

    # The network comes back: one sync later the server has it all.
    s.start(port=port)
    dev.start_sync()
    assert dev.wait_synced(30_000), dev.sync_state()
    admin = s.login(*s.admin)
    done = eventually(lambda: (lambda r: r[1] if r[1]["status"] == "completed" else None)(
        s.call("GET", f"/api/v1/tickets/{t['id']}", token=admin)), "the completion on the server")
    assert done["completed_by"] == expert["id"]
    assert done["expert_notes"] == "Cable was loose."
    eventually(lambda: dev.ticket(t["id"]).status == ffi.TicketStatus.COMPLETED, "the server's status on the device")
    device_time = datetime.datetime.fromisoformat(completed_at.replace("Z", "+00:00"))
    server_time = datetime.datetime.fromisoformat(done["completed_at"].replace("Z", "+00:00"))
    assert server_time == device_time, "the device's completion time is kept"
    survey = eventually(lambda: [m for m in emails(smtp_control)
                                 if m["recipient"] == w.customer_email and "How did we do?" in json.dumps(m)],
                        "the customer's survey e-mail")
    assert survey
    # The server projects the draft in the background: the article may lag the sync a moment.
    article = eventually(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        s.call("GET", f"/api/v1/kb/{article_id}", token=admin)), "the article on the server")
    assert (article["status"], article["author_id"]) == ("in_review", expert["id"])

    # Meanwhile, the dispatcher's changes reach the device: a note and a new ticket.
    status, _ = s.call("POST", f"/api/v1/tickets/{t['id']}/notes", {"text": "Customer asked for a call back."}, admin)
    assert status == 200
    # (The other expert is off duty, so the new ticket comes to this one.)
    status, _ = s.call("PATCH", f"/api/v1/experts/{w.experts[1]['id']}", {"available": False}, admin)
    assert status == 200
    t2 = w.ticket("Soundbar is silent")
    assert t2["assigned_expert_id"] == expert["id"], t2
    eventually(lambda: "call back" in dev.ticket(t["id"]).dispatcher_notes, "the dispatcher's note on the device")
    eventually(lambda: [x for x in dev.tickets() if x.id == t2["id"]], "the new ticket on the device")
    dev.close()


def test_an_iphone_registers_its_fcm_token_and_gets_the_push_through_fcm(ffi, tmp_path, standins):
    """ADR 19: iOS push goes through FCM like Android's. The app hands the APNs token to
    Firebase Messaging and registers the FCM token it gets back; the device library
    refuses a raw APNs token (FCM would refuse it at every send)."""
    providers, _ = standins
    fcm = next(v for k, v in providers.items() if k == "SYSOPS_FCM_BASE_URL")
    s = ProviderServer(str(tmp_path / "data"), providers).start()
    try:
        w = World(s)
        expert = w.experts[0]
        dev = ffi.SysopsDevice.open(str(tmp_path / "iphone" / "store.db"), s.base, make_keys(ffi))
        dev.sign_in(expert["email"], PASSWORD)
        with pytest.raises(ffi.DeviceError.Invalid) as raw:
            dev.register_push_token("ios", "a1b2c3d4" * 8)
        assert "FCM registration token" in str(raw.value)
        token = "fJ3kqz9:APA91bF-iphone_" + "x" * 120
        dev.register_push_token("ios", token)
        dev.start_sync()
        assert dev.wait_synced(20_000)
        # The registration goes out with the sync loop; the next assignment is pushed to it.
        status, _ = s.call("PATCH", f"/api/v1/experts/{w.experts[1]['id']}", {"available": False}, w.admin)
        assert status == 200

        def pushed():
            t = w.ticket(f"Pushed to the iPhone {time.time()}")
            assert t["assigned_expert_id"] == expert["id"], t
            with urllib.request.urlopen(fcm + "/_standin/received", timeout=10) as r:
                return [m for m in json.loads(r.read()) if token in json.dumps(m)]

        sent = eventually(pushed, "a push to the iPhone's FCM token", timeout=30)
        assert "apns" in json.dumps(sent[-1]), "the FCM message carries its APNs options"
        dev.close()
    finally:
        s.stop()

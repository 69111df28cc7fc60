"""Where the expert is: the device library reports position fixes through the expert's
status document, throttled (on start, on a significant move at most once per interval,
only while available), and the server's dispatcher uses the new position for the next
assignment. Through the generated Python bindings, against the real server binary."""

from conftest import PASSWORD, eventually, make_keys


def expert_location(s, admin, expert_id):
    status, e = s.call("GET", f"/api/v1/experts/{expert_id}", token=admin)
    assert status == 200, e
    return (round(e["location"]["lat"], 6), round(e["location"]["lon"], 6))


def test_positions_reach_the_dispatcher_throttled(ffi, tmp_path, world):
    s, w = world.s, world
    admin = w.admin
    near, far = w.experts  # 1 km and 2 km north of the city centre; the customer is 0.5 km north
    assert w.ticket("Before the move")["assigned_expert_id"] == near["id"]

    dev = ffi.SysopsDevice.open(str(tmp_path / "phone" / "store.db"), s.base, make_keys(ffi))
    assert dev.sign_in(far["email"], PASSWORD) == far["id"]
    dev.set_location_policy(ffi.LocationPolicy(min_move_m=250.0, min_interval_s=3600))
    assert dev.location_policy().min_interval_s == 3600
    dev.start_sync()
    assert dev.wait_synced(20_000)

    # On start: the first fix goes out (the far expert has driven 30 km north).
    away = (round(41.8781 + 30 / 111.2, 6), -87.6298)
    assert dev.report_location(*away) is True
    assert dev.wait_synced(20_000)
    eventually(lambda: expert_location(s, admin, far["id"]) == away, "the new position on the server")
    # ... and the next assignment uses it. From where the server had them (1.5 km from the
    # customer) the far expert would win over the near one, who now holds a ticket (0.5 km
    # plus load and fairness penalties of 8 km); from 30 km away they lose.
    t = w.ticket("After the move")
    assert t["assigned_expert_id"] == near["id"], t

    # A significant move within the interval waits; so does a small one.
    moved = (41.9700, -87.6298)  # about 20 km back south
    assert dev.report_location(*moved) is False
    assert dev.report_location(away[0] + 0.001, away[1]) is False
    assert dev.sync_state().pending_changes == 0, "nothing was written for the throttled fixes"
    assert expert_location(s, admin, far["id"]) == away

    # Off duty: nothing goes out, whatever the policy.
    dev.set_location_policy(ffi.LocationPolicy(min_move_m=250.0, min_interval_s=0))
    dev.set_available(False)
    assert dev.report_location(*moved) is False
    assert dev.wait_synced(20_000)
    eventually(lambda: s.call("GET", f"/api/v1/experts/{far['id']}", token=admin)[1]["available"] is False,
               "the expert off duty on the server")
    assert expert_location(s, admin, far["id"]) == away, "no position while off duty"

    # Back on duty: the latest fix goes out at once.
    dev.set_available(True)
    assert dev.wait_synced(20_000)
    eventually(lambda: expert_location(s, admin, far["id"]) == moved, "the latest fix once back on duty")

    # With no interval, a significant move goes out straight away; a bad fix is refused.
    customer = (41.8826, -87.6298)
    assert dev.report_location(*customer) is True
    assert dev.report_location(*customer) is False, "no move, nothing to send"
    try:
        dev.report_location(123.0, 0.0)
        raise AssertionError("a latitude of 123 was accepted")
    except ffi.DeviceError.Invalid:
        pass
    assert dev.wait_synced(20_000)
    eventually(lambda: expert_location(s, admin, far["id"]) == customer, "the move on the server")
    dev.close()

"""CalDAV and CardDAV at /dav/ with real clients: the `caldav` library (discovery from the
server root, MKCALENDAR, events, time-range REPORT, sync-collection) and vdirsyncer (a calendar
and an address book synchronised both ways, twice); and each account's collections closed
to the others."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import caldav
import pytest

from tests.dav.conftest import PASSWORDS

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//mfserver tests//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20300101T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""
CARD = """BEGIN:VCARD
VERSION:3.0
UID:{uid}
FN:{name}
N:{name};;;;
END:VCARD
"""


def event(summary: str, day: int, uid: str | None = None) -> str:
    start = datetime.datetime(2030, 1, day, 9, 0)
    return EVENT.format(uid=uid or uuid.uuid4().hex, summary=summary,
                        start=start.strftime("%Y%m%dT%H%M%SZ"),
                        end=(start + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"))


def client(dav, user="alice", password=None) -> caldav.DAVClient:
    return caldav.DAVClient(url=dav.url + "/", username=user,
                            password=password or PASSWORDS[user],
                            ssl_verify_cert=str(dav.ca_file), enable_rfc6764=False)


def test_every_account_starts_with_a_calendar_and_an_address_book(dav):
    with client(dav, "bob") as bob:
        names = {c.get_display_name() for c in bob.principal().calendars()}
    assert "Calendar" in names
    reply = dav.request("PROPFIND", "/dav/bob/contacts/", user="bob", headers={"Depth": "0"})
    assert reply.status == 207 and b"addressbook" in reply.body


def test_caldav_client_from_the_server_root(dav):
    with client(dav) as alice:
        principal = alice.principal()
        assert str(principal.url).endswith("/dav/alice/")
        work = principal.make_calendar(name="Work", cal_id="work")
        for day in (3, 10, 17, 24):
            work.save_event(event(f"meeting {day}", day))
        found = work.search(start=datetime.datetime(2030, 1, 9), end=datetime.datetime(2030, 1, 18),
                            event=True, expand=False)
        summaries = sorted(str(e.icalendar_component["SUMMARY"]) for e in found)
        assert summaries == ["meeting 10", "meeting 17"]

        first = work.objects_by_sync_token(load_objects=False)
        assert len(list(first)) == 4
        work.save_event(event("added later", 28))
        later = work.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
        assert [str(o.icalendar_component["SUMMARY"]) for o in later] == ["added later"]


def test_an_app_password_opens_dav_when_two_factor_is_on(dav):
    assert dav.request("PROPFIND", "/dav/hal/", user="hal", headers={"Depth": "0"}).status == 401
    with client(dav, "hal", dav.app_password) as hal:
        assert hal.principal().calendars()


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/dav/alice/calendar/", ""), ("PROPFIND", "/dav/alice/", ""),
    ("PROPFIND", "/dav/alice/calendar/", ""),
    ("REPORT", "/dav/alice/calendar/",
     '<?xml version="1.0"?><C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav" '
     'xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/>'
     '</C:filter></C:calendar-query>'),
    ("PUT", "/dav/alice/calendar/planted.ics", event("planted", 5)),
    ("DELETE", "/dav/alice/calendar/", ""), ("MKCALENDAR", "/dav/alice/new/", ""),
    ("MKCOL", "/dav/alice/new2/", ""),
    ("PROPPATCH", "/dav/alice/calendar/",
     '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x'
     '</D:displayname></D:prop></D:set></D:propertyupdate>'),
])
def test_another_accounts_collections_are_closed(dav, method, path, body):
    reply = dav.request(method, path, body, user="bob", headers={"Depth": "1"}
                        if method in ("PROPFIND", "REPORT") else {})
    assert reply.status in (403, 404), (method, path, reply.status)
    assert b"planted" not in dav.request("GET", "/dav/alice/calendar/").body


def test_move_into_another_account_is_refused(dav):
    assert dav.request("PUT", "/dav/bob/calendar/mine.ics", event("bob's", 6),
                       user="bob").status == 201
    reply = dav.request("MOVE", "/dav/bob/calendar/mine.ics", user="bob",
                        headers={"Destination": "/dav/alice/calendar/mine.ics"})
    assert reply.status in (403, 404)
    assert dav.request("GET", "/dav/alice/calendar/mine.ics").status == 404


def test_bad_input_on_dav_gets_the_right_status(dav):
    assert dav.request("PROPFIND", "/dav/alice/", headers={"Depth": "infinity"}).status == 403
    assert dav.request("PROPFIND", "/dav/alice/", "<D:propfind xmlns:D='DAV:'>",
                       headers={"Depth": "0"}).status == 400
    assert dav.request("PUT", "/dav/alice/calendar/x.ics", "x" * (1024 * 1024 + 1)).status == 413
    assert dav.request("COPY", "/dav/alice/calendar/").status == 405
    assert dav.request("PROPFIND", "/dav/alice/%2e%2e/bob/", headers={"Depth": "0"}).status \
        == 400


def vdirsyncer(config: Path, *args: str) -> str:
    command = [sys.executable, "-m", "vdirsyncer", "-c", str(config), *args]
    if shutil.which("vdirsyncer"):
        command = ["vdirsyncer", "-c", str(config), *args]
    result = subprocess.run(command, input="y\n" * 10, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_vdirsyncer_syncs_a_calendar_and_an_address_book_both_ways_twice(dav, tmp_path):
    local = tmp_path / "local"
    config = tmp_path / "vdirsyncer.conf"
    secret = PASSWORDS["bob"]
    blocks = [f'[general]\nstatus_path = "{tmp_path / "status"}"\n']
    for name, kind, ext, collection in (("cal", "caldav", ".ics", "calendar"),
                                        ("card", "carddav", ".vcf", "contacts")):
        blocks.append(f"""
[pair {name}]
a = "{name}_local"
b = "{name}_remote"
collections = ["{collection}"]

[storage {name}_local]
type = "filesystem"
path = "{local / name}"
fileext = "{ext}"

[storage {name}_remote]
type = "{kind}"
url = "{dav.url}/"
username = "bob"
password = "{secret}"
verify = "{dav.ca_file}"
""")
    config.write_text("".join(blocks))
    vdirsyncer(config, "discover")
    for round_ in (1, 2):
        # local -> server
        (local / "cal" / "calendar" / f"local{round_}.ics").write_text(
            event(f"local {round_}", round_, uid=f"local{round_}"))
        (local / "card" / "contacts" / f"local{round_}.vcf").write_text(
            CARD.format(uid=f"local{round_}", name=f"Local {round_}"))
        # server -> local
        assert dav.request("PUT", f"/dav/bob/calendar/remote{round_}.ics",
                           event(f"remote {round_}", 10 + round_, uid=f"remote{round_}"),
                           user="bob").status == 201
        assert dav.request("PUT", f"/dav/bob/contacts/remote{round_}.vcf",
                           CARD.format(uid=f"remote{round_}", name=f"Remote {round_}"),
                           user="bob").status == 201
        vdirsyncer(config, "sync")
        calendar = dav.request("GET", "/dav/bob/calendar/", user="bob").text
        contacts = dav.request("GET", "/dav/bob/contacts/", user="bob").text
        for n in range(1, round_ + 1):
            assert f"SUMMARY:local {n}" in calendar and f"FN:Local {n}" in contacts
            local_calendar = "".join(p.read_text() for p in (local / "cal" / "calendar")
                                     .glob("*.ics"))
            local_cards = "".join(p.read_text() for p in (local / "card" / "contacts")
                                  .glob("*.vcf"))
            assert f"SUMMARY:remote {n}" in local_calendar and f"FN:Remote {n}" in local_cards

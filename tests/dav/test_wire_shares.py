"""Public share links end to end: `mfserver share create|list|disable` and what a visitor
gets at /s/<token>: a calendar, a document, a folder, a drop box; password, accounts,
expiry and disabling; nothing that names the owner, nothing in the log."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import update

from mfserver.config import load_settings
from mfserver.db import Database
from mfserver.db.models import Share
from tests.dav.conftest import PASSWORDS

LINK = re.compile(r"^https://mail\.example\.test:\d+(/s/([A-Za-z0-9_-]+)(\.ics)?)$", re.M)


def create(dav, *args: str, stdin: str | None = None) -> tuple[str, str, int]:
    """`share create`: (path of the link, token, share id)."""
    out = dav.cli("share", "create", *args, stdin=stdin)
    match = LINK.search(out)
    assert match, out
    share_id = int(re.search(r"^share (\d+):", out, re.M).group(1))
    return match.group(1), match.group(2), share_id


def wait_for_log(dav, needle: str) -> str:
    """The server's log once it holds `needle` (a request is logged just after its answer,
    and not at all when the client has closed the connection by then)."""
    for _ in range(100):
        log = dav.server.log_text()
        if needle in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never logged")


@pytest.fixture(scope="module")
def content(dav):
    assert dav.request("MKCOL", "/files/alice/docs/").status == 201
    assert dav.request("MKCOL", "/files/alice/docs/inner/").status == 201
    assert dav.request("MKCOL", "/files/alice/inbox/").status == 201
    assert dav.request("PUT", "/files/alice/docs/report.txt", b"the report").status == 201
    assert dav.request("PUT", "/files/alice/docs/inner/deep.txt", b"deep").status == 201
    assert dav.request("PUT", "/files/alice/private.txt", b"private").status == 201
    event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
             "UID:shared-1\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:20300105T100000Z\r\n"
             "SUMMARY:Open day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert dav.request("PUT", "/dav/alice/calendar/open.ics", event).status == 201


def test_a_calendar_link_serves_the_ics_without_naming_the_owner(dav, content):
    path, token, _ = create(dav, "alice@example.org", "--calendar", "calendar")
    assert len(token) >= 22 and "alice" not in path and "example" not in path
    for url in (path, path.removesuffix(".ics")):
        reply = dav.request("GET", url, user=None)
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/calendar")
        assert "SUMMARY:Open day" in reply.text
    assert dav.request("PUT", path, "x", user=None).status == 405
    connection = dav.connection()  # a request is logged when it is finished, which a
    for _ in range(2):            # second request on the same connection waits for
        connection.request("GET", path)
        connection.getresponse().read()
    connection.close()
    log = wait_for_log(dav, '"GET /s/\u2026" 200')
    assert token not in log and "127.0.0.1" not in log


def test_a_document_link_and_a_folder_link(dav, content):
    path, _, _ = create(dav, "alice", "--file", "docs/report.txt")
    reply = dav.request("GET", path, user=None)
    assert (reply.status, reply.body) == (200, b"the report")
    assert reply.headers["Content-Disposition"].startswith("attachment")
    assert dav.request("GET", path + "/../private.txt", user=None).status == 404

    folder, token, _ = create(dav, "alice", "--file", "/docs/")
    assert dav.request("GET", folder, user=None).status == 301
    listing = dav.request("GET", folder + "/", user=None)
    assert listing.status == 200 and "report.txt" in listing.text and "inner/" in listing.text
    assert dav.request("GET", folder + "/inner/deep.txt", user=None).body == b"deep"
    for escape in ("/../private.txt", "/%2e%2e/private.txt", "/inner/../../private.txt",
                   "/..%2fprivate.txt", "/nothing.txt"):
        assert dav.request("GET", folder + escape, user=None).status == 404, escape
    assert dav.request("PUT", folder + "/new.txt", b"x", user=None).status == 405
    assert dav.request("GET", f"/s/{token[:-1]}/report.txt", user=None).status == 404


def test_a_symlink_in_a_shared_folder_is_not_followed(dav, content):
    inner = dav.base / "data" / "files" / "alice" / "docs"
    (inner / "escape").symlink_to(dav.base / "data" / "files" / "alice")
    folder, _, _ = create(dav, "alice", "--file", "docs")
    assert dav.request("GET", folder + "/escape/private.txt", user=None).status == 404
    assert "escape" not in dav.request("GET", folder + "/", user=None).text


def test_a_password_protected_link(dav, content):
    path, _, _ = create(dav, "alice", "--file", "docs/report.txt", "--password-stdin",
                        stdin="link password 42\n")
    assert dav.request("GET", path, user=None).status == 401
    assert dav.request("GET", path, user="x", password="wrong").status == 401
    reply = dav.request("GET", path, user="anyone", password="link password 42")
    assert (reply.status, reply.body) == (200, b"the report")


def test_a_link_for_named_accounts_only(dav, content):
    path, _, _ = create(dav, "alice", "--calendar", "calendar", "--allow", "bob@example.org")
    assert dav.request("GET", path, user=None).status == 401
    assert dav.request("GET", path, user="carol").status == 404
    assert dav.request("GET", path, user="bob", password="wrong").status == 401
    assert dav.request("GET", path, user="bob").status == 200
    out = dav.cli("share", "create", "alice", "--calendar", "calendar", "--allow", "bob",
                  "--password-stdin", stdin="pw pw pw pw\n", check=False)
    assert "either a password or a list of accounts" in out


def test_a_drop_box_takes_uploads_only(dav, content):
    path, _, _ = create(dav, "alice", "--file", "inbox", "--dropbox")
    assert dav.request("PUT", path + "/paper.pdf", b"first", user=None).status == 201
    assert dav.request("PUT", path + "/paper.pdf", b"second", user=None).status == 201
    inbox = dav.base / "data" / "files" / "alice" / "inbox"
    assert (inbox / "paper.pdf").read_bytes() == b"first"
    assert (inbox / "paper (2).pdf").read_bytes() == b"second"
    assert "paper" not in dav.request("GET", path + "/", user=None).text
    assert dav.request("GET", path + "/paper.pdf", user=None).status == 405
    assert dav.request("PUT", path + "/../escape.txt", b"x", user=None).status == 404
    assert dav.request("PUT", path + "/.hidden", b"x", user=None).status == 400
    assert not (inbox.parent / "escape.txt").exists()
    out = dav.cli("share", "create", "alice", "--file", "docs/report.txt", "--dropbox",
                  check=False)
    assert "must be a folder" in out


def test_disable_and_expiry_answer_404_at_once(dav, content):
    path, _, share_id = create(dav, "alice", "--file", "docs/report.txt", "--expires", "7d",
                               "--label", "for the team")
    assert dav.request("GET", path, user=None).status == 200
    listed = dav.cli("share", "list", "alice")
    assert re.search(rf"^{share_id}\tfiles docs/report.txt \(read\) active \[expires ", listed,
                     re.M)
    assert "for the team" in listed and "/s/" not in listed
    dav.cli("share", "disable", "alice", str(share_id))
    assert dav.request("GET", path, user=None).status == 404
    assert re.search(rf"^{share_id}\t.* disabled", dav.cli("share", "list", "alice"), re.M)
    assert "no share link" in dav.cli("share", "disable", "bob", str(share_id), check=False)

    path, _, share_id = create(dav, "alice", "--calendar", "calendar", "--expires", "1d")
    assert dav.request("GET", path, user=None).status == 200
    database = Database(load_settings(dav.config).database_url)
    with database.write() as session:
        session.execute(update(Share).where(Share.id == share_id)
                        .values(expires_at=int(time.time()) - 1))
    database.dispose()
    assert dav.request("GET", path, user=None).status == 404
    assert "expired" in dav.cli("share", "list", "alice")


def test_bad_share_requests(dav, content):
    assert dav.request("GET", "/s/", user=None).status == 404
    assert dav.request("GET", "/s/" + "A" * 43, user=None).status == 404
    for args in (("--calendar", "nope"), ("--file", "nope.txt"), ("--file", "../bob"),
                 ("--calendar", "contacts")):
        assert dav.cli("share", "create", "alice", *args, check=False).strip()
    out = dav.cli("share", "create", "alice", "--file", "docs", "--expires", "2001-01-01",
                  check=False)
    assert "past" in out
    assert PASSWORDS["alice"] not in dav.server.log_text()

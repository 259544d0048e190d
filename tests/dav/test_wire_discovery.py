"""Discovery from the bare host name, the HTTP->HTTPS redirect, HTTPS headers, logins."""

from __future__ import annotations

import http.client

import pytest

from tests.dav.conftest import multistatus_hrefs

PRINCIPAL_PROPS = b"""<?xml version="1.0"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
            xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:current-user-principal/><C:calendar-home-set/><CR:addressbook-home-set/>
  <D:unknown-thing/></D:prop></D:propfind>"""


@pytest.mark.parametrize("name", ["caldav", "carddav"])
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_well_known_answers_301_to_dav(dav, name, method):
    reply = dav.request(method, f"/.well-known/{name}", user=None, headers={"Depth": "0"})
    assert reply.status == 301 and reply.headers["Location"] == "/dav/"


def test_the_root_names_principal_and_homes(dav):
    reply = dav.request("PROPFIND", "/", PRINCIPAL_PROPS, headers={"Depth": "0"})
    assert reply.status == 207
    assert multistatus_hrefs(reply.body) == ["/"] + ["/dav/alice/"] * 3
    assert b"404 Not Found" in reply.body and b"unknown-thing" in reply.body
    assert dav.request("PROPFIND", "/", PRINCIPAL_PROPS, user="alice@example.org",
                       password="alice dav password", headers={"Depth": "0"}).status == 207
    assert dav.request("PROPFIND", "/", PRINCIPAL_PROPS, user=None,
                       headers={"Depth": "0"}).status == 401
    options = dav.request("OPTIONS", "/")
    assert "calendar-access" in options.headers["DAV"]
    # the principal itself answers the homes too (Radicale)
    reply = dav.request("PROPFIND", "/dav/", PRINCIPAL_PROPS, headers={"Depth": "0"})
    assert reply.status == 207 and b"/dav/alice/" in reply.body


def test_every_https_answer_has_hsts(dav):
    for path in ("/", "/dav/", "/files/alice/", "/s/nothing", "/.well-known/caldav"):
        assert dav.request("GET", path).headers["Strict-Transport-Security"]


def test_plain_http_only_redirects(dav):
    connection = http.client.HTTPConnection("127.0.0.1", dav.http, timeout=30)
    connection.request("PROPFIND", "/dav/alice/?x=1", headers={"Depth": "0"})
    response = connection.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == f"https://mail.example.test:{dav.https}/dav/alice/?x=1"
    assert response.headers["Strict-Transport-Security"] is None
    connection.close()


def test_failed_logins_are_throttled_with_429(dav):
    statuses = [dav.request("PROPFIND", "/dav/tina/", user="tina", password="wrong",
                            headers={"Depth": "0"}).status for _ in range(6)]
    assert statuses[0] == 401 and 429 in statuses
    throttled = dav.request("PROPFIND", "/dav/tina/", user="tina", password="wrong",
                            headers={"Depth": "0"})
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1


def test_the_log_holds_no_password_and_no_address(dav):
    dav.request("GET", "/files/alice/")
    log = dav.server.log_text()
    assert "alice dav password" not in log and "127.0.0.1" not in log

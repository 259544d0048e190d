"""WebDAV at /files/: each account in its own folder, for every method; hostile paths,
bodies and headers refused with the right status; nothing half-written."""

from __future__ import annotations

import os
import socket
from contextlib import closing

import pytest

from tests.dav.conftest import MAX_UPLOAD, basic, multistatus_hrefs

PROPFIND = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop>' \
           b'</D:propfind>'
PROPPATCH = b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>' \
            b'<D:prop><Z:note>x</Z:note></D:prop></D:set></D:propertyupdate>'
LOCK = b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>' \
       b'</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'


def files_of(dav, user):
    return dav.base / "data" / "files" / user


@pytest.fixture(scope="module")
def bobs_file(dav):
    assert dav.request("PUT", "/files/bob/secret.txt", b"bob's secret", user="bob").status \
        == 201
    assert dav.request("MKCOL", "/files/bob/folder/", user="bob").status == 201
    return "/files/bob/secret.txt"


def test_put_get_delete_in_own_folder(dav):
    assert dav.request("PUT", "/files/alice/hello.txt", b"hello").status == 201
    reply = dav.request("GET", "/files/alice/hello.txt")
    assert (reply.status, reply.body) == (200, b"hello")
    assert dav.request("PUT", "/files/alice/hello.txt", b"hello again").status == 204
    assert dav.request("DELETE", "/files/alice/hello.txt").status == 204
    assert dav.request("GET", "/files/alice/hello.txt").status == 404


def test_login_by_address_works_and_wrong_password_is_401(dav):
    assert dav.request("PROPFIND", "/files/alice/", PROPFIND, user="alice@example.org",
                       password="alice dav password", headers={"Depth": "0"}).status == 207
    reply = dav.request("PROPFIND", "/files/alice/", PROPFIND, password="wrong",
                        headers={"Depth": "0"})
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Basic")
    assert dav.request("GET", "/files/alice/", user=None).status == 401


@pytest.mark.parametrize("method,body,headers", [
    ("GET", b"", {}), ("HEAD", b"", {}), ("PUT", b"alice was here", {}), ("DELETE", b"", {}),
    ("PROPFIND", PROPFIND, {"Depth": "0"}), ("PROPPATCH", PROPPATCH, {}),
    ("MKCOL", b"", {}), ("LOCK", LOCK, {"Timeout": "Second-60"}),
    ("UNLOCK", b"", {"Lock-Token": "<opaquelocktoken:x>"}), ("OPTIONS", b"", {}),
    ("COPY", b"", {"Destination": "/files/alice/stolen.txt"}),
    ("MOVE", b"", {"Destination": "/files/alice/stolen.txt"}),
])
def test_another_accounts_folder_is_out_of_reach(dav, bobs_file, method, body, headers):
    for path in (bobs_file, "/files/bob/folder/", "/files/BOB/secret.txt",
                 "/files/nobody/x"):
        reply = dav.request(method, path, body, headers=headers)
        assert reply.status == 403, (method, path, reply.status)
    assert (files_of(dav, "bob") / "secret.txt").read_bytes() == b"bob's secret"
    assert not (files_of(dav, "alice") / "stolen.txt").exists()
    assert not (files_of(dav, "bob") / "folder" / "x").exists()


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize("destination", [
    "/files/bob/planted.txt", "https://127.0.0.1:{port}/files/bob/planted.txt",
    "/files/alice/../bob/planted.txt", "/files/alice/%2e%2e/bob/planted.txt",
    "/files/bob", "/dav/bob/calendar/planted.ics",
])
def test_copy_and_move_never_write_into_another_account(dav, bobs_file, method, destination):
    assert dav.request("PUT", "/files/alice/mine.txt", b"mine").status in (201, 204)
    reply = dav.request(method, "/files/alice/mine.txt",
                        headers={"Destination": destination.format(port=dav.https)})
    assert reply.status == 403
    assert not (files_of(dav, "bob") / "planted.txt").exists()
    assert (files_of(dav, "alice") / "mine.txt").exists()


def test_destination_on_another_server_is_502(dav):
    assert dav.request("PUT", "/files/alice/mine.txt", b"mine").status in (201, 204)
    reply = dav.request("COPY", "/files/alice/mine.txt",
                        headers={"Destination": "https://elsewhere.example/files/alice/x"})
    assert reply.status == 502


def test_the_root_shows_only_ones_own_folder(dav, bobs_file):
    reply = dav.request("PROPFIND", "/files/", PROPFIND, headers={"Depth": "1"})
    assert reply.status == 207
    assert multistatus_hrefs(reply.body) == ["/files/", "/files/alice/"]
    reply = dav.request("GET", "/files/")
    assert reply.status == 301 and reply.headers["Location"] == "/files/alice/"
    assert dav.request("MKCOL", "/files/newshare/").status == 403


@pytest.mark.parametrize("path", [
    "/files/alice/../bob/secret.txt", "/files/alice/%2e%2e/bob/secret.txt",
    "/files/alice/%2E%2E%2Fbob%2Fsecret.txt", "/files/alice/.%2e/.%2e/keys/server.key",
    "/files/alice/./x", "/files/alice/a%00b",
])
def test_traversal_in_the_path_is_400(dav, bobs_file, path):
    for method in ("GET", "PUT", "DELETE"):
        assert dav.request(method, path, b"x" if method == "PUT" else b"").status == 400


def test_a_symlink_inside_the_tree_leads_nowhere(dav, bobs_file):
    os.symlink(files_of(dav, "bob"), files_of(dav, "alice") / "link")
    os.symlink(files_of(dav, "bob") / "secret.txt", files_of(dav, "alice") / "secret-link")
    assert dav.request("GET", "/files/alice/link/secret.txt").status in (403, 404)
    assert dav.request("GET", "/files/alice/secret-link").status in (403, 404)
    assert dav.request("PUT", "/files/alice/link/new.txt", b"x").status in (403, 404, 409)
    reply = dav.request("PROPFIND", "/files/alice/", PROPFIND, headers={"Depth": "1"})
    assert b"link" not in reply.body
    assert not (files_of(dav, "bob") / "new.txt").exists()


def test_bad_input_gets_the_right_status(dav):
    laughs = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              b'<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&b;</D:displayname>'
              b'</D:prop></D:propfind>')
    xml = {"Content-Type": "application/xml", "Depth": "0"}
    assert dav.request("PROPFIND", "/files/alice/", laughs, headers=xml).status == 400
    assert dav.request("PROPFIND", "/files/alice/", b"<D:propfind", headers=xml).status == 400
    deep = b"<a>" * 1000 + b"</a>" * 1000
    assert dav.request("PROPPATCH", "/files/alice/", deep, headers=xml).status == 400
    assert dav.request("PROPFIND", "/files/alice/", b"<a/>" * (600 * 1024),
                       headers=xml).status == 413
    infinity = dav.request("PROPFIND", "/files/alice/", PROPFIND, headers={"Depth": "infinity"})
    assert infinity.status == 403 and b"propfind-finite-depth" in infinity.body
    assert dav.request("PROPFIND", "/files/alice/", PROPFIND).status == 403  # no Depth
    assert dav.request("BREW", "/files/alice/").status == 501
    assert dav.request("PATCH", "/files/alice/x").status == 405
    assert dav.request("MKCOL", "/files/alice/c/", b"x", headers={"Content-Type":
                                                                  "text/plain"}).status == 415


def test_an_oversized_body_is_413_and_never_stored(dav):
    reply = dav.request("PUT", "/files/alice/big.bin", b"x" * (MAX_UPLOAD + 1))
    assert reply.status == 413
    assert not (files_of(dav, "alice") / "big.bin").exists()
    # chunked: no Content-Length, the limit applies as the body arrives
    with closing(dav.connection()) as connection:
        connection.putrequest("PUT", "/files/alice/big-chunked.bin")
        connection.putheader("Authorization", basic("alice"))
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        chunk = b"y" * 65536
        try:
            for _ in range(MAX_UPLOAD // len(chunk) + 2):
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection after its 413
        assert connection.getresponse().status == 413
    assert not (files_of(dav, "alice") / "big-chunked.bin").exists()


def test_a_chunked_upload_within_the_limit_is_stored_whole(dav):
    with closing(dav.connection()) as connection:
        connection.request("PUT", "/files/alice/chunked.txt", body=iter([b"one ", b"two"]),
                           headers={"Authorization": basic("alice")}, encode_chunked=True)
        assert connection.getresponse().status == 201
    assert (files_of(dav, "alice") / "chunked.txt").read_bytes() == b"one two"


def test_a_cut_off_put_leaves_nothing_behind(dav):
    assert dav.request("PUT", "/files/alice/kept.txt", b"old content").status in (201, 204)
    for path in ("/files/alice/kept.txt", "/files/alice/never.txt"):
        raw = socket.create_connection(("127.0.0.1", dav.https))
        tls = dav.context.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('alice')}\r\n"
                    "Content-Length: 100000\r\n\r\n".encode() + b"z" * 50000)
        tls.close()
    assert dav.request("GET", "/files/alice/kept.txt").body == b"old content"
    assert dav.request("GET", "/files/alice/never.txt").status == 404
    names = os.listdir(files_of(dav, "alice"))
    assert "never.txt" not in names and not any(n.startswith(".~") for n in names)


def test_quota_is_honoured_with_507_and_nothing_written(dav):
    half = b"q" * (600 * 1024)
    assert dav.request("PUT", "/files/carol/one.bin", half, user="carol").status == 201
    assert dav.request("PUT", "/files/carol/two.bin", half, user="carol").status == 507
    assert not (files_of(dav, "carol") / "two.bin").exists()
    assert dav.request("COPY", "/files/carol/one.bin", user="carol",
                       headers={"Destination": "/files/carol/copy.bin"}).status == 507
    assert sorted(os.listdir(files_of(dav, "carol"))) == ["one.bin"]
    # replacing a file counts the old content as freed
    assert dav.request("PUT", "/files/carol/one.bin", half, user="carol").status == 204

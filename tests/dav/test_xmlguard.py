"""The XML guard: what reaches Radicale and WsgiDAV is small, shallow and has no DTD."""

import pytest

from mfserver.dav.xmlguard import MAX_DEPTH, XmlRefused, check_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>"""


def test_a_propfind_passes_and_names_its_root():
    body = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop>' \
           b'</D:propfind>'
    assert check_xml(body) == "{DAV:}propfind"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL,
                                  b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>'])
def test_any_document_type_declaration_is_refused(body):
    with pytest.raises(XmlRefused, match="document type"):
        check_xml(body)


def test_depth_is_bounded():
    fine = b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH
    check_xml(fine)
    with pytest.raises(XmlRefused, match="deeper"):
        check_xml(b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1))
    with pytest.raises(XmlRefused, match="deeper"):
        check_xml(b"<a>" * 100_000)  # unclosed and absurd: refused before the end


@pytest.mark.parametrize("body", [b"<a>", b"not xml", b"<a></b>", b"\xff\xfe<a/>",
                                  b"<D:propfind xmlns:D='DAV:'>"])
def test_malformed_xml_is_refused(body):
    with pytest.raises(XmlRefused, match="malformed"):
        check_xml(body)

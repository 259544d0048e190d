"""The milter corpus (tests/data/milter) and EICAR archives built at run time."""

from __future__ import annotations

import base64
import io
import zipfile

from tests.paths import REPO

CORPUS = REPO / "tests" / "data" / "milter"
# the EICAR test file, assembled here so that no file in the repository carries it whole
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def with_attachment(filename: str, content: bytes, subject: str = "files") -> bytes:
    encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
    return (b"From: sender@example.net\r\nTo: alice@example.org\r\nSubject: " + subject.encode()
            + b"\r\nDate: Mon, 09 Mar 2026 12:00:00 +0000\r\nMessage-ID: <att@example.net>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
            b"Content-Type: application/octet-stream; name=\"" + filename.encode() + b"\"\r\n"
            b"Content-Disposition: attachment; filename=\"" + filename.encode() + b"\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n")


def eicar_zip_in_zip() -> bytes:
    return zipped("outer/inner.zip", zipped("readme/eicar.com.txt", EICAR))

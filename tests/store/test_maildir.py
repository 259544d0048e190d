"""Folder directory names, unique names, and scans."""

from __future__ import annotations

import os
import re

import pytest

from mfserver.store import InvalidFolderName, maildir


@pytest.mark.parametrize("name, directory", [
    ("INBOX", ""),
    ("inbox", ""),
    ("Sent", ".Sent"),
    ("Archive/2024", ".Archive.2024"),
    ("inbox/x", ".INBOX.x"),
    ("a.b", ".a%2Eb"),
    ("50%", ".50%25"),
    ("..x", ".%2E%2Ex"),
    ("tab\there", ".tab%09here"),
    ("Bücher/日本", ".Bücher.日本"),
])
def test_folder_directory(name, directory):
    assert maildir.folder_directory(name) == directory
    if directory:
        assert maildir.folder_name_of(directory) == maildir.normalize_folder_name(name)


@pytest.mark.parametrize("name", ["", "/", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b",
                                  "a\x00", "x" * 256, "a/" + "é" * 128])
def test_invalid_names(name):
    with pytest.raises(InvalidFolderName):
        maildir.folder_directory(name)


def test_whole_directory_name_is_bounded():
    with pytest.raises(InvalidFolderName):
        maildir.folder_directory("/".join(["x" * 100] * 3))


@pytest.mark.parametrize("directory", [".", "..", ".a%zz", ".a%2e", ".INBOX", ".inbox.x",
                                       "plain", ".a..b", ".a.", ".%2F"])
def test_non_canonical_directories_are_not_folders(directory):
    assert maildir.folder_name_of(directory) is None


@pytest.mark.parametrize("maildir_value", ["", "/abs", "../up", "a/../b", ".hidden", "a//b"])
def test_account_root_refuses_paths_that_leave_the_mail_root(tmp_path, maildir_value):
    with pytest.raises(ValueError):
        maildir.account_root(tmp_path, maildir_value)


def test_unique_names():
    names = {maildir.unique_name(4096) for _ in range(1000)}
    assert len(names) == 1000
    name = names.pop()
    assert re.fullmatch(r"\d+\.M\d+P\d+Q\d+R[0-9a-f]{16}\.[^/:]+,S=4096", name)


def test_write_tmp_and_scan(tmp_path):
    maildir.make_maildir(tmp_path / "box")
    key, path = maildir.write_tmp(tmp_path / "box", b"data", mtime=1_000_000)
    assert path.read_bytes() == b"data" and int(path.stat().st_mtime) == 1_000_000
    assert maildir.scan(tmp_path / "box") == {}
    os.rename(path, tmp_path / "box" / "cur" / f"{key}:2,S")
    (tmp_path / "box" / "new" / ".dotfile").write_bytes(b"")
    assert maildir.scan(tmp_path / "box") == {key: f"cur/{key}:2,S"}
    assert maildir.find_key(tmp_path / "box", key) == f"cur/{key}:2,S"
    assert maildir.flags_of_filename(f"cur/{key}:2,S") == 1


@pytest.mark.parametrize("filename", ["tmp/x", "new/", "new/..", "cur/a/b", "../x", "/etc"])
def test_message_file_refuses_foreign_names(tmp_path, filename):
    with pytest.raises(ValueError):
        maildir.message_file(tmp_path, filename)

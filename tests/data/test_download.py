"""Corpus downloads against a local HTTP server: checksum, truncation, hostile archives, skip."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import stat
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
from helpers import ROOT

from audiocs.errors import AudiocsError
from audiocs.prep import download_esc50, download_fsdd
from audiocs.prep.download import safe_extract

META = "filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files of the test folder; /truncated/<name> promises more bytes than it sends."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        type(self).requests.append(self.path)
        if self.path.startswith("/truncated/"):
            body = (Path(self.directory) / self.path.split("/")[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    """(base URL, folder it serves, list of request paths) of a server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("H", (_Handler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, handler.requests
    httpd.shutdown()
    httpd.server_close()


def _zip(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _tar(path: Path, files: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> Path:
    """links: name -> (tar type, link name)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return path


def _esc50_files(top: str = "ESC-50-master") -> dict[str, bytes]:
    return {f"{top}/meta/esc50.csv": META.encode(), f"{top}/audio/1-1-A-0.wav": b"RIFF fake"}


def _fsdd_files(top: str = "free-spoken-digit-dataset-master") -> dict[str, bytes]:
    return {f"{top}/recordings/{d}_theo_{i}.wav": bytes([d, i]) for d in range(3) for i in range(2)}


def test_zip_download_unpacks_renames_and_skips_when_complete(server, tmp_path):
    base, served, requests = server
    _zip(served / "esc.zip", _esc50_files())
    target = tmp_path / "data"
    stale = target / ".ESC-50-master.k1ll3d.download"  # left by a run killed mid-download
    stale.mkdir(parents=True)
    (stale / "archive.zip.part").write_bytes(b"partial")
    corpus = download_esc50(target, url=f"{base}/esc.zip")
    assert corpus == target / "ESC-50-master"
    assert (corpus / "meta" / "esc50.csv").read_text() == META
    assert (corpus / "audio" / "1-1-A-0.wav").read_bytes() == b"RIFF fake"
    assert sorted(p.name for p in target.iterdir()) == ["ESC-50-master"]  # no temp leftovers
    assert requests == ["/esc.zip"]
    assert download_esc50(target, url=f"{base}/esc.zip") == corpus
    assert requests == ["/esc.zip"]  # complete: not fetched again


def test_tar_download_with_checksum_and_custom_name(server, tmp_path):
    base, served, _ = server
    archive = _tar(served / "fsdd.tar.gz", _fsdd_files())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    corpus = download_fsdd(tmp_path, name="fsdd", url=f"{base}/fsdd.tar.gz", sha256=digest.upper())
    assert corpus == tmp_path / "fsdd"
    assert len(list((corpus / "recordings").glob("*.wav"))) == 6
    assert (corpus / "recordings" / "2_theo_1.wav").read_bytes() == bytes([2, 1])


@pytest.mark.parametrize("case", ["sha256", "truncated", "missing", "not_corpus", "not_archive"])
def test_failed_download_leaves_nothing(server, tmp_path, case):
    base, served, _ = server
    _zip(served / "esc.zip", _esc50_files())
    (served / "junk.zip").write_bytes(b"this is not an archive" * 100)
    _zip(served / "other.zip", {"x/readme.txt": b"hello"})
    url, sha = {
        "sha256": (f"{base}/esc.zip", "0" * 64),
        "truncated": (f"{base}/truncated/esc.zip", None),
        "missing": (f"{base}/nothing.zip", None),
        "not_corpus": (f"{base}/other.zip", None),
        "not_archive": (f"{base}/junk.zip", None),
    }[case]
    target = tmp_path / "data"
    with pytest.raises(AudiocsError) as err:
        download_esc50(target, url=url, sha256=sha)
    expected = {"sha256": "sha256 mismatch", "truncated": "truncated", "missing": "download failed",
                "not_corpus": "complete ESC-50", "not_archive": "not a zip or tar"}[case]
    assert expected in str(err.value)
    assert list(target.iterdir()) == []


_ESC = _esc50_files()
_REG = tarfile.REGTYPE
REASON = {
    "dotdot": "'..' leaves", "absolute": "absolute path", "symlink_out": "points outside",
    "symlink_abs": "points outside", "hardlink_out": "points outside",
    "link_chain": "not a file inside", "link_via_dir_link": "not a file inside",
    "device": "device or fifo",
}
HOSTILE = {
    "zip_dotdot": ("zip", {**_ESC, "ESC-50-master/../../evil.txt": b"x"}, {}),
    "zip_absolute": ("zip", {**_ESC, "/tmp/evil.txt": b"x"}, {}),
    "zip_symlink_out": ("zip", _ESC, {"ESC-50-master/link": "../../../evil.txt"}),
    "zip_symlink_abs": ("zip", _ESC, {"ESC-50-master/link": "/etc/passwd"}),
    "tar_dotdot": ("tar", {**_ESC, "../evil.txt": b"x"}, {}),
    "tar_absolute": ("tar", {**_ESC, "/tmp/evil.txt": b"x"}, {}),
    "tar_symlink_out": ("tar", _ESC, {"ESC-50-master/link": (tarfile.SYMTYPE, "../../evil.txt")}),
    "tar_symlink_abs": ("tar", _ESC, {"ESC-50-master/link": (tarfile.SYMTYPE, "/etc/passwd")}),
    "tar_hardlink_out": ("tar", _ESC, {"ESC-50-master/link": (tarfile.LNKTYPE, "../evil.txt")}),
    "tar_link_chain": ("tar", _ESC, {"ESC-50-master/s": (tarfile.SYMTYPE, "."),
                                     "ESC-50-master/t": (tarfile.SYMTYPE, "s/s/../..")}),
    "tar_link_via_dir_link": ("tar", _ESC, {"ESC-50-master/s": (tarfile.SYMTYPE, "."),
                                            "ESC-50-master/t": (tarfile.SYMTYPE, "s/s/meta/x")}),
    "tar_device": ("tar", _ESC, {"ESC-50-master/dev": (tarfile.CHRTYPE, "")}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_refused_and_nothing_written(server, tmp_path, case):
    base, served, _ = server
    kind, files, links = HOSTILE[case]
    name = f"bad.{'zip' if kind == 'zip' else 'tar.gz'}"
    (_zip if kind == "zip" else _tar)(served / name, files, links)
    target = tmp_path / "deep" / "data"
    with pytest.raises(AudiocsError, match="refused") as err:
        download_esc50(target, url=f"{base}/{name}")
    assert REASON[case.split("_", 1)[1]] in str(err.value)
    assert list(target.iterdir()) == []
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_links_inside_are_written_as_plain_copies(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", {"top/a.txt": b"alpha"},
                   {"top/sub/b.txt": (tarfile.SYMTYPE, "../a.txt"),
                    "top/c.txt": (tarfile.LNKTYPE, "top/a.txt"),
                    "top/d.txt": (tarfile.SYMTYPE, "sub/b.txt")})
    safe_extract(archive, tmp_path / "out")
    for name in ("sub/b.txt", "c.txt", "d.txt"):
        path = tmp_path / "out" / "top" / name
        assert not path.is_symlink() and path.read_bytes() == b"alpha"


def test_zip_names_with_dot_segments_are_normalized(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"./top/./x.txt": b"1", "top\\y.txt": b"2"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out/top/x.txt").read_bytes() == b"1"
    assert (tmp_path / "out/top/y.txt").read_bytes() == b"2"


def test_cli_download_then_manifest(server, tmp_path):
    base, served, _ = server
    _zip(served / "fsdd.zip", _fsdd_files())
    spec = importlib.util.spec_from_file_location("prep_fsdd", ROOT / "data_prep" / "fsdd.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    corpus, out = tmp_path / "corpora" / "fsdd", tmp_path / "out"
    argv = ["--corpus", str(corpus), "--out", str(out), "--download", "--url", f"{base}/fsdd.zip",
            "--no-features"]
    assert script.main(argv) == 0
    lines = (out / "manifest.csv").read_text().splitlines()
    assert len(lines) == 1 + 6 and lines[0].startswith("id,path,label,label_name,fold,speaker")
    bad = ["--corpus", str(tmp_path / "x"), "--out", str(out), "--download", "--url",
           f"{base}/fsdd.zip", "--sha256", "ab" * 32, "--no-features"]
    assert script.main(bad) == 2
    assert not (tmp_path / "x").exists()

"""Fetch a corpus archive over HTTP(S), verify it and unpack it safely into place.

Archives are untrusted: every member must stay inside the target folder. Absolute names,
`..` components, device files and links that point outside are refused, and the whole archive
is refused with them. Links that point inside are written as plain copies of their target, so
the unpacked tree holds no links at all. A failed download, a checksum mismatch or a refused
archive leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.progress import progress_bar

_CHUNK = 1 << 16
_MAX_LINK_DEPTH = 8


@dataclass
class _Member:
    """One archive entry: kind is 'file', 'dir' or 'link'; link targets are archive names."""

    name: str
    kind: str
    link: str = ""
    info: object = None


def fetch(url: str, dest: Path, *, sha256: str | None = None, timeout: float = 60.0) -> str:
    """Download `url` to `dest` with a progress bar; returns the sha256 hex digest of the bytes.

    The bytes go to a temporary file beside `dest` that is renamed only when the download is
    complete (Content-Length reached) and the digest equals `sha256` (when given).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise AudiocsError(f"{url}: download failed ({err})") from err
            with response:
                size = int(response.headers.get("Content-Length") or 0) or None
                got = 0
                with progress_bar(total=size, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except (OSError, ValueError, http.client.HTTPException) as err:
                            raise AudiocsError(f"{url}: download interrupted ({err})") from err
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        got += len(chunk)
                        bar.update(len(chunk))
            if size is not None and got != size:
                raise AudiocsError(f"{url}: download truncated ({got} of {size} bytes)")
        actual = digest.hexdigest()
        if sha256 is not None and actual.lower() != sha256.strip().lower():
            raise AudiocsError(
                f"{url}: sha256 mismatch (expected {sha256.strip().lower()}, got {actual})"
            )
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return actual


def _clean_name(archive: Path, raw: str) -> str:
    """Validate one member name; returns it normalized (posix, no trailing slash)."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise AudiocsError(f"{archive}: refused member {raw!r} (absolute path)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise AudiocsError(f"{archive}: refused member {raw!r} (path with '..' leaves the folder)")
    return "/".join(parts)


def _link_target(archive: Path, member: str, link: str, relative_to_member: bool) -> str:
    """Archive name a link points at; refuses targets that leave the archive root."""
    if link.startswith("/") or (len(link) > 1 and link[1] == ":"):
        raise AudiocsError(f"{archive}: refused link {member!r} -> {link!r} (points outside)")
    base = posixpath.dirname(member) if relative_to_member else ""
    target = posixpath.normpath(posixpath.join(base, link.replace("\\", "/")))
    if target == ".." or target.startswith("../"):
        raise AudiocsError(f"{archive}: refused link {member!r} -> {link!r} (points outside)")
    return target


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        name = _clean_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            link = zf.read(info).decode("utf-8", errors="replace")
            members.append(_Member(name, "link", _link_target(archive, name, link, True)))
        elif info.is_dir():
            members.append(_Member(name, "dir"))
        else:
            members.append(_Member(name, "file", info=info))
    return members


def _tar_members(archive: Path, tf: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        name = _clean_name(archive, info.name)
        if info.issym():
            members.append(_Member(name, "link", _link_target(archive, name, info.linkname, True)))
        elif info.islnk():
            members.append(_Member(name, "link", _link_target(archive, name, info.linkname, False)))
        elif info.isdir():
            members.append(_Member(name, "dir"))
        elif info.isfile():
            members.append(_Member(name, "file", info=info))
        else:
            raise AudiocsError(f"{archive}: refused member {info.name!r} (device or fifo)")
    return members


def _resolve_links(archive: Path, members: list[_Member]) -> dict[str, str]:
    """Map each link name to the regular file it finally points at (inside the archive)."""
    kinds = {m.name: m for m in members}
    resolved = {}
    for m in members:
        if m.kind != "link":
            continue
        target, depth = m.link, 0
        while target in kinds and kinds[target].kind == "link" and depth < _MAX_LINK_DEPTH:
            target, depth = kinds[target].link, depth + 1
        if target not in kinds or kinds[target].kind != "file":
            raise AudiocsError(
                f"{archive}: refused link {m.name!r} -> {m.link!r} (not a file inside the archive)"
            )
        resolved[m.name] = target
    return resolved


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a .zip or tar (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) archive into `dest`.

    Every member is checked before anything is written; one refused member refuses the archive.
    """
    archive = Path(archive)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = _zip_members(archive, zf)
            links = _resolve_links(archive, members)
            _write_members(archive, dest, members, links, zf.open)
        return
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as err:
        raise AudiocsError(f"{archive}: not a zip or tar archive ({err})") from err
    with tf:
        members = _tar_members(archive, tf)
        links = _resolve_links(archive, members)
        _write_members(archive, dest, members, links, tf.extractfile)


def _write_members(archive: Path, dest: Path, members: list[_Member], links: dict[str, str],
                   open_member: Callable) -> None:
    """Write dirs and files, then links as copies of their targets; never follows a link."""
    name = ""
    try:
        for m in members:
            name, path = m.name, dest / m.name
            if not m.name:
                continue
            if m.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
            elif m.kind == "file":
                path.parent.mkdir(parents=True, exist_ok=True)
                with open_member(m.info) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        for name, target in links.items():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest / target, dest / name)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as err:
        raise AudiocsError(f"{archive}: cannot unpack member {name!r} ({err})") from err


def download_and_extract(
    url: str,
    target_dir: Path,
    name: str,
    *,
    sha256: str | None,
    is_complete: Callable[[Path], bool],
) -> Path:
    """Fetch `url` and unpack it as `target_dir/name` (the archive's single top folder, renamed).

    Skips all work when `is_complete(target_dir/name)` is already true. The archive and the
    temporary folder are removed whatever happens; only a complete corpus is renamed into place.
    """
    target_dir = Path(target_dir)
    final = target_dir / name
    if final.exists() and is_complete(final):
        print(f"{final}: already complete, download skipped")
        return final
    if final.exists():
        raise AudiocsError(f"{final}: exists but is incomplete; remove it to download again")
    if sha256 is None:
        print(f"{url}: no checksum is recorded for this archive (pass --sha256 to verify it)")
    target_dir.mkdir(parents=True, exist_ok=True)
    for stale in target_dir.glob(f".{name}.*.download"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".download", dir=target_dir))
    try:
        archive = work / ("archive" + _suffix(url))
        digest = fetch(url, archive, sha256=sha256)
        print(f"{url}: sha256 {digest}")
        unpacked = work / "unpacked"
        safe_extract(archive, unpacked)
        archive.unlink()
        entries = list(unpacked.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if not is_complete(root):
            raise AudiocsError(f"{url}: the archive does not hold a complete {name} corpus")
        os.replace(root, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _suffix(url: str) -> str:
    for ext in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if url.split("?")[0].endswith(ext):
            return ext
    return ".bin"

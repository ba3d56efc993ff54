"""Download, verify and extract the files of a registered dataset.

- Downloads go to ``<file>.part`` and are renamed only once the size and checksum match, so no
  partial file ever has the final name. An interrupted download resumes from the ``.part``
  file (HTTP range request) on the next call; network errors are retried with backoff.
- A server that stalls (less than ``MIN_RATE`` bytes/s over ``STALL_S`` seconds, e.g. a byte every
  20 s, which no socket timeout catches) is dropped and retried like a broken connection; so is
  one that has not sent its status line and headers within ``STALL_S`` of the request.
- Archives are extracted into a hidden folder beside the target and moved into place member by
  member only after every member was written; a member whose path would leave the target folder
  (absolute, ``..``, or a link pointing outside), more members than the registry states, or
  contents more than ``MAX_EXPANSION`` times the archive's size (a decompression bomb) or larger
  than the free disk make the whole extraction fail.
- ``<data_root>/<dataset>/regbench-verified.json`` is written last: its presence means the
  dataset is complete and verified.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import tarfile
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.request import HTTPHandler, HTTPSHandler, Request, build_opener

from tqdm import tqdm

from regbench.data.registry import DataFile, Dataset

CHUNK = 1 << 20
STAMP = "regbench-verified.json"
STALL_S = 120.0
MIN_RATE = 1024  # bytes/s, averaged over STALL_S
MAX_EXPANSION = 50  # images in the registered archives are gzipped or raw: a few times at most


def file_hash(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: DataFile) -> str:
    """Check size and the published checksum; return the file's sha256. Raise ``ValueError``
    naming the file and the mismatch."""
    if spec.size is not None and path.stat().st_size != spec.size:
        size = path.stat().st_size
        raise ValueError(f"{path}: {size} bytes, expected {spec.size} (truncated or wrong file)")
    sha256 = file_hash(path, "sha256")
    if spec.sha256 and sha256 != spec.sha256:
        raise ValueError(f"{path}: sha256 {sha256}, expected {spec.sha256} (corrupt or wrong file)")
    if spec.md5 and (md5 := file_hash(path, "md5")) != spec.md5:
        raise ValueError(f"{path}: md5 {md5}, expected {spec.md5} (corrupt or wrong file)")
    return sha256


def download(spec: DataFile, dest: Path, retries: int = 4, backoff_s: float = 2.0) -> str:
    """Fetch ``spec.url`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place;
    return its sha256. A checksum mismatch deletes the partial file."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, retries + 1):
        try:
            _transfer(spec.url, part)
            break
        except HTTPError as err:
            if err.code == 416:  # range beyond the end: the partial file is already complete
                break
            raise RuntimeError(f"{spec.url}: HTTP {err.code} {err.reason} (for {dest})") from None
        except (URLError, OSError, http.client.HTTPException) as err:
            if attempt == retries:
                raise RuntimeError(
                    f"{spec.url}: download failed {retries} times ({err}); {part} is kept and the next "
                    "run resumes it"
                ) from None
            print(f"{spec.url}: {err}; retrying in {backoff_s * attempt:g} s", flush=True)
            time.sleep(backoff_s * attempt)
    try:
        sha256 = verify(part, spec)
    except ValueError:
        part.unlink()
        raise
    os.replace(part, dest)
    return sha256


def _open(request: Request):
    """``urlopen`` whose connecting and header reading must end within ``STALL_S``: a watchdog
    shuts the connection's socket down after that (a byte every few seconds keeps any socket
    timeout from firing), which fails the request as a stall."""
    connections = []

    def recorded(base):
        class Recorded(base):
            def connect(self):
                super().connect()
                connections.append(self)

        return Recorded

    class Http(HTTPHandler):
        def http_open(self, req):
            return self.do_open(recorded(http.client.HTTPConnection), req)

    class Https(HTTPSHandler):
        def https_open(self, req):
            return self.do_open(recorded(http.client.HTTPSConnection), req, context=self._context)

    fired = threading.Event()

    def drop():
        fired.set()
        for connection in connections:
            if connection.sock is not None:
                connection.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(STALL_S, drop)
    watchdog.start()
    try:
        return build_opener(Http, Https).open(request, timeout=60)
    except (URLError, OSError, http.client.HTTPException) as err:
        if fired.is_set() and not isinstance(err, HTTPError):
            raise TimeoutError(
                f"no response within {STALL_S:g} s of the request: the server stalls"
            ) from None
        raise
    finally:
        watchdog.cancel()


def _transfer(url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part`` (all of it when the server ignores ranges)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "regbench (dataset download)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with _open(Request(url, headers=headers)) as response:
        if offset and getattr(response, "status", 200) != 206:
            offset = 0  # no range support: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with (
            open(part, "ab" if offset else "wb") as out,
            tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=part.stem, mininterval=2
            ) as bar,
        ):
            received, window_start, window_bytes = 0, time.monotonic(), 0
            while block := response.read1(CHUNK):  # whatever has arrived, so the bar moves
                out.write(block)
                received += len(block)
                bar.update(len(block))
                window_bytes += len(block)
                if (elapsed := time.monotonic() - window_start) >= STALL_S:
                    if window_bytes < MIN_RATE * elapsed:
                        stall = f"{window_bytes} bytes in the last {elapsed:.0f} s: the server stalls"
                        raise TimeoutError(stall)
                    window_start, window_bytes = time.monotonic(), 0
        if length and received < int(length):
            raise http.client.IncompleteRead(b"", int(length) - received)


def _check_members(archive: Path, names: list[str]) -> None:
    for name in names:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{archive}: member {name!r} would land outside the target folder; refusing")


def _check_size(archive: Path, target: Path, sizes: list[int]) -> None:
    total = sum(sizes)
    if total > MAX_EXPANSION * max(archive.stat().st_size, CHUNK):
        raise ValueError(
            f"{archive}: its members add up to {total:,} bytes, more than {MAX_EXPANSION} times the "
            "archive's size (a decompression bomb?); refusing"
        )
    if total > (free := shutil.disk_usage(target).free):
        raise ValueError(f"{archive}: needs {total:,} bytes to extract, {free:,} free under {target}")


def _check_entries(archive: Path, count: int, entries: int | None) -> None:
    if entries is not None and count != entries:
        raise ValueError(
            f"{archive}: {count} members where the registry states {entries} (truncated or wrong archive)"
        )


def extract(archive: Path, target: Path, entries: int | None = None) -> int:
    """Extract ``archive`` (tar, tar.gz or zip) into ``target``, all or nothing; ``entries``: the
    number of members the registry states. Returns the number of members."""
    staging = target / f".extracting-{archive.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                _check_members(archive, [m.filename for m in members])
                _check_entries(archive, len(members), entries)
                _check_size(archive, target, [m.file_size for m in members])  # reads stop at these
                zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                _check_members(archive, [m.name for m in members])
                _check_entries(archive, len(members), entries)
                _check_size(archive, target, [m.size for m in members])
                tf.extractall(staging, filter="data")  # also refuses links that leave the folder
    except tarfile.FilterError as err:
        shutil.rmtree(staging)
        raise ValueError(f"{archive}: {err}; refusing") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        shutil.rmtree(staging)
        raise ValueError(f"{archive}: corrupt or truncated archive ({err})") from None
    except ValueError:
        shutil.rmtree(staging)
        raise
    for entry in staging.iterdir():
        destination = target / entry.name
        if destination.is_dir():
            shutil.rmtree(destination)
        os.replace(entry, destination)
    staging.rmdir()
    return len(members)


def dataset_dir(data_root: str | Path, dataset: Dataset) -> Path:
    return Path(data_root) / dataset.name


def fetch(dataset: Dataset, data_root: str | Path, files: list[DataFile] | None = None) -> Path:
    """Make ``dataset`` complete under ``data_root``: download (scripted) or check (gated) its
    files, extract archives, check the layout, write the stamp. ``files`` overrides the
    registry's (another URL or checksum). Returns the stamp's path."""
    folder = dataset_dir(data_root, dataset)
    stamp = folder / STAMP
    if stamp.exists():
        return stamp
    layout = folder / dataset.layout
    if not dataset.scripted:
        if not layout.exists():
            raise FileNotFoundError(
                f"dataset {dataset.name!r} cannot be downloaded by a script ({dataset.licence}). "
                f"{dataset.instructions.replace('<data_root>', str(Path(data_root)))} "
                f"Then rerun; regbench checks for {layout}. Landing page: {dataset.landing}"
            )
    hashes = {}
    for spec in files if files is not None else dataset.files:
        path = folder / spec.name
        if path.exists():
            hashes[spec.name] = verify(path, spec)
        else:
            print(f"downloading {spec.name} of {dataset.name} ({dataset.licence})", flush=True)
            hashes[spec.name] = download(spec, path)
        members = extract(path, folder, spec.entries) if spec.extract else None
        if not (spec.sha256 or spec.md5):
            count = f", {members} members" if members is not None else ""
            pinned = f"{path}: sha256 {hashes[spec.name]}{count}"
            print(f"{pinned} (no published checksum: pin it in the registry)")
    if not layout.exists():
        raise ValueError(f"{folder}: {dataset.layout} is missing after extraction: not the expected layout")
    stamp.write_text(json.dumps({"dataset": dataset.name, "sha256": hashes}, indent=2) + "\n")
    return stamp


def status(dataset: Dataset, data_root: str | Path) -> str:
    """``present``, ``missing``, ``incomplete`` (partial download or not extracted) or
    ``checksum mismatch: <file>``."""
    folder = dataset_dir(data_root, dataset)
    if (folder / STAMP).exists():
        return "present"
    for spec in dataset.files:
        path = folder / spec.name
        if path.exists():
            try:
                verify(path, spec)
            except ValueError:
                return f"checksum mismatch: {spec.name}"
    if any(folder.glob("*.part")) or any(folder.glob(".extracting-*")):
        return "incomplete"
    if (folder / dataset.layout).exists():
        return "placed, not yet verified (run `regbench data fetch`)"
    if any((folder / s.name).exists() for s in dataset.files):
        return "incomplete"
    return "missing"

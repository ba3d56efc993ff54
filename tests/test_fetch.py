"""Downloads and archives against a local HTTP server: resume, retry, checksums, hostile paths."""

import hashlib
import io
import tarfile
import time

import pytest

from regbench.data import fetch, registry
from regbench.data.registry import DataFile, Dataset
from tests.archives import tar_bytes, zip_bytes


def dataset(server, name, body, layout="Set/dataset.json", **checks) -> Dataset:
    server.files[name] = body
    checks = checks or {"sha256": hashlib.sha256(body).hexdigest()}
    spec = DataFile(name=name, url=server.url(name), extract=True, **checks)
    return Dataset(
        "set", "a set", ["t"], "https://example.org", "CC BY 4.0", "cite", "script", layout, [spec]
    )


@pytest.mark.parametrize("pack", [tar_bytes, zip_bytes])
def test_download_verify_extract_and_stamp(server, tmp_path, pack):
    body = pack({"Set/dataset.json": b"{}", "Set/imagesTr/a.nii.gz": b"x" * 5000})
    stamp = fetch.fetch(dataset(server, "set.archive", body), tmp_path)
    assert stamp.exists() and (tmp_path / "set/Set/imagesTr/a.nii.gz").read_bytes() == b"x" * 5000
    assert not list(tmp_path.glob("set/*.part")) and not list(tmp_path.glob("set/.extracting-*"))
    assert fetch.status(dataset(server, "set.archive", body), tmp_path) == "present"


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    body = tar_bytes({"Set/dataset.json": b"{}", "Set/big": bytes(range(256)) * 20_000})
    server.cut["set.tar"] = 1_000_000  # the first response drops after 1 MB
    fetch.fetch(dataset(server, "set.tar", body), tmp_path)
    assert [r for _, r in server.requests] == [None, "bytes=1000000-"]
    assert (tmp_path / "set/set.tar").read_bytes() == body


def test_wrong_checksum_leaves_nothing_that_looks_complete(server, tmp_path):
    body = tar_bytes({"Set/dataset.json": b"{}"})
    bad = dataset(server, "set.tar", body, sha256="0" * 64)
    with pytest.raises(ValueError, match=r"set\.tar\.part: sha256 .* expected 0{64}"):
        fetch.fetch(bad, tmp_path)
    assert list((tmp_path / "set").iterdir()) == []
    good = dataset(server, "set.tar", body, md5=hashlib.md5(body).hexdigest())
    (tmp_path / "set/set.tar").write_bytes(body[:-10])  # a truncated copy placed by hand
    assert fetch.status(good, tmp_path) == "checksum mismatch: set.tar"


@pytest.mark.parametrize("pack", [tar_bytes, zip_bytes])
def test_corrupt_archive_is_refused_and_cleaned_up(server, tmp_path, pack):
    body = pack({"Set/dataset.json": b"{}" * 1000})[:300]  # truncated archive, correct checksum
    with pytest.raises(ValueError, match="corrupt or truncated archive|would land outside"):
        fetch.fetch(dataset(server, "set.bin", body), tmp_path)
    assert not (tmp_path / "set/Set").exists() and not list(tmp_path.glob("set/.extracting-*"))
    assert not (tmp_path / "set" / fetch.STAMP).exists()


@pytest.mark.parametrize("hostile", ["../evil.txt", "/tmp/evil.txt", "Set/../../evil.txt"])
@pytest.mark.parametrize("pack", [tar_bytes, zip_bytes])
def test_archive_paths_escaping_the_folder_are_refused(server, tmp_path, pack, hostile):
    body = pack({"Set/dataset.json": b"{}", hostile: b"owned"})
    with pytest.raises(ValueError, match="outside the target folder"):
        fetch.fetch(dataset(server, "set.bin", body), tmp_path / "root")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "root/set/Set").exists()


def test_tar_link_escaping_the_folder_is_refused(server, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        link = tarfile.TarInfo("Set/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(ValueError, match="refusing"):
        fetch.fetch(dataset(server, "set.tar", buffer.getvalue()), tmp_path)


def test_a_stalling_server_is_dropped_and_the_download_fails_naming_it(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "STALL_S", 0.5)
    monkeypatch.setattr(fetch, "MIN_RATE", 100)
    body = b"x" * 10_000
    server.files["slow.bin"] = body
    server.trickle["slow.bin"] = 0.05  # 20 bytes/s, each byte well within any socket timeout
    spec = DataFile(name="slow.bin", url=server.url("slow.bin"), sha256=hashlib.sha256(body).hexdigest())
    stalled = r"download failed 2 times \(\d+ bytes in the last \d+ s: the server stalls"
    with pytest.raises(RuntimeError, match=stalled):
        fetch.download(spec, tmp_path / "slow.bin", retries=2, backoff_s=0.01)
    part = tmp_path / "slow.bin.part"
    assert part.exists() and 0 < part.stat().st_size < len(body)  # kept, to resume
    assert len(server.requests) == 2 and server.requests[1][1] is not None  # the retry resumed
    assert not (tmp_path / "slow.bin").exists()


def test_a_server_that_sends_its_headers_slowly_is_dropped_under_the_same_rule(server, tmp_path, monkeypatch):
    """One header byte every 0.1 s keeps the socket timeout from firing: only the stall rule ends it."""
    monkeypatch.setattr(fetch, "STALL_S", 0.5)
    body = b"y" * 1000
    server.files["late.bin"], server.slow_headers["late.bin"] = body, 0.1
    spec = DataFile(name="late.bin", url=server.url("late.bin"), sha256=hashlib.sha256(body).hexdigest())
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"download failed 2 times \(no response within 0\.5 s .*stalls"):
        fetch.download(spec, tmp_path / "late.bin", retries=2, backoff_s=0.01)
    assert time.monotonic() - start < 5 and len(server.requests) == 2
    assert not (tmp_path / "late.bin").exists()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_an_archive_that_expands_beyond_reason_is_refused(server, tmp_path, kind, monkeypatch):
    import gzip
    import zipfile

    monkeypatch.setattr(fetch, "CHUNK", 1024)  # the floor under the archive's size, shrunk to fit
    members = {"Set/dataset.json": b"{}", "Set/zeros": bytes(200_000)}
    if kind == "zip":
        body = zip_bytes(members, zipfile.ZIP_DEFLATED)
    else:
        body = gzip.compress(tar_bytes(members))
    with pytest.raises(ValueError, match=r"members add up to 200,002 bytes, more than 50 times"):
        fetch.fetch(dataset(server, "set.bin", body), tmp_path)
    assert not (tmp_path / "set/Set").exists() and not list(tmp_path.glob("set/.extracting-*"))


def test_an_archive_with_fewer_members_than_the_registry_states_is_not_stamped(server, tmp_path):
    full = {"Set/dataset.json": b"{}", "Set/a.nii.gz": b"a" * 600, "Set/b.nii.gz": b"b" * 600}
    truncated = tar_bytes(dict(list(full.items())[:2]))  # cut at a member boundary
    checks = {"sha256": hashlib.sha256(truncated).hexdigest(), "entries": 3}  # pinned to the cut file
    with pytest.raises(ValueError, match=r"set\.tar: 2 members where the registry states 3"):
        fetch.fetch(dataset(server, "set.tar", truncated, **checks), tmp_path)
    assert not (tmp_path / "set" / fetch.STAMP).exists() and not (tmp_path / "set/Set").exists()
    (tmp_path / "set/set.tar").unlink()
    assert fetch.fetch(dataset(server, "set.tar", tar_bytes(full), entries=3), tmp_path).exists()


def test_missing_file_is_an_http_error_naming_the_url(server, tmp_path):
    spec = dataset(server, "set.tar", b"")
    server.files.clear()
    with pytest.raises(RuntimeError, match=r"set\.tar: HTTP 404"):
        fetch.fetch(spec, tmp_path)


def test_gated_dataset_says_where_to_get_it_then_verifies_it(tmp_path):
    mnms = registry.get("mnms")
    with pytest.raises(FileNotFoundError, match=r"ub\.edu/mnms.*" + str(tmp_path / "mnms")):
        fetch.fetch(mnms, tmp_path)
    assert fetch.status(mnms, tmp_path) == "missing"
    (tmp_path / "mnms/Training").mkdir(parents=True)
    assert fetch.status(mnms, tmp_path).startswith("placed")
    assert fetch.fetch(mnms, tmp_path).exists() and fetch.status(mnms, tmp_path) == "present"


def test_registry_lists_every_dataset_of_the_paper_with_terms():
    datasets = registry.load()
    expected = {"lumir", "oasis", "ixi", "lpba40", "mindboggle", "adni", "nlst", "lung250m", "acdc"}
    assert expected | {"mnms", "abdomen_mrct", "abdomen_ctct", "psmareg", "hippocampus"} <= set(datasets)
    for d in datasets.values():
        assert d.licence and d.citation and d.landing and d.layout
        assert all(f.url.startswith("https://") for f in d.files)
    assert not datasets["adni"].scripted and datasets["hippocampus"].files[0].md5
    with pytest.raises(ValueError, match="not in"):
        registry.get("nope")

import pytest

from regbench.io import atomic_path


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_appears_complete(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and len(list(target.parent.iterdir())) == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_have_the_mode_the_umask_gives(tmp_path, umask, mode):
    import os

    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "table.csv") as tmp:
            tmp.write_text("a,b\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "table.csv").stat().st_mode & 0o777 == mode


def test_non_finite_images_and_fields_are_refused_with_the_file_named(tmp_path):
    import numpy as np

    from regbench.data import volumes
    from regbench.io import FieldStore, load_image, save_fields, save_image

    image = np.ones((6, 7, 8), np.float32)
    image[2, 3, 4] = np.nan
    save_image(tmp_path / "bad.nii.gz", image, (1, 1, 1))
    for load in (load_image, volumes.load):
        with pytest.raises(ValueError, match=r"bad.nii.gz: image holds 1 non-finite value"):
            load(tmp_path / "bad.nii.gz")
    disp = np.zeros((3, 6, 7, 8), np.float32)
    disp[0, 1, 1, 1] = np.inf
    save_fields(tmp_path / "f.npz", {"pair-000": disp}, {"pair-000": {}})
    with pytest.raises(ValueError, match=r"f.npz: the displacement field of pair 'pair-000' holds 1"):
        FieldStore(tmp_path / "f.npz")["pair-000"]


def test_a_gzip_image_whose_checksum_fails_is_refused_with_the_file_named(tmp_path):
    import numpy as np

    from regbench.data import volumes
    from regbench.io import load_image, save_image

    save_image(tmp_path / "img.nii.gz", np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8), (1, 1, 1))
    raw = bytearray((tmp_path / "img.nii.gz").read_bytes())
    raw[-8] ^= 0xFF  # the CRC32 in the gzip trailer: the data itself still decompresses
    (tmp_path / "img.nii.gz").write_bytes(bytes(raw))
    for load in (load_image, volumes.load):
        with pytest.raises(ValueError, match=r"img.nii.gz: cannot read image \(CRC check failed"):
            load(tmp_path / "img.nii.gz")


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal, sys\n"
        "from regbench.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    target = tmp_path / "summary.md"
    killed = subprocess.run([sys.executable, "-c", script, str(target)])
    assert killed.returncode == -signal.SIGKILL
    assert len(list(tmp_path.iterdir())) == 1 and not target.exists()  # the hidden leftover
    (tmp_path / ".summary.md.notes").write_text("someone else's")  # not a leftover: kept
    with atomic_path(target) as tmp:
        tmp.write_text("table")
    assert sorted(os.listdir(tmp_path)) == [".summary.md.notes", "summary.md"]

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
TINY_DATA = {
    "source": "demo",
    "dims": 2,
    "resolution_mm": 4,
    "shape": [48, 64],
    "slice_z_mm": 10,
    "subjects": 8,
    "split": {"train": 3, "val": 2},
    "test_pairs": 3,
    "deformation": {"control_spacing_mm": 32, "velocity_std_mm": 6},
    "intensity": {"bias_spacing_mm": 64, "bias_std": 0.1, "gamma_std": 0.1, "noise_std": 0.01},
}


def snakemake_command(workdir, *args):
    """The workflow with the tiny config in ``workdir``: command line and environment (the jobs
    call ``python``: make it this interpreter)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", str(TINY), *args]
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    return cmd, env


def snakemake(workdir, *args, check=True):
    """Run the workflow with the tiny config in ``workdir``; return the completed process."""
    cmd, env = snakemake_command(workdir, "--cores", "2", *args)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    if check and done.returncode:
        raise AssertionError(f"snakemake failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


@pytest.fixture
def server():
    """A local HTTP server (tests.archives.Server) for the test's files."""
    from tests.archives import Server

    s = Server()
    yield s
    s.httpd.shutdown()


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory):
    from regbench.data import demo

    return demo.prepare(TINY_DATA, seed=0, out_dir=tmp_path_factory.mktemp("tiny"), task="tiny")

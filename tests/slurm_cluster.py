"""A throw-away one-node SLURM on 127.0.0.1 for the integration test (no systemd, run as root).

munged, slurmctld and slurmd run in the foreground in their own sessions; their PIDs are kept and
they are stopped by PID. Two fake GPUs (``/dev/null``, ``/dev/zero``) are typed GRES, so
``--gpus=1`` is scheduled and the job sees ``CUDA_VISIBLE_DEVICES``. Configless mode publishes the
config in ``/run/slurm/conf``, where ``srun`` inside jobs finds it. No accounting: Snakemake must
poll with ``squeue``. Facts behind each choice: ../shared/reference/slurm.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol", "sinfo", "munge")
REAL_CONFIG = Path("/etc/slurm/slurm.conf")
CONFIG_CACHE = Path("/run/slurm/conf")


def unavailable_reason() -> str | None:
    """Why this machine cannot host the test cluster, or None."""
    if REAL_CONFIG.exists():
        return f"{REAL_CONFIG} exists: this looks like a real SLURM host, refusing to start a test cluster"
    if os.geteuid() != 0:
        return "the test cluster needs root (munged and slurmd run as root or munge)"
    missing = [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]
    if missing:
        packages = "slurmctld slurmd slurm-client munge"
        return f"SLURM is not installed (missing {', '.join(missing)}; apt-get install {packages})"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Cluster:
    def __init__(self, lab: Path, gpus: int = 2):
        self.lab = lab
        self.etc, self.run, self.log = lab / "etc", lab / "run", lab / "log"
        self.gpus = gpus
        self.pids: dict[str, int] = {}
        self.env = dict(os.environ, SLURM_CONF=str(self.etc / "slurm.conf"))

    def _write_configs(self) -> None:
        for d in (self.etc, self.run, self.log, self.lab / "spool/d", self.lab / "spool/ctld"):
            d.mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 1
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 * 85 // 100
        devices = ",".join(["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"][: self.gpus])
        (self.etc / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName=localhost Name=gpu Type=fake File={devices}\n"
        )
        lab = self.lab
        (self.etc / "slurm.conf").write_text(
            f"""ClusterName=regbenchtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldParameters=enable_configless
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={lab}/spool/ctld
SlurmdSpoolDir={lab}/spool/d
SlurmctldPidFile={lab}/run/slurmctld.daemon.pid
SlurmdPidFile={lab}/run/slurmd.daemon.pid
SlurmctldLogFile={lab}/log/slurmctld.log
SlurmdLogFile={lab}/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
MinJobAge=600
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} Gres=gpu:fake:{self.gpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )

    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        out = (self.log / f"{name}.out").open("w")
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env or self.env,
        )  # fmt: skip
        self.pids[name] = proc.pid

    def _wait(self, what: str, check, seconds: float = 30) -> None:
        end = time.monotonic() + seconds
        while not check():
            if time.monotonic() > end:
                logs = "\n".join(p.read_text()[-2000:] for p in sorted(self.log.glob("*")) if p.is_file())
                raise RuntimeError(f"test SLURM: {what} did not come up in {seconds} s\n{logs}")
            time.sleep(0.1)

    def _ok(self, cmd: list[str], expect: str | None = None, env: dict | None = None) -> bool:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env or self.env)
        return done.returncode == 0 and (expect is None or expect in done.stdout)

    def _munge_ok(self) -> bool:
        token = subprocess.run(["munge", "-n"], capture_output=True)
        return (
            token.returncode == 0
            and subprocess.run(["unmunge"], input=token.stdout, capture_output=True).returncode == 0
        )

    def start(self) -> None:
        self._write_configs()
        if not self._munge_ok():
            key = Path("/etc/munge/munge.key")
            if not key.exists() or key.stat().st_size == 0:
                subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
                shutil.chown(key, "munge", "munge")
                key.chmod(0o600)
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            self._spawn(
                "munged",
                ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", _binary("munged"), "-F"],
            )
            self._wait("munged", self._munge_ok, 10)
        self._spawn("slurmctld", [_binary("slurmctld"), "-D", "-c"])
        self._wait("slurmctld", lambda: self._ok(["scontrol", "ping"], "UP"))
        # configless: slurmd fetches the config and publishes /run/slurm/conf for jobs' srun
        no_conf = {k: v for k, v in self.env.items() if k != "SLURM_CONF"}
        slurmd = [_binary("slurmd"), "-D", "-N", "localhost", "--conf-server", "127.0.0.1:6817"]
        self._spawn("slurmd", slurmd, env=no_conf)
        self._wait("slurmd", lambda: self._ok(["sinfo", "-h", "-n", "localhost", "-o", "%T"], "idle"))
        self._wait("configless config", lambda: self._ok(["sinfo", "-h", "-o", "%P"], "debug", env=no_conf))

    def _queued(self) -> str:
        squeue = ["squeue", "-h", "-t", "R,CG,PD", "-o", "%i"]
        return subprocess.run(squeue, capture_output=True, text=True, env=self.env).stdout.strip()

    def stop(self) -> None:
        """Cancel every job (their slurmstepd would outlive slurmd), then stop the daemons by PID."""
        if "slurmctld" in self.pids:
            subprocess.run(["scancel", "--full", "--user=root"], capture_output=True, env=self.env)
            end = time.monotonic() + 30
            while time.monotonic() < end and self._queued():
                time.sleep(0.5)
        for group in (("slurmd", "slurmctld"), ("munged",)):
            alive = [self.pids.pop(n) for n in group if n in self.pids]
            for pid in alive:
                _signal(pid, signal.SIGTERM)
            end = time.monotonic() + 15
            while time.monotonic() < end and any(_alive(p) for p in alive):
                time.sleep(0.1)
            for pid in alive:
                _signal(pid, signal.SIGKILL)
        if CONFIG_CACHE.is_symlink() and str(os.readlink(CONFIG_CACHE)).startswith(str(self.lab)):
            CONFIG_CACHE.unlink()

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job the controller remembers: ``scontrol show job`` fields by job ID."""
        out = subprocess.run(
            ["scontrol", "-o", "show", "job"], capture_output=True, text=True, env=self.env
        ).stdout
        jobs = {}
        for line in out.splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reap our own children
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

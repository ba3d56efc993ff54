"""Learn2Reg's layout of displacement-field files (torch-free: planning globs external folders).

One file per pair, ``disp_<fixed>_<moving>.nii.gz`` (or ``.npz``), named by the manifest's
subject IDs; :mod:`regbench.external` reads and writes them.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".nii.gz", ".npz")


def file_stem(pair: dict) -> str:
    return f"disp_{pair['fixed']}_{pair['moving']}"


def field_files(folder: str | Path) -> list[str]:
    """The field files in ``folder`` (none where it does not exist), sorted."""
    folder = Path(folder)
    return sorted(str(p) for suffix in SUFFIXES for p in folder.glob(f"disp_*{suffix}") if p.is_file())

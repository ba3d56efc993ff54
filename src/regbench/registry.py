"""What can enter the benchmark: backbones and methods, built in or added by plugins.

One mechanism for both. A **backbone** is a :class:`Backbone` record: how to build its encoder
and decoders, the multiple its input sizes must be, its paper name. A **method** is anything that
turns a pair into a displacement field: learned networks (``model``, trained then applied) or a
:class:`Method` record whose ``register`` function registers one pair (``identity``, ``ants``).

Records name their code as ``"module:attribute"`` strings, imported only when a network is built
or a pair registered, so planning a study never imports torch. A plugin package adds records
through the entry-point groups ``regbench.backbones`` and ``regbench.methods``, each entry
pointing at one record (see ``examples/regbench-example-plugin``). Every process (planning,
training, registration, aggregation) sees the same records.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

_ENCODERS = "regbench.models.encoders"
#: the built-in methods' settings schemas (data, so that planning reads them without the methods)
_SETTINGS = yaml.safe_load((Path(__file__).parent / "baselines" / "settings.yaml").read_text())


@dataclass(frozen=True)
class Backbone:
    """A feature extractor that the registration designs can be put on.

    ``encoder(ndim, in_channels, window)``: a module with ``feature_widths`` (fine to coarse)
    whose forward returns that many feature maps, each level half the size of the one before;
    ``in_channels`` is 2 (both images, early fusion) or 1 (one image per stream, design ``D``; the
    built-ins then halve their widths, as the paper's D variants do).
    ``decoder(ndim, skip_widths)``: from the coarse-to-fine features to one flow (early fusion,
    and late fusion where ``skip_widths`` are the two streams' widths summed).
    ``early_decoder``: another decoder for early fusion only (LKU-Net's). ``pyramid``: widths
    (coarse to fine), convolutions per level and pre-projection channels of the motion pyramid.
    ``separate_streams``: the encoder has no parameters, so it always encodes each image alone
    (LessNet). ``complete``: the backbone is a whole registration model (``decoder`` is its
    matcher, over one-channel shared features) and takes no design letters (VFA).
    """

    name: str
    description: str
    encoder: str
    decoder: str
    early_decoder: str | None = None
    pyramid: tuple[tuple[int, ...], int, int | None] = ((128, 96, 64, 32), 1, None)
    divisor: int = 16
    alias: str | None = None
    separate_streams: bool = False
    complete: bool = False
    plugin: str | None = None  # the distribution that registered it (None: built in)


@dataclass(frozen=True)
class Method:
    """A method that registers a pair without training.

    ``register(fixed, moving, spacing, settings, seed)`` returns the displacement on the fixed
    grid, in voxels, channels first, pointing into the moving image
    (``warped(x) = moving(x + u(x))``). ``settings``: the task's ``task_settings.<name>`` section
    (``{}`` when it has none); ``seeded``: its result depends on the seed, so it runs once per
    study seed. ``threads``: the threads one registration job gets. ``dims``: the image
    dimensions it registers (a task of another dimension leaves it out). ``prepare(settings)``,
    optional: the one-time start-up of a job (imports, lazy loading, network weights), run before
    the pairs so that it is not counted in the first pair's runtime, as a model's loading is not.

    ``settings``, optional: a JSON schema of the method's settings object (types, bounds, allowed
    values, defaults; ``additionalProperties: false`` to refuse unknown keys), checked with its
    defaults filled in when a study starts. ``check(settings, grid)``, optional and torch-free:
    the checks that depend on the task's grid (``grid``: ``shape``, ``spacing`` in mm or None,
    ``mem_mb`` of the method's job), raising ``ValueError`` with the reason, also at the start.
    """

    name: str
    description: str
    register: str
    seeded: bool = False
    threads: int = 1
    dims: tuple[int, ...] = (2, 3)
    prepare: str | None = None
    settings: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    check: str | None = None
    plugin: str | None = None


BUILTIN_BACKBONES = (
    Backbone("cnn", "VoxelMorph-style U-Net (VXM)", f"{_ENCODERS}:cnn", f"{_ENCODERS}:vxm_decoder",
             alias="VXM"),
    Backbone("swin", "TransMorph's Swin Transformer encoder", f"{_ENCODERS}:swin", f"{_ENCODERS}:tm_decoder",
             pyramid=((96, 64, 32, 16), 1, 128), divisor=32, alias="TM"),
    Backbone("mamba", "Mamba encoder with the VXM decoder", f"{_ENCODERS}:mamba", f"{_ENCODERS}:vxm_decoder",
             alias="Mam-VXM"),
    Backbone("mambatm", "Mamba blocks in TransMorph's skeleton", f"{_ENCODERS}:mambatm",
             f"{_ENCODERS}:tm_decoder", pyramid=((96, 64, 32, 16), 1, 128), divisor=32, alias="Mam-TM"),
    Backbone("lk", "LKU-Net's large-kernel encoder", f"{_ENCODERS}:lk", f"{_ENCODERS}:vxm_decoder",
             early_decoder=f"{_ENCODERS}:lk_decoder", alias="LKU"),
    Backbone("less", "LessNet's parameter-free pooling encoder", f"{_ENCODERS}:pooling",
             f"{_ENCODERS}:less_decoder", pyramid=((128, 96, 64, 48), 2, None), alias="LessNet",
             separate_streams=True),
    Backbone("vfa", "a shared CNN encoder with vector-field-attention matching (VFA)", f"{_ENCODERS}:vfa",
             f"{_ENCODERS}:vfa_decoder", alias="VFA", complete=True),
)  # fmt: skip

BUILTIN_METHODS = (
    Method(
        "identity", "zero displacement (the unregistered pair)", "regbench.baselines.identity:register_pair"
    ),
    Method(
        "ants",
        "ANTs SyN (antspyx), one thread",
        "regbench.baselines.ants:register_pair",
        seeded=True,
        prepare="regbench.baselines.ants:prepare",
        settings=_SETTINGS["ants"],
    ),
    Method(
        "elastix",
        "elastix B-spline (itk-elastix), one thread",
        "regbench.baselines.elastix:register_pair",
        seeded=True,
        prepare="regbench.baselines.elastix:prepare",
        settings=_SETTINGS["elastix"],
        check="regbench.baselines.limits:elastix",
    ),
    Method(
        "convexadam",
        "ConvexAdam: MIND-SSC, coupled convex optimisation, Adam instance optimisation",
        "regbench.baselines.convexadam:register_pair",
        prepare="regbench.baselines.convexadam:prepare",
        settings=_SETTINGS["convexadam"],
        check="regbench.baselines.limits:convexadam",
    ),
    Method(
        "fireants",
        "FireANTs multi-scale diffeomorphic registration (greedy or SyN), GPU or CPU",
        "regbench.baselines.fireants:register_pair",
        prepare="regbench.baselines.fireants:prepare",
        settings=_SETTINGS["fireants"],
        check="regbench.baselines.limits:fireants",
    ),
    Method(
        "unigradicon",
        "uniGradICON foundation model, zero-shot (3D), optional instance optimisation",
        "regbench.baselines.unigradicon:register_pair",
        seeded=True,
        dims=(3,),
        prepare="regbench.baselines.unigradicon:prepare",
        settings=_SETTINGS["unigradicon"],
    ),
)
#: the name of the learned methods (a trained network): models are named by backbone and designs
MODEL = "model"
#: the backbone that the others replace in the study's contrasts (the paper's VXM)
REFERENCE_BACKBONE = "cnn"


class PluginError(RuntimeError):
    pass


#: entry-point name -> why its plugin could not be used (the rest of the study goes on; using
#: that name is an error that says why)
BROKEN: dict[str, str] = {}


def _discover(group: str, kind: type, builtins: tuple) -> dict[str, Any]:
    records = {r.name: r for r in builtins}
    for entry in entry_points(group=group):
        plugin = entry.dist.name if entry.dist else entry.value
        where = f"plugin {plugin} (entry point {entry.name!r} in {group})"
        try:
            record = entry.load()
            if not isinstance(record, kind):
                raise PluginError(
                    f"{entry.value} is a {type(record).__name__}, not a regbench.registry.{kind.__name__}"
                )
            if record.name in records:
                raise PluginError(
                    f"the name {record.name!r} is taken by {records[record.name].plugin or 'regbench'}"
                )
            if record.name == MODEL or not re.fullmatch(r"[a-z][a-z0-9_]*", record.name):
                raise PluginError(f"{record.name!r} is not a usable name (a-z, then a-z, 0-9 or _)")
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a plugin's import can fail in any way, sys.exit() included
            problem = (
                err if isinstance(err, PluginError) else f"cannot be imported ({type(err).__name__}: {err})"
            )
            BROKEN[entry.name] = f"{where}: {problem}"
            print(f"regbench: {BROKEN[entry.name]}; left out", file=sys.stderr)
            continue
        records[record.name] = replace(record, plugin=plugin)
    return records


def broken(name: str) -> str:
    """Why a plugin that would provide ``name`` was left out ('' when none was)."""
    return f" ({BROKEN[name]})" if name in BROKEN else ""


@functools.cache
def backbones() -> dict[str, Backbone]:
    """Every backbone by name: the built-ins, then the plugins'."""
    return _discover("regbench.backbones", Backbone, BUILTIN_BACKBONES)


@functools.cache
def methods() -> dict[str, Method]:
    """Every method that needs no training, by name: the built-ins, then the plugins'."""
    records = _discover("regbench.methods", Method, BUILTIN_METHODS)
    for name in [n for n, r in records.items() if n in backbones()]:
        BROKEN[name] = f"plugin {records[name].plugin}: method {name!r} has a backbone's name"
        print(f"regbench: {BROKEN[name]}; left out", file=sys.stderr)
        del records[name]
    return records


def method(name: str) -> Method:
    known = methods()
    if name not in known:
        raise ValueError(f"method {name!r}: unknown (available: {', '.join(known)}){broken(name)}")
    return known[name]


def resolve(reference: str, owner: str) -> Callable:
    """The object a ``"module:attribute"`` reference names; ``owner`` is named in the error."""
    module, _, attribute = reference.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:
        raise PluginError(f"{owner}: cannot load {reference!r} ({type(err).__name__}: {err})") from None

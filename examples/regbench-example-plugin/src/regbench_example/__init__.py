"""The records regbench reads through this package's entry points (see pyproject.toml).

Keep this module free of torch and of anything slow to import: regbench reads it in every
process, also when it only plans a study. The code itself is named by ``"module:attribute"``
strings, imported when a network is built or a pair registered.
"""

from regbench.registry import Backbone, Method

BACKBONE = Backbone(
    name="rescnn",
    description="residual CNN encoder (example plugin) with the VXM decoder",
    encoder="regbench_example.backbone:ResidualEncoder",
    # a built-in decoder: (ndim, coarse-to-fine skip widths) -> one flow
    decoder="regbench.models.encoders:vxm_decoder",
    # motion pyramid (design WP): decoder widths coarse to fine, convs per level, no pre-projection
    pyramid=((64, 48, 32, 16), 1, None),
    divisor=16,  # four halvings: input sizes must be multiples of 16
)

DEMONS = Method(
    name="demons",
    description="Thirion's demons with Gaussian regularisation (example plugin), numpy/scipy",
    register="regbench_example.demons:register_pair",
    seeded=False,  # deterministic: one run serves every seed of the study
    # task_settings.<task>.methods.demons, checked (defaults filled in) when a study starts
    settings={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "iterations": {"type": "integer", "minimum": 1, "default": 100},
            "sigma": {"type": "number", "exclusiveMinimum": 0, "description": "voxels", "default": 1.5},
            "max_step": {"type": "number", "exclusiveMinimum": 0, "description": "voxels", "default": 1.0},
        },
    },
)

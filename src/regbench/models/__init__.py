"""Registration networks: fields, blocks, backbones, decoders and the model zoo
(:mod:`regbench.models.zoo`). Model names live in the torch-free :mod:`regbench.names`."""

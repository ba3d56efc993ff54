class ConvModule:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("mmcv stub: ConvModule is not used by the presets; install mmcv to build it")

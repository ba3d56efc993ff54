"""Stand-in for mmcv: the reference imports ``mmcv.cnn.ConvModule`` in modules none of the 19
presets builds, and mmcv has no wheel for current torch."""

"""Classical baselines: identity (no registration) and ANTs SyN."""

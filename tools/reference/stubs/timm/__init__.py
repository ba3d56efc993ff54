"""Stand-in for the four helpers the reference imports from timm (timm needs torchvision)."""

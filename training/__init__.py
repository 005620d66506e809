"""Training for vidcolor's colorization models (installed as ``vidcolor.training``; needs torch)."""

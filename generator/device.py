"""Which torch device a name means: one rule for training, sampling, the CLI and the app."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; anything else is passed to torch.device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)

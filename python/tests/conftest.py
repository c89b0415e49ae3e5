"""Shared helpers of the hadw Python tests.

Peer packages (torch, verl, trl) are optional for a developer, but CI sets HADW_REQUIRE_PEERS=1
(scripts/test.d/20-python.sh): then a missing peer is a failure, never a skip.
"""

import importlib
import os

import numpy as np
import pytest


def peer(module: str):
    """Imports a peer module; skips without it, unless HADW_REQUIRE_PEERS=1 (then it fails)."""
    if os.environ.get("HADW_REQUIRE_PEERS") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)


def random_batch(rng, num_groups, group_size, kind="binary"):
    """Rewards of num_groups x group_size responses: binary (verifier), uniform in [0,1], or
    discrete levels that make ties and all-equal groups common."""
    n = num_groups * group_size
    if kind == "binary":
        return (rng.random(n) < rng.random(num_groups).repeat(group_size)).astype(np.float32)
    if kind == "uniform":
        return rng.random(n).astype(np.float32)
    if kind == "levels":
        return (rng.integers(0, 3, n) / 2).astype(np.float32)
    raise ValueError(kind)


@pytest.fixture
def rng():
    return np.random.default_rng(20260108)

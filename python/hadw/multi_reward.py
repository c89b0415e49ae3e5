"""GDPO (several rewards per response) and ReMax (a greedy baseline per prompt), over the C++
kernels of hadw/api/multi_reward.hpp and hadw/api/remax.hpp. NumPy arrays or torch CPU tensors,
float32 or float64, read and written without a copy; outputs take the rewards' dtype."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ._arrays import array as _array
from ._arrays import call as _call
from ._arrays import empty_like as _empty_like
from ._arrays import host as _host
from ._arrays import kernel as _kernel
from ._arrays import layout_of as _layout
from ._arrays import output as _output
from ._native import core as _core

__all__ = ["gdpo", "remax", "remax_tokens"]


def _weights(weights: Optional[Sequence[float]], k: int) -> np.ndarray:
    if weights is None:
        return np.ones(k, dtype=np.float64)
    w = np.ascontiguousarray(_host(_array(weights, "weights")), dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != k:
        raise ValueError(f"weights: {k} weights required (one per reward column), got shape "
                         f"{tuple(w.shape)}")
    return w


def gdpo(
    rewards: Any,
    *,
    weights: Optional[Sequence[float]] = None,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Any = None,
    mask: Any = None,
    lengths: Any = None,
    out: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    normalise: bool = True,
) -> Any:
    """GDPO's advantage of `rewards` [N, K] (K reward functions per response): each column
    normalised within its group, the weighted sum (`weights`, K floats, default all 1) whitened
    over the batch. Returns `out` [N].

    compat: None (hadw's defaults: verl's formulas, size-1 groups refused), 'verl' (verl's
        `gdpo`: GRPO + 1e-6 per column, a lone response as verl's GRPO; masked_whiten, which
        weighs each response by its token count when `lengths` are given) or 'trl' (TRL's
        multi_objective_aggregation="normalize_then_sum": + 1e-4, nan='unscorable' for its NaNs).
    normalise: False is verl's norm_adv_by_std_in_grpo=False (Dr.GRPO per column; compat='verl').
    Grouping: exactly one of group_size, index, offsets, layout. mask: bool/uint8 per response.
    TRL's "sum_then_normalize" is hadw.estimate on the weighted sum rewards @ weights.
    """
    rewards = _array(rewards, "rewards")
    shape = tuple(rewards.shape)
    if len(shape) != 2:
        raise ValueError(f"rewards: a 2-D array [N, K] required, got {len(shape)}-D")
    n, k = int(shape[0]), int(shape[1])
    w = _weights(weights, k)
    lay = _layout(n, layout, group_size, index, offsets)
    out = _empty_like(rewards, (n,)) if out is None else _output(out, "out")
    _call(_core.gdpo_into, (("rewards", rewards), ("mask", mask), ("lengths", lengths)),
          (("out", out),), compat or "", bool(normalise), lay, _kernel(rewards), w, _kernel(out),
          _kernel(_array(mask, "mask")), _kernel(_array(lengths, "lengths")), nan)
    return out


def remax(rewards: Any, baselines: Any, *, group_size: Optional[int] = None, index: Any = None,
          offsets: Any = None, layout: Any = None, out: Any = None) -> Any:
    """ReMax: rewards - baselines, the baseline being the reward of the prompt's greedy response
    (Li et al. 2023). baselines: one per response (verl's reward_baselines) or, with a grouping
    (group_size, index, offsets or layout), one per group. Returns `out`."""
    rewards = _array(rewards, "rewards")
    baselines = _array(baselines, "baselines")
    n = int(rewards.shape[0]) if len(rewards.shape) == 1 else -1
    grouped = any(v is not None for v in (group_size, index, offsets, layout))
    lay = _layout(n, layout, group_size, index, offsets) if grouped else None
    out = _empty_like(rewards, tuple(rewards.shape)) if out is None else _output(out, "out")
    _call(_core.remax_into, (("rewards", rewards), ("baselines", baselines)), (("out", out),),
          _kernel(rewards), _kernel(baselines), _kernel(out), lay)
    return out


def remax_tokens(token_level_rewards: Any, response_mask: Any, reward_baselines: Any, *,
                 advantages: Any = None, returns: Any = None) -> Tuple[Any, Any]:
    """verl's ReMax on tokens ([N, L]): returns = the reverse cumulative sum of
    token_level_rewards * response_mask per row, advantages = returns - reward_baselines[:, None]
    * response_mask. response_mask: bool/uint8, or the rewards' float dtype (multiplied as is).
    Returns (advantages, returns)."""
    tlr = _array(token_level_rewards, "token_level_rewards")
    mask = _array(response_mask, "response_mask")
    base = _array(reward_baselines, "reward_baselines")
    shape = tuple(tlr.shape)
    advantages = _empty_like(tlr, shape) if advantages is None else _output(advantages, "advantages")
    returns = _empty_like(tlr, shape) if returns is None else _output(returns, "returns")
    _call(_core.remax_tokens_into,
          (("token_level_rewards", tlr), ("response_mask", mask), ("reward_baselines", base)),
          (("advantages", advantages), ("returns", returns)),
          _kernel(tlr), _kernel(mask), _kernel(base), _kernel(advantages), _kernel(returns))
    return advantages, returns

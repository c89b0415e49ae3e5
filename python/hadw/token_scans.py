"""Token-level advantage estimators on [B, L] token rows, as verl 0.9.1's registry computes them
(verl/trainer/ppo/core_algos.py): GAE, REINFORCE++ and the optimal token baseline. NumPy arrays
or torch CPU tensors (float32/float64, C-contiguous; mask bool/uint8), read without a copy; the
results are written into `out` (a pair (advantages, returns)) or new arrays like `rewards`.
Every input is checked before anything is written (hadw.Error / TypeError naming the argument).
Equations and sources: docs/math.md "Token-level estimators".
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _native
from ._arrays import array as _array
from ._arrays import call as _call
from ._arrays import empty_like as _empty_like
from ._arrays import kernel as _kernel
from ._arrays import layout_of as _layout
from ._arrays import output as _output

__all__ = ["gae", "optimal_token_baseline", "reinforce_pp"]

_core = _native.core


def _outputs(rewards: Any, out: Any) -> Tuple[Any, Any]:
    if out is None:
        shape = tuple(rewards.shape)
        return _empty_like(rewards, shape), _empty_like(rewards, shape)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError("out: a pair (advantages, returns) of [B, L] arrays required")
    return _output(out[0], "advantages"), _output(out[1], "returns")


def gae(rewards: Any, values: Any, mask: Any, gamma: float = 1.0, lam: float = 1.0, *,
        whiten: bool = True, out: Any = None) -> Tuple[Any, Any]:
    """verl's compute_gae_advantage_return: per row the reverse scan
    delta_t = r_t + gamma V_next - V_t, A_t = delta_t + gamma lam A_next over the valid tokens
    (masked tokens skipped, carrying A and V_next), returns = A + V, then (whiten=True, as verl)
    A whitened over the batch's valid tokens with verl's masked_whiten. rewards, values: [B, L];
    mask: [B, L] bool/uint8 (verl's response_mask). gamma, lam in [0, 1].
    Returns (advantages, returns)."""
    rewards, values, mask = (_array(rewards, "rewards"), _array(values, "values"),
                             _array(mask, "mask"))
    adv, ret = _outputs(rewards, out)
    _call(_core.gae_into, (("rewards", rewards), ("values", values), ("mask", mask)),
          (("advantages", adv), ("returns", ret)), _kernel(rewards), _kernel(values),
          _kernel(mask), _kernel(adv), _kernel(ret), float(gamma), float(lam), bool(whiten))
    return adv, ret


def reinforce_pp(rewards: Any, mask: Any, gamma: float = 1.0, *,
                 out: Any = None) -> Tuple[Any, Any]:
    """verl's compute_reinforce_plus_plus_outcome_advantage: per row the discounted returns
    G_t = r_t + gamma G_next over the valid tokens (masked tokens carry G_next and get 0), then
    advantages = masked_whiten(G) * mask over the batch's valid tokens (at least 2).
    Returns (advantages, returns)."""
    rewards, mask = _array(rewards, "rewards"), _array(mask, "mask")
    adv, ret = _outputs(rewards, out)
    _call(_core.reinforce_pp_into, (("rewards", rewards), ("mask", mask)),
          (("advantages", adv), ("returns", ret)), _kernel(rewards), _kernel(mask), _kernel(adv),
          _kernel(ret), float(gamma))
    return adv, ret


def optimal_token_baseline(rewards: Any, mask: Any, old_log_probs: Any, sum_pi_squared: Any, *,
                           index: Any = None, group_size: Optional[int] = None,
                           offsets: Any = None, layout: Any = None, is_weights: Any = None,
                           handle_zero_tail: bool = True, eps: float = 1e-8,
                           out: Any = None) -> Tuple[Any, Any]:
    """verl's compute_optimal_token_baseline_advantage: per prompt group and timestep the
    baseline B_t = sum_i G_t W_t / (sum_i W_t + eps) over the group's valid tokens, W_t the
    cumulative sum of (1 - 2 exp(old_log_prob) + sum_pi_squared) * is_weights^2, G_t the
    undiscounted reward-to-go; advantages = (G - B) * mask, returns = G. A group of one keeps
    B = 0; handle_zero_tail zeroes the baseline of a group's unique longest response from the
    second-longest length on. Grouping: exactly one of index (verl's uids), group_size, offsets,
    layout. Returns (advantages, returns)."""
    rewards, mask = _array(rewards, "rewards"), _array(mask, "mask")
    old_log_probs = _array(old_log_probs, "old_log_probs")
    sum_pi_squared = _array(sum_pi_squared, "sum_pi_squared")
    is_weights = _array(is_weights, "is_weights")
    if len(rewards.shape) != 2:
        raise ValueError(f"rewards: a 2-D array required, got {len(rewards.shape)}-D")
    lay = _layout(int(rewards.shape[0]), layout, group_size, index, offsets)
    adv, ret = _outputs(rewards, out)
    _call(_core.optimal_token_baseline_into,
          (("rewards", rewards), ("mask", mask), ("old_log_probs", old_log_probs),
           ("sum_pi_squared", sum_pi_squared), ("is_weights", is_weights)),
          (("advantages", adv), ("returns", ret)), lay, _kernel(rewards), _kernel(mask),
          _kernel(old_log_probs), _kernel(sum_pi_squared), _kernel(is_weights), _kernel(adv),
          _kernel(ret), bool(handle_zero_tail), float(eps))
    return adv, ret

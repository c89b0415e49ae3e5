"""The field's difficulty weightings and SPO's per-prompt tracker (docs/math.md, "Difficulty
weightings" and "Per-prompt anchor").

    adv = hadw.estimate("grpo", rewards, group_size=8)
    stats = hadw.weigh(adv, rewards, "f_grpo", gamma=1.0, group_size=8)   # in place

    tracker = hadw.PromptTracker()                        # carried across steps, checkpointable
    adv = hadw.spo_estimate(tracker, prompt_ids, rewards)  # SPO: r - p(prompt), whitened
    tracker.update(prompt_ids, rewards, rho=0.9)           # after the step, as SPO

A weighting multiplies advantages an estimator already made (hadw.estimate, or verl's / TRL's own),
so it composes with every estimator: call hadw.weigh after the estimator.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ._arrays import array as _array
from ._arrays import call as _call
from ._arrays import empty_like as _empty_like
from ._arrays import kernel as _kernel
from ._arrays import layout_of as _layout
from ._arrays import length as _length
from ._arrays import output as _output
from ._arrays import written as _written
from ._arrays import uniform as _uniform
from ._native import core as _core

PromptTracker = _core.PromptTracker
PromptTracker.__module__ = "hadw"

WEIGHTINGS = ("f_grpo", "grpo_lead", "dgpo_question", "roll_static", "delta_l", "prompt_phi")


def _f64(x: Any, name: str) -> Any:
    if x is None:
        return None
    return np.ascontiguousarray(np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x,
                                           dtype=np.float64))


def _i64(x: Any) -> Any:
    if x is None:
        return None
    return np.ascontiguousarray(np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x,
                                           dtype=np.int64))


def _ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids.detach().cpu().numpy() if hasattr(ids, "detach") else ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids: integer prompt ids required (hash strings first), got {arr.dtype}")
    return np.ascontiguousarray(arr.astype(np.uint64) if arr.dtype.kind == "u" else arr.astype(np.int64))


def weigh(
    advantages: Any,
    rewards: Any,
    method: str,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Any = None,
    gamma: float = 1.0,
    low: float = 0.4,
    high: float = 1.5,
    x0: float = 0.75,
    k: float = 10.0,
    temperature: float = 2.0,
    difficulty: Any = None,
    renormalise: bool = True,
    lengths: Any = None,
    alpha: float = 1.0,
    priors: Any = None,
    lambda_scale: float = 1.5,
    reward_range: Tuple[float, float] = (0.0, 1.0),
    mask: Any = None,
    nan: str = "reject",
    out: Any = None,
) -> dict:
    """Multiplies every valid advantage by a difficulty weighting (in place, or into `out`).

    method:
      'f_grpo'        F-GRPO: (1 - p_hat)^gamma per group.
      'grpo_lead'     GRPO-LEAD: w(rho) = low + (high - low) / (1 + exp(k (rho - x0))) for A > 0,
                      w(1 - rho) otherwise; rho = share of the group's rewards > 0.
      'dgpo_question' DGPO: N_valid softmax(-mean / temperature) over non-degenerate groups.
      'roll_static'   ROLL: 0.5 + 1.5 clamp(difficulty, 0, 1), one label per group, rescaled to
                      mean 1 over the batch (renormalise=False: raw).
      'delta_l'       Delta-L: (L_i / mean L)^-alpha rescaled to mean 1; lengths = token counts.
      'prompt_phi'    HA-DW's Phi with C = priors[k] per group (e.g. PromptTracker priors).
    Grouping: exactly one of group_size, index, offsets, layout. p_hat = the group mean mapped
    from reward_range onto [0, 1]. Masked (and, with nan='unscorable', NaN-reward) responses are
    neither read nor written. Returns {'hadw/weight_mean': ..., 'hadw/weight_min': ..., ...}.
    """
    if method not in WEIGHTINGS:
        raise ValueError(f"method: one of {WEIGHTINGS} required, got {method!r}")
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    lay = _layout(n, layout, group_size, index, offsets)
    if out is not None:
        out = _output(out, "out")
        src = _array(advantages, "advantages")
        if _length(out, "out") != _length(src, "advantages"):
            raise ValueError("out: the length of advantages required")
        if out is not src:
            out[...] = src
        target = out
    else:
        target = _output(advantages, "advantages")
    low_r, high_r = reward_range
    return _call(
        _core.weigh_into, (("rewards", rewards), ("mask", mask)), (("advantages", target),),
        _kernel(target), _kernel(rewards), lay, method, float(gamma), float(low), float(high),
        float(x0), float(k), float(temperature), _f64(difficulty, "difficulty"),
        bool(renormalise), _i64(lengths), float(alpha), _f64(priors, "priors"),
        float(lambda_scale), _kernel(_array(mask, "mask")), float(low_r), float(high_r), nan)


def _tracker_layout(n: int, ids: np.ndarray, layout, group_size, offsets):
    if layout is None and group_size is None and offsets is None:
        return _uniform(n, 1)  # SPO's setting: one response per prompt
    return _layout(n, layout, group_size, None, offsets)


def spo_estimate(
    tracker: Any,
    ids: Any,
    rewards: Any,
    *,
    group_size: Optional[int] = None,
    offsets: Any = None,
    layout: Any = None,
    whiten: bool = True,
    eps: float = 1e-8,
    reward_range: Tuple[float, float] = (0.0, 1.0),
    mask: Any = None,
    nan: str = "reject",
    out: Any = None,
) -> Any:
    """SPO's advantages (verl-recipe spo): A = r - p(prompt) with p the tracker's Beta mean, then
    (A - mean) / (std + eps) over the batch (whiten=True, SPO's). ids: one integer prompt id per
    group (groups of 1 when no grouping is given: SPO's single stream). Returns `out`."""
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    idv = _ids(ids)
    lay = _tracker_layout(n, idv, layout, group_size, offsets)
    out = _empty_like(rewards, (n,)) if out is None else _output(out, "out")
    low, high = reward_range
    _core.spo_estimate_into(tracker, idv, _kernel(rewards), lay, _kernel(out), bool(whiten),
                            float(eps), _kernel(_array(mask, "mask")), float(low), float(high), nan)
    _written(out)
    return out


def _update(self, ids: Any, rewards: Any, rho: Any, *, group_size: Optional[int] = None,
            offsets: Any = None, layout: Any = None, reward_range: Tuple[float, float] = (0.0, 1.0),
            mask: Any = None, nan: str = "reject") -> None:
    """alpha <- rho alpha + sum r, beta <- rho beta + sum (1 - r) for each group's prompt id
    (SPO's update; rho a float, or one per group: SPO's KL-based rho)."""
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    idv = _ids(ids)
    lay = _tracker_layout(n, idv, layout, group_size, offsets)
    per_group = None if np.ndim(rho) == 0 else _f64(rho, "rho")
    low, high = reward_range
    self._update(idv, _kernel(rewards), lay, float(rho) if per_group is None else 0.0, per_group,
                 _kernel(_array(mask, "mask")), float(low), float(high), nan)


def _priors(self, ids: Any) -> np.ndarray:
    """The prior p = alpha / (alpha + beta) of each id, as a float64 NumPy array."""
    idv = _ids(ids)
    out = np.empty(len(idv), dtype=np.float64)
    self.priors_into(idv, out)
    return out


PromptTracker._update = PromptTracker.update
PromptTracker.update = _update
PromptTracker.priors = _priors

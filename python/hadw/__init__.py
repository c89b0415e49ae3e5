"""hadw: group-relative advantages (GRPO family) and HA-DW reweighting for LLM RL.

Arrays go in and out without copies: NumPy arrays and PyTorch CPU tensors are read and written in
place through DLPack by the C++ kernels (which release the GIL). Outputs have the input's type:
a torch tensor in, a torch tensor out.

    import hadw
    adv = hadw.estimate("grpo", rewards, group_size=16)            # or index=uids, offsets=...
    anchor = hadw.DifficultyAnchor()                              # carried across steps
    stats = hadw.reweight(adv, rewards, anchor, group_size=16)    # in place; {"hadw/prior": ...}
    token_adv = hadw.broadcast_to_tokens(adv, response_mask)      # [N, L], masked tokens 0

See docs/python.md.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from ._core import (
    DifficultyAnchor,
    Error,
    Estimator,
    GroupLayout,
    __version__,
    direction,
    history_difficulty,
    magnitude,
    phi,
)
from . import _core
from ._core import theory

__all__ = [
    "DifficultyAnchor",
    "Error",
    "Estimator",
    "GroupLayout",
    "__version__",
    "broadcast_to_tokens",
    "direction",
    "estimate",
    "estimate_and_reweight",
    "group_layout",
    "history_difficulty",
    "magnitude",
    "phi",
    "reweight",
    "theory",
]

ESTIMATORS = (
    "grpo",
    "dr_grpo",
    "grpo_batch_std",
    "rloo",
    "reinforce_pp_baseline",
    "opo",
    "gpg",
    "grpo_passk",
)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _array(x: Any, name: str) -> Any:
    """A NumPy array or torch tensor the kernels can view. Torch tensors are detached (a view, no
    copy): advantages carry no gradient. Other sequences become NumPy arrays."""
    if x is None:
        return None
    if _is_torch(x):
        return x.detach()
    if isinstance(x, np.ndarray) or hasattr(x, "__dlpack__"):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy's message is enough context
        raise TypeError(f"{name}: an array (NumPy, torch, or a sequence) required") from exc


def _empty_like(x: Any, shape: Sequence[int]) -> Any:
    if _is_torch(x):
        import torch

        return torch.empty(tuple(shape), dtype=x.dtype, device=x.device)
    return np.empty(tuple(shape), dtype=x.dtype)


def _ids(index: Any) -> np.ndarray:
    """verl's uid array (strings, ints, objects) -> int64 group ids numbered by first appearance,
    the order GroupLayout.from_ids gives groups for the original ids."""
    if _is_torch(index):
        index = index.detach().cpu().numpy()
    arr = np.asarray(index)
    if arr.ndim != 1:
        raise ValueError(f"index: a 1-D sequence of ids required, got {arr.ndim}-D")
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.int64)
    codes: dict = {}
    return np.fromiter((codes.setdefault(v, len(codes)) for v in arr.tolist()), dtype=np.int64,
                       count=len(arr))


def group_layout(
    n: Optional[int] = None,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
) -> GroupLayout:
    """A GroupLayout from exactly one of: group_size (n responses in consecutive groups of that
    size), index (one id per response, any order: verl's uids), offsets (CSR, num_groups + 1)."""
    given = [k for k, v in (("group_size", group_size), ("index", index), ("offsets", offsets))
             if v is not None]
    if len(given) != 1:
        raise ValueError(
            "exactly one of group_size, index, offsets (or layout) required, got "
            + (", ".join(given) if given else "none"))
    if group_size is not None:
        if n is None:
            raise ValueError("group_size: the number of responses is needed too")
        if group_size < 1 or n % group_size != 0:
            raise ValueError(
                f"group_size: a divisor of the number of responses required, got {group_size} "
                f"for {n} responses")
        return GroupLayout.uniform(n // group_size, group_size)
    if index is not None:
        return GroupLayout.from_ids(_ids(index))
    off = offsets.detach().cpu().numpy() if _is_torch(offsets) else np.asarray(offsets)
    return GroupLayout.from_offsets(np.ascontiguousarray(off, dtype=np.int64))


def _layout(n: int, layout, group_size, index, offsets) -> GroupLayout:
    if layout is not None:
        if any(v is not None for v in (group_size, index, offsets)):
            raise ValueError("layout: give either layout or one of group_size, index, offsets")
        if not isinstance(layout, GroupLayout):
            raise TypeError("layout: a hadw.GroupLayout required")
        return layout
    return group_layout(n, group_size=group_size, index=index, offsets=offsets)


def _length(x: Any, name: str) -> int:
    shape = tuple(x.shape)
    if len(shape) != 1:
        raise ValueError(f"{name}: a 1-D array required, got {len(shape)}-D")
    return int(shape[0])


def estimate(
    estimator: Union[str, Estimator],
    rewards: Any,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Optional[GroupLayout] = None,
    mask: Any = None,
    lengths: Any = None,
    out: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    **options: Any,
) -> Any:
    """Group-relative advantages of `rewards` (1-D float32/float64, NumPy or torch CPU).

    estimator: a name ('grpo', 'dr_grpo', 'grpo_batch_std', 'rloo', 'reinforce_pp_baseline',
        'opo', 'gpg', 'grpo_passk') or a hadw.Estimator.
    compat: 'verl' | 'trl' | 'openrlhf' — that trainer's conventions (eps, ddof, size-1 groups).
    options: eps, unbiased, singleton ('reject' | 'zero' | 'raw_reward'), eps_at ('std' | 'var'),
        centred, normalise, f_norm — only those the estimator has.
    Grouping: exactly one of group_size, index (ids in any order), offsets, layout.
    mask: bool/uint8 per response (0 = excluded). lengths: int64 token counts (OPO needs them).
    nan: 'reject' (default) or 'unscorable' (NaN reward = excluded, advantage 0, as TRL).
    out: where to write (same dtype and length as rewards); allocated like rewards if omitted.
    Returns `out`.
    """
    if isinstance(estimator, Estimator):
        if compat is not None or options:
            raise ValueError("compat/options: give them to hadw.Estimator, not with an Estimator")
        est = estimator
    elif isinstance(estimator, str):
        est = Estimator(estimator, compat=compat, **options)
    else:
        raise TypeError("estimator: a name (str) or a hadw.Estimator required")
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    lay = _layout(n, layout, group_size, index, offsets)
    if out is None:
        out = _empty_like(rewards, (n,))
    _core.estimate_into(est, lay, rewards, _array(out, "out"), _array(mask, "mask"),
                        _array(lengths, "lengths"), nan)
    return out


def reweight(
    advantages: Any,
    rewards: Any,
    anchor: DifficultyAnchor,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Optional[GroupLayout] = None,
    lambda_scale: float = 1.5,
    update_anchor: bool = True,
    timing: str = "prior",
    reward_range: Tuple[float, float] = (0.0, 1.0),
    observation: str = "mean_reward",
    success_threshold: float = 0.5,
    warmup_steps: int = 0,
    mask: Any = None,
    nan: str = "reject",
) -> dict:
    """HA-DW (paper eq. 13-16): multiplies `advantages` in place by
    Phi = lambda_scale * exp(D * M), with p̂ = each group's mean reward (normalised by
    reward_range) and C = anchor.prior (timing='prior', the paper) or the belief after observing
    this batch (timing='posterior', the authors' released code); then the anchor observes the
    batch accuracy unless update_anchor is False (data-parallel: all-reduce stats['hadw/correct']
    and ['hadw/total'] and call anchor.observe(correct, total) yourself).

    Returns the step statistics as {'hadw/prior': ..., 'hadw/phi_mean': ..., ...}, ready for
    wandb.log / SummaryWriter.add_scalar.
    """
    if not isinstance(anchor, DifficultyAnchor):
        raise TypeError("anchor: a hadw.DifficultyAnchor required")
    rewards = _array(rewards, "rewards")
    advantages = _array(advantages, "advantages")
    n = _length(rewards, "rewards")
    lay = _layout(n, layout, group_size, index, offsets)
    low, high = reward_range
    return _core.reweight_into(advantages, rewards, anchor, lay, _array(mask, "mask"),
                               float(lambda_scale), bool(update_anchor), timing, float(low),
                               float(high), observation, float(success_threshold),
                               int(warmup_steps), nan)


def estimate_and_reweight(
    estimator: Union[str, Estimator],
    rewards: Any,
    anchor: DifficultyAnchor,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Optional[GroupLayout] = None,
    mask: Any = None,
    lengths: Any = None,
    out: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    **options: Any,
) -> Tuple[Any, dict]:
    """estimate() then reweight() on one layout: returns (advantages, stats). Keyword options go
    to the estimator, except the reweight ones (lambda_scale, update_anchor, timing, reward_range,
    observation, success_threshold, warmup_steps)."""
    rw_keys = ("lambda_scale", "update_anchor", "timing", "reward_range", "observation",
               "success_threshold", "warmup_steps")
    rw = {k: options.pop(k) for k in rw_keys if k in options}
    rewards = _array(rewards, "rewards")
    lay = _layout(_length(rewards, "rewards"), layout, group_size, index, offsets)
    adv = estimate(estimator, rewards, layout=lay, mask=mask, lengths=lengths, out=out, nan=nan,
                   compat=compat, **options)
    stats = reweight(adv, rewards, anchor, layout=lay, mask=mask, nan=nan, **rw)
    return adv, stats


def broadcast_to_tokens(
    advantages: Any,
    mask: Any = None,
    *,
    lengths: Any = None,
    L: Optional[int] = None,
    out: Any = None,
) -> Any:
    """Per-response advantages [N] -> token advantages [N, L]: the advantage on every valid token,
    exactly 0 elsewhere. Give mask ([N, L] bool/uint8, e.g. verl's response_mask) or lengths
    ([N] int64, right-padded rows, with L or out). Returns `out` (allocated like advantages)."""
    advantages = _array(advantages, "advantages")
    n = _length(advantages, "advantages")
    mask = _array(mask, "mask")
    lengths = _array(lengths, "lengths")
    if (mask is None) == (lengths is None):
        raise ValueError("exactly one of mask [N, L] or lengths [N] required")
    if out is None:
        if mask is not None:
            if len(mask.shape) != 2:
                raise ValueError(f"mask: a 2-D array required, got {len(mask.shape)}-D")
            L = int(mask.shape[1])
        elif L is None:
            raise ValueError("L: the row length is required with lengths (or pass out=)")
        out = _empty_like(advantages, (n, int(L)))
    _core.broadcast_into(advantages, _array(out, "out"), mask, lengths)
    return out

"""HA-DW across data-parallel ranks with torch.distributed (NCCL, gloo, ...).

Every rank keeps its own DifficultyAnchor; these calls keep all of them bit-identical to each
other and to one process that ran the whole batch (the ranks' slices concatenated in rank order).

* ``groups="local"`` (default): each rank holds whole groups, the usual layout when a rank
  generates all G rollouts of its prompts. Each rank weights its slice with the shared prior
  C_t^- (no communication), then one all-reduce of three integers (correct, total, and whether any
  reward is not 0/1) gives the global y_t. Rewards that are not all 0 or 1 with
  ``observation="mean_reward"`` make y_t a sum of doubles, whose value depends on the order of its
  terms: then every rank all-gathers the rewards (and group sizes, masks) and observes them with
  hadw's own scan of the concatenated batch, the single-process sum term for term.
* ``groups="spread"``: the responses of a group may sit on different ranks (pass their uids as
  ``index``). The rewards, uids, masks and lengths are all-gathered; every rank runs the step on
  the whole batch (the same computation on the same bytes) and keeps its own slice.

Estimators that read statistics of the whole batch (``Estimator.needs_batch_stats``:
grpo_batch_std, reinforce_pp_baseline, opo, gpg) need the whole batch: use ``groups="spread"``.
``timing="posterior"`` weights with the belief after the global observation, which a rank cannot
know before the collective: ``groups="local"`` refuses it, ``groups="spread"`` has it.

The statistics returned are the local slice's (``hadw/phi_mean``, ...) plus
``hadw/global_accuracy``, ``hadw/global_correct``, ``hadw/global_total``, ``hadw/world_size``;
``hadw/posterior``, ``hadw/eta`` and ``hadw/step`` are the anchor's after the global observation.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import (DifficultyAnchor, Error, Estimator, _step_of, broadcast_to_tokens, group_layout)
from ._arrays import array as _array
from ._arrays import empty_like as _empty_like
from ._arrays import is_torch as _is_torch
from ._arrays import length as _length

__all__ = ["estimate_and_reweight", "estimate_reweight_broadcast"]


def _dist():
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("hadw.distributed: torch.distributed is not initialised "
                           "(call torch.distributed.init_process_group first)")
    return dist


def _numpy(x: Any) -> Optional[np.ndarray]:
    if x is None:
        return None
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _device(dist, group) -> Any:
    import torch

    if dist.get_backend(group) == "nccl":  # NCCL reduces CUDA tensors only
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _gather(dist, group, value: Any) -> list:
    """Every rank's `value` (any picklable object), in rank order."""
    out = [None] * dist.get_world_size(group)
    dist.all_gather_object(out, value, group=group)
    return out


def _valid(rewards: np.ndarray, mask: Optional[np.ndarray], nan: str) -> np.ndarray:
    keep = np.ones(len(rewards), dtype=bool) if mask is None else mask.astype(bool)
    if nan == "unscorable":
        keep &= ~np.isnan(rewards)
    return keep


def _sync_local(dist, group, step, rewards, anchor: DifficultyAnchor, layout, mask,
                stats: Dict[str, Any], options: Dict[str, Any], nan: str) -> None:
    """The global observation of groups="local": one all-reduce of the counts, or the ordered
    gather when y_t is a sum of non-integers. Updates `anchor` and `stats` in place."""
    import torch

    low, high = options.get("reward_range", (0.0, 1.0))
    observation = options.get("observation", "mean_reward")
    r = _numpy(rewards).astype(np.float64)
    m = _numpy(mask)
    valid = _valid(r, m, nan)
    normalised = (r[valid] - low) / (high - low)
    not_binary = observation == "mean_reward" and bool(
        np.any((normalised != 0.0) & (normalised != 1.0)))
    # mean_reward over 0/1 rewards counts the ones; success_rate counts the correct ones
    hits = int(np.count_nonzero(normalised == 1.0)) if observation == "mean_reward" else \
        int(stats.get("hadw/correct", 0))
    counts = torch.tensor([stats.get("hadw/correct", 0), int(valid.sum()), hits,
                           int(not_binary)], dtype=torch.int64, device=_device(dist, group))
    dist.all_reduce(counts, group=group)
    correct, total, hits, any_not_binary = (int(v) for v in counts.cpu().tolist())
    if total == 0:
        raise Error("rewards: no valid response in the global batch (all masked or unscorable)")
    if not any_not_binary:
        anchor.observe(hits, total)  # y_t = hits / total, as the single-process scan gives it
    else:
        # hadw's own scan over the concatenation, in group order: the single-process sum.
        perm = np.asarray(layout.permutation, dtype=np.int64) if len(r) else np.zeros(0, np.int64)
        order = perm if len(perm) else np.arange(len(r))
        sizes = np.diff(np.asarray(layout.offsets, dtype=np.int64)) if len(r) else []
        mine = (r[order], np.asarray(sizes, dtype=np.int64),
                None if m is None else m.astype(np.uint8)[order])
        parts = _gather(dist, group, mine)
        all_r = np.concatenate([p[0] for p in parts])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate([p[1] for p in parts]))])
        all_m = None
        if any(p[2] is not None for p in parts):
            all_m = np.concatenate([np.ones(len(p[0]), np.uint8) if p[2] is None else p[2]
                                    for p in parts])
        scratch = np.zeros(len(all_r))
        from . import reweight

        reweight(scratch, all_r, anchor, offsets=offsets, mask=all_m, nan=nan,
                 lambda_scale=options.get("lambda_scale", 1.5), timing="prior",
                 reward_range=(low, high), observation=observation,
                 success_threshold=options.get("success_threshold", 0.5),
                 warmup_steps=options.get("warmup_steps", 0))
    stats["hadw/global_correct"] = correct
    stats["hadw/global_total"] = total
    stats["hadw/global_accuracy"] = anchor.last_observation
    stats["hadw/posterior"] = anchor.prior
    stats["hadw/eta"] = anchor.eta
    stats["hadw/step"] = anchor.step


def _run(estimator, rewards, anchor, tokens: Optional[Dict[str, Any]], *, groups: str, group,
         group_size, index, offsets, layout, mask, lengths, out, nan: str,
         compat: Optional[str], options: Dict[str, Any]) -> Tuple[Any, dict]:
    dist = _dist()
    if not isinstance(anchor, DifficultyAnchor):
        raise TypeError("anchor: a hadw.DifficultyAnchor required")
    if "update_anchor" in options:
        raise ValueError("update_anchor: hadw.distributed always observes the global batch")
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    world = dist.get_world_size(group)

    if groups == "spread":
        if index is None:
            raise ValueError("index: the uid of every response is required with groups='spread'")
        parts = _gather(dist, group, (_numpy(rewards), _numpy(index), _numpy(mask),
                                      _numpy(lengths)))
        sizes = [len(p[0]) for p in parts]
        start = sum(sizes[:dist.get_rank(group)])
        all_r = np.concatenate([p[0] for p in parts])
        all_ids = np.concatenate([np.asarray(p[1], dtype=object) for p in parts])
        all_m = None if all(p[2] is None for p in parts) else np.concatenate(
            [np.ones(len(p[0]), bool) if p[2] is None else p[2].astype(bool) for p in parts])
        all_l = None if all(p[3] is None for p in parts) else np.concatenate(
            [np.zeros(len(p[0]), np.int64) if p[3] is None else p[3].astype(np.int64)
             for p in parts])
        step = _step_of(estimator, compat, nan, options)
        adv_all, stats = step(all_r.astype(_numpy(rewards).dtype, copy=False), anchor,
                              index=all_ids, mask=all_m, lengths=all_l)
        local = adv_all[start:start + n]
        if out is None:
            out = _empty_like(rewards, (n,))
        out[...] = local if not _is_torch(out) else _as_torch(local, out)
        stats.update({"hadw/global_correct": stats["hadw/correct"],
                      "hadw/global_total": stats["hadw/total"],
                      "hadw/global_accuracy": stats["hadw/batch_accuracy"],
                      "hadw/world_size": world})
        if tokens is not None:
            return broadcast_to_tokens(out, tokens["token_mask"], lengths=tokens["token_lengths"],
                                       L=tokens["L"], out=tokens["token_out"]), stats
        return out, stats

    if groups != "local":
        raise ValueError(f"groups: 'local' or 'spread' required, got {groups!r}")
    if options.get("timing", "prior") != "prior":
        raise ValueError("timing: 'prior' required with groups='local' (the posterior needs the "
                         "global observation before weighting: use groups='spread')")
    step = _step_of(estimator, compat, nan, {**options, "update_anchor": False})
    if step.estimator.needs_batch_stats:
        raise ValueError(f"estimator: '{step.estimator.name}' reads statistics of the whole "
                         "batch; use groups='spread' (it gathers the batch)")
    lay = None
    if n > 0:  # the local groups, also for the ordered gather when nothing here is scored
        lay = layout if layout is not None else group_layout(
            n, group_size=group_size, index=index, offsets=offsets)
    r_np, m_np = _numpy(rewards), _numpy(mask)
    if n > 0 and _valid(r_np.astype(np.float64), m_np, nan).any():
        if tokens is None:
            result, stats = step(rewards, anchor, layout=lay, mask=mask, lengths=lengths,
                                 out=out)
        else:
            result, stats = step.tokens(rewards, anchor, layout=lay, mask=mask,
                                        lengths=lengths, **tokens)
    else:  # nothing to score here this step (no response, or all masked / unscorable): the
        # advantages are 0, as hadw gives excluded responses, and the rank still takes part in
        # the collective (a rank that skipped it would leave the others waiting)
        result = _empty_like(rewards, (n,)) if out is None else _array(out, "out")
        result[...] = 0
        if tokens is not None:
            result = broadcast_to_tokens(result, tokens["token_mask"],
                                         lengths=tokens["token_lengths"], L=tokens["L"] or 1,
                                         out=tokens["token_out"])
        stats = {"hadw/correct": 0, "hadw/total": 0, "hadw/prior": anchor.prior}
    stats["hadw/world_size"] = world
    _sync_local(dist, group, step, rewards, anchor, lay, mask, stats, options, nan)
    return result, stats


def _as_torch(values: np.ndarray, like: Any) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(values)).to(like.dtype)


def estimate_and_reweight(
    estimator: Union[str, Estimator],
    rewards: Any,
    anchor: DifficultyAnchor,
    *,
    groups: str = "local",
    group: Any = None,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Any = None,
    mask: Any = None,
    lengths: Any = None,
    out: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    **options: Any,
) -> Tuple[Any, dict]:
    """hadw.estimate_and_reweight on this rank's slice, the anchor observing the global batch
    (module docstring). `group`: the torch.distributed process group (default: the world).
    Returns (this rank's advantages, stats)."""
    return _run(estimator, rewards, anchor, None, groups=groups, group=group,
                group_size=group_size, index=index, offsets=offsets, layout=layout, mask=mask,
                lengths=lengths, out=out, nan=nan, compat=compat, options=options)


def estimate_reweight_broadcast(
    estimator: Union[str, Estimator],
    rewards: Any,
    anchor: DifficultyAnchor,
    token_mask: Any = None,
    *,
    token_lengths: Any = None,
    L: Optional[int] = None,
    token_out: Any = None,
    groups: str = "local",
    group: Any = None,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Any = None,
    mask: Any = None,
    lengths: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    **options: Any,
) -> Tuple[Any, dict]:
    """The same with this rank's token rows [N_local, L] (token_mask or token_lengths, as
    hadw.estimate_reweight_broadcast). Returns (token advantages, stats)."""
    tokens = {"token_mask": token_mask, "token_lengths": token_lengths, "L": L,
              "token_out": token_out}
    return _run(estimator, rewards, anchor, tokens, groups=groups, group=group,
                group_size=group_size, index=index, offsets=offsets, layout=layout, mask=mask,
                lengths=lengths, out=None, nan=nan, compat=compat, options=options)

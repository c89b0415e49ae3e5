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

import zlib
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import (REWEIGHT_OPTIONS, DifficultyAnchor, Error, Estimator, _check_anchor, _step_of,
               broadcast_to_tokens, group_layout)
from ._arrays import array as _array
from ._arrays import empty_like as _empty_like
from ._arrays import host as _host
from ._arrays import is_torch as _is_torch
from ._arrays import length as _length
from ._arrays import output as _output
from ._arrays import written as _written

__all__ = ["estimate_and_reweight", "estimate_reweight_broadcast"]


def _dist():
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("hadw.distributed: torch.distributed is not initialised "
                           "(call torch.distributed.init_process_group first)")
    return dist


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


def _options_key(estimator: Any, compat: Optional[str], nan: str, groups: str,
                 options: Dict[str, Any]) -> int:
    """A 20-bit digest of what every rank must agree on (small enough that the sums of it and of
    its square over any world size fit an int64)."""
    name = estimator if isinstance(estimator, str) else repr(estimator)
    text = repr((name, compat, nan, groups, sorted((k, repr(v)) for k, v in options.items())))
    return zlib.crc32(text.encode()) & 0xFFFFF


_stats_keys: Optional[Dict[str, Any]] = None


def _empty_stats(anchor: DifficultyAnchor) -> Dict[str, Any]:
    """A rank with nothing to score reports every key the others do (NaN where undefined), so
    per-rank metric reductions line up."""
    global _stats_keys
    if _stats_keys is None:
        from . import Step

        _, probe = Step("grpo")(np.array([0.0, 1.0]), DifficultyAnchor(), group_size=2)
        _stats_keys = {k: (0 if isinstance(v, int) else float("nan")) for k, v in probe.items()}
    stats = dict(_stats_keys)
    stats["hadw/prior"] = anchor.prior
    return stats


def _local_counts(rewards: np.ndarray, valid: np.ndarray, step,
                  stats: Dict[str, Any]) -> Tuple[int, int, int, int]:
    """(correct, total, hits, not_binary) of this rank: hits = the responses whose normalised
    reward is 1 (mean_reward over 0/1 rewards) or the correct ones (success_rate)."""
    low, high = step._step.reward_range
    observation = step._step.observation
    normalised = (rewards[valid] - low) / (high - low)
    not_binary = observation == "mean_reward" and bool(
        np.any((normalised != 0.0) & (normalised != 1.0)))
    correct = int(stats.get("hadw/correct", 0))
    hits = int(np.count_nonzero(normalised == 1.0)) if observation == "mean_reward" else correct
    return correct, int(valid.sum()), hits, int(not_binary)


def _observe_ordered(dist, group, rewards: np.ndarray, mask: Optional[np.ndarray], layout,
                     anchor: DifficultyAnchor, options: Dict[str, Any], nan: str) -> None:
    """y_t as one process computes it over the concatenated batch: gather every rank's rewards
    in its group order with the group sizes, and observe them with hadw's own scan."""
    n = len(rewards)
    order = np.arange(n)
    sizes = np.zeros(0, dtype=np.int64)
    if n:
        perm = np.asarray(layout.permutation, dtype=np.int64)
        order = perm if len(perm) else order
        sizes = np.diff(np.asarray(layout.offsets, dtype=np.int64))
    mine = (rewards[order], sizes, None if mask is None else mask.astype(np.uint8)[order])
    parts = _gather(dist, group, mine)
    all_r = np.concatenate([p[0] for p in parts])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate([p[1] for p in parts]))])
    all_m = None
    if any(p[2] is not None for p in parts):
        all_m = np.concatenate([np.ones(len(p[0]), np.uint8) if p[2] is None else p[2]
                                for p in parts])
    from . import reweight

    reweight_options = {k: v for k, v in options.items() if k in REWEIGHT_OPTIONS}
    reweight(np.zeros(len(all_r)), all_r, anchor, offsets=offsets.astype(np.int64), mask=all_m,
             nan=nan, **reweight_options)  # timing is 'prior' here (local refuses the other)


def _raise_if_failed(failures: int, failure: Optional[BaseException], key_sum: int,
                     key_square_sum: int, world: int) -> None:
    if failures:
        if failure is not None:
            raise failure
        raise Error(f"hadw.distributed: {failures} rank(s) failed this step (their error says "
                    f"why); no anchor was updated")
    if world * key_square_sum != key_sum * key_sum:  # equal iff every rank's digest is equal
        raise Error("hadw.distributed: the ranks called with different options (estimator, "
                    "compat, nan, reweighting options): every rank must pass the same ones")


def _run_local(dist, group, estimator, rewards, anchor, tokens, *, group_size, index, offsets,
               layout, mask, lengths, out, nan, compat, options) -> Tuple[Any, dict]:
    """groups='local': weight here with the shared prior, then one all-reduce (module
    docstring). Whatever fails on this rank before the collective is reported to every rank
    through it: a rank that raised before it would leave the others waiting there."""
    import torch

    world = dist.get_world_size(group)
    failure: Optional[BaseException] = None
    result, stats, lay = None, None, None
    counts = (0, 0, 0, 0)
    r64 = m_np = None
    try:
        if options.get("timing", "prior") != "prior":
            raise ValueError("timing: 'prior' required with groups='local' (the posterior needs "
                             "the global observation before weighting: use groups='spread')")
        step = _step_of(estimator, compat, nan, {**options, "update_anchor": False})
        if step.estimator.needs_batch_stats:
            raise ValueError(f"estimator: '{step.estimator.name}' reads statistics of the whole "
                             "batch; use groups='spread' (it gathers the batch)")
        n = _length(rewards, "rewards")
        if n > 0:  # the local groups, also for the ordered gather when nothing here is scored
            lay = layout if layout is not None else group_layout(
                n, group_size=group_size, index=index, offsets=offsets)
        r64, m_np = _host(rewards).astype(np.float64), _host(mask)
        valid = _valid(r64, m_np, nan)
        if valid.any():
            if tokens is None:
                result, stats = step(rewards, anchor, layout=lay, mask=mask, lengths=lengths,
                                     out=out)
            else:
                result, stats = step.tokens(rewards, anchor, layout=lay, mask=mask,
                                            lengths=lengths, **tokens)
        else:  # nothing to score here this step: advantages 0, as for excluded responses
            result = _empty_like(rewards, (n,)) if out is None else _output(out, "out")
            result[...] = 0
            if tokens is not None:
                result = broadcast_to_tokens(result, tokens["token_mask"],
                                             lengths=tokens["token_lengths"],
                                             L=tokens["L"] or 1, out=tokens["token_out"])
            stats = _empty_stats(anchor)
        counts = _local_counts(r64, valid, step, stats)
    except Exception as e:  # noqa: BLE001 - reported to every rank, then raised here
        failure = e
    key = _options_key(estimator, compat, nan, "local", options)
    reduced = torch.tensor([*counts, int(failure is not None), key, key * key],
                           dtype=torch.int64, device=_device(dist, group))
    dist.all_reduce(reduced, group=group)
    correct, total, hits, any_not_binary, failures, key_sum, key_sq = (
        int(v) for v in reduced.cpu().tolist())
    _raise_if_failed(failures, failure, key_sum, key_sq, world)
    if total == 0:
        raise Error("rewards: no valid response in the global batch (all masked or unscorable)")
    if not any_not_binary:
        anchor.observe(hits, total)  # y_t = hits / total, as the single-process scan gives it
    else:
        _observe_ordered(dist, group, r64, m_np, lay, anchor, options, nan)
    stats.update({"hadw/global_correct": correct, "hadw/global_total": total,
                  "hadw/global_accuracy": anchor.last_observation,
                  "hadw/posterior": anchor.prior, "hadw/eta": anchor.eta,
                  "hadw/step": anchor.step, "hadw/world_size": world})
    return result, stats


def _check_tokens(tokens: Optional[Dict[str, Any]], n: int) -> None:
    """The token arguments, checked before the spread step changes the anchor."""
    if tokens is None:
        return
    mask, lengths, L, out = (tokens["token_mask"], tokens["token_lengths"], tokens["L"],
                             tokens["token_out"])
    if (mask is None) == (lengths is None):
        raise ValueError("exactly one of token_mask [N, L] or token_lengths [N] required")
    if out is not None:
        _output(out, "token_out")
        if tuple(out.shape)[:1] != (n,) or len(out.shape) != 2:
            raise ValueError(f"token_out: shape [{n}, L] required, got {tuple(out.shape)}")
        L = int(out.shape[1])
    if mask is not None:
        shape = tuple(mask.shape)
        if len(shape) != 2 or shape[0] != n or (L is not None and shape[1] != L):
            raise ValueError(f"token_mask: shape [{n}, L] required, got {shape}")
    else:
        if L is None:
            raise ValueError("L: the row length is required with token_lengths "
                             "(or pass token_out=)")
        lens = _host(lengths)
        if lens.shape != (n,) or lens.dtype.kind not in "iu" or (
                n and (lens.min() < 0 or lens.max() > L)):
            raise ValueError(f"token_lengths: {n} integers in [0, {L}] required")


def _run_spread(dist, group, estimator, rewards, anchor, tokens, *, group_size, index, offsets,
                layout, mask, lengths, out, nan, compat, options) -> Tuple[Any, dict]:
    """groups='spread': gather everything, run the whole batch on every rank, keep the slice.
    Local argument errors travel with the gathered parts, so every rank raises together."""
    world = dist.get_world_size(group)
    error, payload = None, None
    try:
        if index is None:
            raise ValueError("index: the uid of every response is required with "
                             "groups='spread'")
        if group_size is not None or offsets is not None or layout is not None:
            raise ValueError("group_size / offsets / layout: groups='spread' groups by index "
                             "(the uids) only")
        r = _host(rewards)
        if r.ndim != 1 or r.dtype not in (np.float32, np.float64):
            raise TypeError(f"rewards: 1-D float32 or float64 required, got {r.ndim}-D {r.dtype}")
        n = len(r)
        if out is not None:
            _output(out, "out")
            if tuple(out.shape) != (n,) or _host(out).dtype != r.dtype:
                raise ValueError(f"out: shape ({n},) and the dtype of rewards required")
        _check_tokens(tokens, n)
        ids = np.asarray(_host(index), dtype=object)
        if ids.shape != (n,):
            raise ValueError(f"index: one uid per response required, got {ids.shape}")
        payload = (r, ids, _host(mask), _host(lengths))
    except Exception as e:  # noqa: BLE001 - reported to every rank, then raised here
        error = e
    key = _options_key(estimator, compat, nan, "spread", options)
    parts = _gather(dist, group, (payload, error is not None, key))
    failures = sum(1 for p in parts if p[1])
    keys = [p[2] for p in parts]
    _raise_if_failed(failures, error, sum(keys), sum(k * k for k in keys), world)
    if len({p[0][0].dtype for p in parts}) != 1:
        raise Error("rewards: every rank must pass the same dtype with groups='spread' "
                    f"(got {sorted({str(p[0][0].dtype) for p in parts})})")
    sizes = [len(p[0][0]) for p in parts]
    rank = dist.get_rank(group)
    start, n = sum(sizes[:rank]), sizes[rank]
    all_r = np.concatenate([p[0][0] for p in parts])
    all_ids = np.concatenate([p[0][1] for p in parts])
    all_m = None if all(p[0][2] is None for p in parts) else np.concatenate(
        [np.ones(len(p[0][0]), bool) if p[0][2] is None else p[0][2].astype(bool)
         for p in parts])
    all_l = None if all(p[0][3] is None for p in parts) else np.concatenate(
        [np.zeros(len(p[0][0]), np.int64) if p[0][3] is None else p[0][3].astype(np.int64)
         for p in parts])
    step = _step_of(estimator, compat, nan, options)
    adv_all, stats = step(all_r, anchor, index=all_ids, mask=all_m, lengths=all_l)
    local = adv_all[start:start + n]
    if out is None:
        out = _empty_like(rewards, (n,))
    out[...] = _as_torch(local, out) if _is_torch(out) else local
    _written(out)
    stats.update({"hadw/global_correct": stats["hadw/correct"],
                  "hadw/global_total": stats["hadw/total"],
                  "hadw/global_accuracy": stats["hadw/batch_accuracy"],
                  "hadw/world_size": world})
    if tokens is not None:
        return broadcast_to_tokens(out, tokens["token_mask"], lengths=tokens["token_lengths"],
                                   L=tokens["L"], out=tokens["token_out"]), stats
    return out, stats


def _run(estimator, rewards, anchor, tokens: Optional[Dict[str, Any]], *, groups: str, group,
         **kwargs: Any) -> Tuple[Any, dict]:
    dist = _dist()
    _check_anchor(anchor)
    if "update_anchor" in kwargs["options"]:
        raise ValueError("update_anchor: hadw.distributed always observes the global batch")
    rewards = _array(rewards, "rewards")
    if groups == "spread":
        return _run_spread(dist, group, estimator, rewards, anchor, tokens, **kwargs)
    if groups != "local":
        raise ValueError(f"groups: 'local' or 'spread' required, got {groups!r}")
    return _run_local(dist, group, estimator, rewards, anchor, tokens, **kwargs)


def _as_torch(values: np.ndarray, like: Any) -> Any:
    import torch

    return torch.from_host(np.ascontiguousarray(values)).to(like.dtype)


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

"""hadw: group-relative advantages (GRPO family) and HA-DW reweighting for LLM RL.

Arrays go in and out without copies: NumPy arrays and PyTorch CPU tensors are read and written in
place through DLPack by the C++ kernels (which release the GIL). Outputs have the input's type:
a torch tensor in, a torch tensor out.

    import hadw
    anchor = hadw.DifficultyAnchor()                              # carried across steps
    adv, stats = hadw.estimate_and_reweight("grpo", rewards, anchor, group_size=16)
    tokens, stats = hadw.estimate_reweight_broadcast("grpo", rewards, anchor,
                                                     token_mask=response_mask, group_size=16)
    step = hadw.Step("grpo", compat="trl", lambda_scale=1.5)      # options parsed once
    adv, stats = step(rewards, anchor, group_size=16)             # the same fused C++ call

Each of these is one call of hadw's fused C++ step, which checks every input before it writes
anything. hadw.estimate, hadw.reweight and hadw.broadcast_to_tokens are the stages one by one.
See docs/python.md.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _native
from ._arrays import array as _array
from ._arrays import call as _call
from ._arrays import empty_like as _empty_like
from ._arrays import group_layout
from ._arrays import integer as _integer
from ._arrays import kernel as _kernel
from ._arrays import layout_of as _layout
from ._arrays import length as _length
from ._arrays import output as _output

from .multi_reward import gdpo, remax, remax_tokens

_core = _native.core  # the build of the kernels this CPU runs (hadw.build_info())
DifficultyAnchor = _core.DifficultyAnchor
Error = _core.Error
Estimator = _core.Estimator
GroupLayout = _core.GroupLayout
_Step = _core.Step
__version__ = _core.__version__
direction = _core.direction
history_difficulty = _core.history_difficulty
magnitude = _core.magnitude
phi = _core.phi
theory = _core.theory

# The classes belong to `hadw` whichever build defines them, so a pickled anchor (a checkpoint)
# names hadw.DifficultyAnchor, loadable on a machine that runs another build.
for _cls in (DifficultyAnchor, Estimator, GroupLayout, Error):
    _cls.__module__ = "hadw"

from .weighting import WEIGHTINGS, PromptTracker, spo_estimate, weigh  # noqa: E402

__all__ = [
    "DifficultyAnchor",
    "Error",
    "Estimator",
    "PromptTracker",
    "WEIGHTINGS",
    "spo_estimate",
    "weigh",
    "GroupLayout",
    "Step",
    "__version__",
    "broadcast_to_tokens",
    "build_info",
    "direction",
    "estimate",
    "estimate_and_reweight",
    "estimate_reweight_broadcast",
    "gae",
    "gdpo",
    "group_layout",
    "history_difficulty",
    "magnitude",
    "optimal_token_baseline",
    "phi",
    "reinforce_pp",
    "remax",
    "remax_tokens",
    "reweight",
    "theory",
]

ESTIMATORS = (
    "grpo",
    "dr_grpo",
    "grpo_batch_std",
    "rloo",
    "grpo_leave_one_out",
    "reinforce_pp_baseline",
    "opo",
    "gpg",
    "grpo_passk",
    "ha_dw_authors",
    "maxrl",
    "dgpo",
    "krpo",
)

#: The keyword options that belong to HA-DW's reweighting (the rest go to the estimator).
REWEIGHT_OPTIONS = ("lambda_scale", "update_anchor", "timing", "reward_range", "observation",
                    "success_threshold", "warmup_steps")


def build_info() -> Dict[str, Any]:
    """The build of hadw's kernels this process runs: 'isa' (chosen at import: the widest the
    CPU supports, or the environment variable HADW_ISA), 'built' and 'supported' (the variants
    this installation has / this CPU runs), 'simd_width' (doubles per SIMD pack), 'compiler',
    'openmp', 'version'."""
    return {
        "isa": _native.isa,
        "built": _native.built(),
        "supported": _native.supported(),
        "simd_width": _core._pack_width,
        "compiler": _core._compiler,
        "openmp": _core._openmp,
        "version": __version__,
    }


def _cache_key(*parts: Any) -> Any:
    try:
        hash(parts)
        return parts
    except TypeError:  # an unhashable option value: build anew, uncached
        return None


@functools.lru_cache(maxsize=128)
def _cached_estimator(name: str, compat: Optional[str], options: Tuple) -> Estimator:
    return Estimator(name, compat=compat, **dict(options))


def _estimator(estimator: Union[str, Estimator], compat: Optional[str],
               options: Dict[str, Any]) -> Estimator:
    """An Estimator from a name, compat and options, parsed once per distinct choice."""
    if isinstance(estimator, Estimator):
        if compat is not None or options:
            raise ValueError("compat/options: give them to hadw.Estimator, not with an Estimator")
        return estimator
    if not isinstance(estimator, str):
        raise TypeError("estimator: a name (str) or a hadw.Estimator required")
    items = tuple(sorted(options.items()))
    if _cache_key(items) is None:
        return Estimator(estimator, compat=compat, **options)
    return _cached_estimator(estimator, compat, items)


def _check_anchor(anchor: Any) -> None:
    if not isinstance(anchor, DifficultyAnchor):
        raise TypeError("anchor: a hadw.DifficultyAnchor required")


def _token_rows(like: Any, n: int, mask: Any, lengths: Any, L: Optional[int], out: Any,
                names: Tuple[str, str, str]) -> Any:
    """The [N, L] token output: `out`, or one allocated like `like` with L from the mask [N, L]
    or given with the lengths [N]. `names` are the caller's argument names (mask, lengths, out)
    for the errors."""
    mask_name, lengths_name, out_name = names
    if (mask is None) == (lengths is None):
        raise ValueError(f"exactly one of {mask_name} [N, L] or {lengths_name} [N] required")
    if out is not None:
        return _output(out, out_name)
    if mask is not None:
        if len(mask.shape) != 2:
            raise ValueError(f"{mask_name}: a 2-D array required, got {len(mask.shape)}-D")
        L = int(mask.shape[1])
    elif L is None:
        raise ValueError(f"L: the row length is required with {lengths_name} "
                         f"(or pass {out_name}=)")
    return _empty_like(like, (n, _integer(L, "L")))


class Step:
    """One HA-DW step configured once: an estimator (a name with compat and its options, or a
    hadw.Estimator) and the reweighting options, parsed and validated at construction. Calling
    it runs hadw's fused C++ step on the batch: every input is checked before anything is
    written (a bad reward leaves `out` and the anchor untouched), then group statistics ->
    advantages -> Phi (eq. 13-16) -> anchor update in one pass.

        step = hadw.Step("grpo", compat="trl", lambda_scale=1.5, reward_range=(0, 1))
        adv, stats = step(rewards, anchor, group_size=16)
        tokens, stats = step.tokens(rewards, anchor, token_mask=response_mask, group_size=16)

    Reweighting options: lambda_scale, update_anchor, timing ('prior' | 'posterior'),
    reward_range, observation ('mean_reward' | 'success_rate'), success_threshold,
    warmup_steps, as hadw.reweight. nan: 'reject' | 'unscorable'. Any other keyword is an
    estimator option (eps, unbiased, singleton, ...), as hadw.estimate.
    """

    __slots__ = ("_step", "_args")

    def __init__(
        self,
        estimator: Union[str, Estimator] = "grpo",
        *,
        compat: Optional[str] = None,
        lambda_scale: float = 1.5,
        update_anchor: bool = True,
        timing: str = "prior",
        reward_range: Tuple[float, float] = (0.0, 1.0),
        observation: str = "mean_reward",
        success_threshold: float = 0.5,
        warmup_steps: int = 0,
        nan: str = "reject",
        **options: Any,
    ) -> None:
        low, high = reward_range
        self._args = (estimator, dict(compat=compat, lambda_scale=lambda_scale,
                                      update_anchor=update_anchor, timing=timing,
                                      reward_range=reward_range, observation=observation,
                                      success_threshold=success_threshold,
                                      warmup_steps=warmup_steps, nan=nan, **options))
        self._step = _Step(_estimator(estimator, compat, options),
                           lambda_scale=float(lambda_scale),
                           update_anchor=_flag(update_anchor, "update_anchor"),
                           timing=timing, range_low=float(low), range_high=float(high),
                           observation=observation, success_threshold=float(success_threshold),
                           warmup_steps=_integer(warmup_steps, "warmup_steps"), nan=nan)

    @property
    def estimator(self) -> Estimator:
        return self._step.estimator

    def __reduce__(self):
        """Pickled (and deep-copied) as its arguments: a step is made again from them, as long
        as the estimator was given by name."""
        estimator, kwargs = self._args
        if not isinstance(estimator, str):
            raise TypeError("hadw.Step: only a step made from an estimator name pickles "
                            "(give the name and its options instead of a hadw.Estimator)")
        return (_step_from_args, (estimator, kwargs))

    def __repr__(self) -> str:
        return repr(self._step)

    def __call__(
        self,
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
    ) -> Tuple[Any, dict]:
        """The weighted advantages of `rewards` [N] (float32/float64, NumPy or torch CPU) and
        the step statistics ({'hadw/prior': ..., ...}). Grouping: exactly one of group_size,
        index (ids in any order), offsets, layout. mask: bool/uint8 per response (0 =
        excluded); lengths: int64 per response (OPO, REINFORCE++). out: where to write (same
        dtype and length as rewards), allocated like rewards if omitted. Returns (out, stats)."""
        _check_anchor(anchor)
        rewards = _array(rewards, "rewards")
        n = _length(rewards, "rewards")
        lay = _layout(n, layout, group_size, index, offsets)
        out = _empty_like(rewards, (n,)) if out is None else _output(out, "out")
        stats = _call(self._step.run,
                      (("rewards", rewards), ("mask", mask), ("lengths", lengths)),
                      (("out", out),), lay, _kernel(rewards), _kernel(out), anchor,
                      _kernel(_array(mask, "mask")), _kernel(_array(lengths, "lengths")))
        return out, stats

    def tokens(
        self,
        rewards: Any,
        anchor: DifficultyAnchor,
        token_mask: Any = None,
        *,
        token_lengths: Any = None,
        L: Optional[int] = None,
        token_out: Any = None,
        advantages: Any = None,
        group_size: Optional[int] = None,
        index: Any = None,
        offsets: Any = None,
        layout: Optional[GroupLayout] = None,
        mask: Any = None,
        lengths: Any = None,
    ) -> Tuple[Any, dict]:
        """The step with its token broadcast, the call a trainer makes: token_out [N, L]
        receives each response's weighted advantage on its valid tokens and exactly 0
        elsewhere. Give token_mask ([N, L] bool/uint8: verl's response_mask) or token_lengths
        ([N] int64, right-padded rows, with L or token_out). advantages: an [N] buffer that
        receives the per-response advantages too (scratch if omitted). token_out is allocated
        like rewards if omitted. Returns (token_out, stats)."""
        _check_anchor(anchor)
        rewards = _array(rewards, "rewards")
        n = _length(rewards, "rewards")
        lay = _layout(n, layout, group_size, index, offsets)
        token_mask = _array(token_mask, "token_mask")
        token_lengths = _array(token_lengths, "token_lengths")
        token_out = _token_rows(rewards, n, token_mask, token_lengths, L, token_out,
                                ("token_mask", "token_lengths", "token_out"))
        adv = _empty_like(rewards, (n,)) if advantages is None else _output(advantages,
                                                                            "advantages")
        stats = _call(self._step.run,
                      (("rewards", rewards), ("mask", mask), ("lengths", lengths),
                       ("token_mask", token_mask), ("token_lengths", token_lengths)),
                      (("advantages", adv), ("token_out", token_out)),
                      lay, _kernel(rewards), _kernel(adv), anchor, _kernel(_array(mask, "mask")),
                      _kernel(_array(lengths, "lengths")), _kernel(token_out),
                      _kernel(token_mask), _kernel(token_lengths))
        return token_out, stats


def _step_from_args(estimator: str, kwargs: Dict[str, Any]) -> "Step":
    return Step(estimator, **kwargs)


def _flag(value: Any, name: str) -> bool:
    """A real bool: bool("false") would be True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: True or False required, got {value!r}")
    return bool(value)


@functools.lru_cache(maxsize=128)
def _cached_step(estimator: Any, compat: Optional[str], nan: str, options: Tuple) -> Step:
    return Step(estimator, compat=compat, nan=nan, **dict(options))


def _step_of(estimator: Union[str, Estimator], compat: Optional[str], nan: str,
             options: Dict[str, Any]) -> Step:
    """The Step of a free function's arguments, parsed once per distinct choice."""
    key = _cache_key(estimator, compat, nan, tuple(sorted(options.items())))
    if key is None:
        return Step(estimator, compat=compat, nan=nan, **options)
    return _cached_step(*key)


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

    estimator: a name ('grpo', 'dr_grpo', 'grpo_batch_std', 'rloo', 'grpo_leave_one_out',
        'reinforce_pp_baseline', 'opo', 'gpg', 'grpo_passk', 'ha_dw_authors', 'maxrl', 'dgpo',
        'krpo') or a hadw.Estimator.
    compat: 'verl' | 'trl' | 'openrlhf' | 'nemo_rl' | 'slime' | 'roll' | 'rllm' | 'skyrl' |
        'authors' — that trainer's conventions (eps, ddof, size-1 groups; docs/integrating.md).
    options: eps, unbiased, singleton ('reject' | 'zero' | 'raw_reward'), eps_at ('std' | 'var'),
        centred, normalise, f_norm, history_mean, lambda_scale (ha_dw_authors), process_var,
        measurement_var, initial_mean, initial_var (krpo) — only those the estimator has.
    Grouping: exactly one of group_size, index (ids in any order), offsets, layout.
    mask: bool/uint8 per response (0 = excluded). lengths: int64 token counts (OPO needs them).
    nan: 'reject' (default) or 'unscorable' (NaN reward = excluded, advantage 0, as TRL).
    out: where to write (same dtype and length as rewards); allocated like rewards if omitted.
    Returns `out`.
    """
    est = _estimator(estimator, compat, options)
    rewards = _array(rewards, "rewards")
    n = _length(rewards, "rewards")
    lay = _layout(n, layout, group_size, index, offsets)
    out = _empty_like(rewards, (n,)) if out is None else _output(out, "out")
    _call(_core.estimate_into, (("rewards", rewards), ("mask", mask), ("lengths", lengths)),
          (("out", out),), est, lay, _kernel(rewards), _kernel(out),
          _kernel(_array(mask, "mask")), _kernel(_array(lengths, "lengths")), nan)
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
    _check_anchor(anchor)
    rewards = _array(rewards, "rewards")
    advantages = _output(advantages, "advantages")
    n = _length(rewards, "rewards")
    lay = _layout(n, layout, group_size, index, offsets)
    low, high = reward_range
    return _call(_core.reweight_into, (("rewards", rewards), ("mask", mask)),
                 (("advantages", advantages),), _kernel(advantages), _kernel(rewards), anchor,
                 lay, _kernel(_array(mask, "mask")), float(lambda_scale),
                 _flag(update_anchor, "update_anchor"), timing, float(low), float(high),
                 observation, float(success_threshold), _integer(warmup_steps, "warmup_steps"),
                 nan)


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
    """estimate() then reweight() in one fused C++ call (bit-identical to the two), validated
    before anything is written: returns (advantages, stats). Keyword options go to the
    estimator, except the reweighting ones (lambda_scale, update_anchor, timing, reward_range,
    observation, success_threshold, warmup_steps). The parsed options are cached: a trainer
    calling this every step pays for them once (or hold a hadw.Step)."""
    step = _step_of(estimator, compat, nan, options)
    return step(rewards, anchor, group_size=group_size, index=index, offsets=offsets,
                layout=layout, mask=mask, lengths=lengths, out=out)


def estimate_reweight_broadcast(
    estimator: Union[str, Estimator],
    rewards: Any,
    anchor: DifficultyAnchor,
    token_mask: Any = None,
    *,
    token_lengths: Any = None,
    L: Optional[int] = None,
    token_out: Any = None,
    advantages: Any = None,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
    layout: Optional[GroupLayout] = None,
    mask: Any = None,
    lengths: Any = None,
    nan: str = "reject",
    compat: Optional[str] = None,
    **options: Any,
) -> Tuple[Any, dict]:
    """estimate -> reweight -> broadcast_to_tokens in one fused C++ call, validated before
    anything is written: returns (token_advantages [N, L], stats). token_mask [N, L]
    (bool/uint8) or token_lengths [N] (int64, with L or token_out) say which tokens are valid;
    the rest of the arguments are estimate_and_reweight's (see Step.tokens)."""
    step = _step_of(estimator, compat, nan, options)
    return step.tokens(rewards, anchor, token_mask, token_lengths=token_lengths, L=L,
                       token_out=token_out, advantages=advantages, group_size=group_size,
                       index=index, offsets=offsets, layout=layout, mask=mask, lengths=lengths)


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
    out = _token_rows(advantages, n, mask, lengths, L, out, ("mask", "lengths", "out"))
    _call(_core.broadcast_into, (("advantages", advantages), ("mask", mask), ("lengths", lengths)),
          (("out", out),), _kernel(advantages), _kernel(out), _kernel(mask), _kernel(lengths))
    return out


from .token_scans import gae, optimal_token_baseline, reinforce_pp  # noqa: E402

"""hadw for TRL's GRPOTrainer: its advantage lines, and HA-DW on top of them.

TRL computes GRPO advantages inline in ``GRPOTrainer._generate_and_score_completions`` (there is
no estimator hook). :func:`grpo_advantages` reproduces those lines exactly (to float32 rounding,
checked against the installed TRL by python/tests/test_peer_trl.py) on the rewards of the whole
gathered batch and then, given an anchor, applies HA-DW. docs/python.md shows the few lines of a
GRPOTrainer subclass that use it.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import DifficultyAnchor, estimate, estimate_and_reweight, group_layout

__all__ = ["grpo_advantages"]

_PRESETS = {"group": "grpo", "batch": "grpo_batch_std", "none": "dr_grpo"}


def grpo_advantages(
    rewards: Any,
    num_generations: int,
    scale_rewards: str = "group",
    *,
    anchor: Optional[DifficultyAnchor] = None,
    **reweight_options: Any,
) -> Tuple[Any, Optional[dict]]:
    """TRL's GRPO advantages of the gathered rewards [N] (consecutive groups of num_generations;
    NaN = a completion no reward function could score), then HA-DW if `anchor` is given.

    scale_rewards: TRL's option, 'group' | 'batch' | 'none' (True/False map to 'group'/'none', as
    TRL's config does). Conventions, as TRL: unbiased std + 1e-4; NaN rewards are excluded from
    the statistics and get advantage 0; a group left with one scorable completion gets 0.
    Returns (advantages, stats); stats is None without an anchor, else reweight()'s dict.
    Every rank that holds the same gathered rewards computes the same anchor update, so ranks
    stay bit-identical without extra communication.
    """
    if scale_rewards is True:
        scale_rewards = "group"
    elif scale_rewards is False:
        scale_rewards = "none"
    if scale_rewards not in _PRESETS:
        raise ValueError(
            f"scale_rewards: 'group', 'batch' or 'none' required, got {scale_rewards!r}")
    layout = group_layout(len(rewards), group_size=num_generations)
    name = _PRESETS[scale_rewards]
    if anchor is None:
        return estimate(name, rewards, layout=layout, nan="unscorable", compat="trl"), None
    # One fused call (options parsed once per distinct setting), checked before it writes.
    return estimate_and_reweight(name, rewards, anchor, layout=layout, nan="unscorable",
                                 compat="trl", **reweight_options)

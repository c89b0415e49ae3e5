"""hadw for TRL's GRPOTrainer: a trainer with HA-DW built in, and TRL's advantage lines.

    from hadw.trl import HADWConfig, HADWGRPOTrainer     # HADWGRPOTrainer needs trl installed

    trainer = HADWGRPOTrainer(model=..., reward_funcs=..., args=GRPOConfig(...),
                              train_dataset=..., hadw=HADWConfig(lambda_scale=1.5))
    trainer.train()                                       # resume_from_checkpoint=... restores
                                                          # the anchor too

``HADWGRPOTrainer`` is TRL's ``GRPOTrainer`` whose advantages are hadw's: TRL's GRPO
(:func:`grpo_advantages`, the same numbers as TRL's own lines to float32 rounding) on the
gathered rewards of the whole generation batch, multiplied by HA-DW's Phi with an anchor that
lives in the trainer (``trainer.hadw_anchor``). Every rank holds the same gathered rewards, so
every rank's anchor makes the same update. The step statistics are logged as TRL metrics
(``hadw/prior``, ``hadw/phi_mean``, ... and ``eval_hadw/...``), the anchor is written into each
checkpoint (``hadw_anchor.bin``) and read back by ``train(resume_from_checkpoint=...)``.
Evaluation weights with the anchor's belief but does not update it.

TRL has no estimator hook: the trainer overrides two methods (``_calculate_rewards`` to keep the
gathered rewards, ``_generate_and_score_completions`` to replace the advantages of its output);
python/tests/test_trl_trainer.py runs it inside the installed TRL.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import DifficultyAnchor, Error, _step_of, estimate, estimate_and_reweight, group_layout
from ._arrays import host

__all__ = ["HADWConfig", "HADWGRPOTrainer", "grpo_advantages"]

_PRESETS = {"group": "grpo", "batch": "grpo_batch_std", "none": "dr_grpo"}


#: The file a checkpoint folder holds the anchor in (DifficultyAnchor.save()'s bytes).
CHECKPOINT_FILE = "hadw_anchor.bin"


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
    Returns (advantages, stats); stats is None without an anchor, else the step statistics.
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
    # Without an anchor, or when no completion could be scored (TRL then trains on zeros and
    # there is nothing to observe): the plain estimate.
    if anchor is None or not np.isfinite(host(rewards).astype(np.float64)).any():
        return estimate(name, rewards, layout=layout, nan="unscorable", compat="trl"), None
    # One fused call (options parsed once per distinct setting), checked before it writes.
    return estimate_and_reweight(name, rewards, anchor, layout=layout, nan="unscorable",
                                 compat="trl", **reweight_options)


@dataclasses.dataclass
class HADWConfig:
    """HA-DW's options for HADWGRPOTrainer.

    belief / anchor_options: the anchor (hadw.DifficultyAnchor(belief, **anchor_options):
    'kalman' with eta, window, initial_belief, ...; 'window_mean'; 'fixed').
    The rest are hadw.reweight's.
    """

    belief: str = "kalman"
    anchor_options: Dict[str, Any] = dataclasses.field(default_factory=dict)
    lambda_scale: float = 1.5
    timing: str = "prior"
    reward_range: Tuple[float, float] = (0.0, 1.0)
    observation: str = "mean_reward"
    success_threshold: float = 0.5
    warmup_steps: int = 0

    def reweight_options(self) -> Dict[str, Any]:
        return {"lambda_scale": self.lambda_scale,
                "timing": self.timing, "reward_range": tuple(self.reward_range),
                "observation": self.observation, "success_threshold": self.success_threshold,
                "warmup_steps": self.warmup_steps}

    def make_anchor(self) -> DifficultyAnchor:
        return DifficultyAnchor(self.belief, **self.anchor_options)


class _HADWMixin:
    """The overrides that put hadw into a GRPOTrainer (see the module docstring)."""

    def _hadw_setup(self, hadw: Optional[HADWConfig], anchor: Optional[DifficultyAnchor]):
        self.hadw = hadw if hadw is not None else HADWConfig()
        if not isinstance(self.hadw, HADWConfig):
            raise TypeError("hadw: a hadw.trl.HADWConfig required")
        aggregation = getattr(self.args, "multi_objective_aggregation", "sum_then_normalize")
        if aggregation != "sum_then_normalize":
            raise ValueError(f"multi_objective_aggregation: 'sum_then_normalize' required with "
                             f"hadw, got {aggregation!r}")
        self.hadw_anchor = anchor if anchor is not None else self.hadw.make_anchor()
        # Bad options fail here, not at the first generation step (and the parsed step is the
        # one grpo_advantages will find cached).
        _step_of(_PRESETS[self.args.scale_rewards], "trl", "unscorable",
                 self.hadw.reweight_options())
        self.hadw_last: Optional[Dict[str, Any]] = None
        self._hadw_rewards_per_func = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions,
                                                      completion_ids_list)
        self._hadw_rewards_per_func = rewards_per_func  # gathered across processes: [N, F]
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        import torch

        output = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        G = self.num_generations if mode == "train" else self.num_generations_eval
        per_func = self._hadw_rewards_per_func
        # TRL's reward: the weighted sum over reward functions, NaN where none could score.
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)
        rewards[torch.isnan(per_func).all(dim=1)] = torch.nan
        rewards = rewards.detach().to("cpu", torch.float32).contiguous()
        if G == 1:  # a group of one: its advantage is 0 in TRL and in hadw; nothing to weigh
            advantages, stats = torch.zeros_like(rewards), None
        else:
            try:
                advantages, stats = grpo_advantages(rewards, G, self.args.scale_rewards,
                                                    anchor=self.hadw_anchor,
                                                    update_anchor=(mode == "train"),
                                                    **self.hadw.reweight_options())
            except Error as e:
                if "reward_range" in str(e):
                    raise Error(f"{e} (the reward functions' weighted sum must lie in "
                                f"HADWConfig.reward_range, {self.hadw.reward_range} here: set "
                                f"it to the range your rewards take)") from e
                raise
        self.hadw_last = {"mode": mode, "num_generations": G, "rewards": rewards,
                          "advantages": advantages, "stats": stats}
        n_local = len(inputs)
        start = self.accelerator.process_index * n_local
        target = output["advantages"]
        output["advantages"] = advantages[start:start + n_local].to(target.device, target.dtype)
        logged = self._logs["advantages"]  # TRL's completions table: ours, not its own
        for _ in range(min(len(advantages), len(logged))):
            logged.pop()
        logged.extend(advantages.tolist())
        for key, value in (stats or {}).items():
            if isinstance(value, (int, float)) and np.isfinite(value):
                self._metrics[mode][key].append(float(value))
        return output

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:  # the main process writes; every rank holds the same anchor
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = os.path.join(self._get_output_dir(trial=trial),
                                  f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            with open(os.path.join(folder, CHECKPOINT_FILE), "wb") as f:
                f.write(self.hadw_anchor.save())

    def _load_optimizer_and_scheduler(self, checkpoint):
        # Called with the resolved checkpoint folder on every rank when training resumes.
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, CHECKPOINT_FILE)
        if os.path.exists(path):
            with open(path, "rb") as f:
                self.hadw_anchor = DifficultyAnchor.load(f.read())
        else:
            import warnings

            warnings.warn(f"hadw: {path} missing (a checkpoint from before hadw?): the anchor "
                          f"starts fresh", stacklevel=2)


_trainer_class = None


def _make_trainer_class():
    from trl import GRPOTrainer

    class HADWGRPOTrainer(_HADWMixin, GRPOTrainer):
        """TRL's GRPOTrainer with hadw's advantages and HA-DW (hadw.trl's docstring).

        hadw: a HADWConfig (defaults if omitted); hadw_anchor: an anchor to start from (e.g.
        restored by hand); every other argument is GRPOTrainer's."""

        def __init__(self, *args: Any, hadw: Optional[HADWConfig] = None,
                     hadw_anchor: Optional[DifficultyAnchor] = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._hadw_setup(hadw, hadw_anchor)

    return HADWGRPOTrainer


def __getattr__(name: str) -> Any:  # HADWGRPOTrainer is made when first asked for: it needs trl
    global _trainer_class
    if name == "HADWGRPOTrainer":
        if _trainer_class is None:
            _trainer_class = _make_trainer_class()
        return _trainer_class
    raise AttributeError(f"module 'hadw.trl' has no attribute {name!r}")

"""The arms: every advantage an arm trains on is computed by hadw.

An arm is an estimator (hadw.estimate's name) and at most one of
- HA-DW (hadw.reweight with an anchor: the paper's Kalman belief, the authors' window mean, or a
  fixed threshold) at a lambda_scale;
- the step-size control: the GRPO advantages unchanged, the learning rate of the step multiplied by
  the mean HA-DW weight that the paper's anchor would have given this batch's responses.
  Under plain SGD, Phi * A = mean(Phi) * A + (Phi - mean(Phi)) * A: the control takes the first
  term, so HA-DW minus the control is what its per-response reallocation adds beyond step size;
- a difficulty weighting hadw ships (hadw.weigh).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import hadw

LAMBDAS = (1.0, 1.3, 1.5)


@dataclass(frozen=True)
class Arm:
    name: str
    estimator: str = "grpo"
    anchor: str | None = None        # 'kalman' | 'window_mean' | 'fixed': HA-DW with this anchor
    lr_match: bool = False           # the step-size control (needs anchor='kalman')
    lambda_scale: float = 1.0
    weighting: str | None = None     # a hadw.WEIGHTINGS method
    weighting_options: dict = field(default_factory=dict)

    def make_anchor(self):
        if self.anchor is None:
            return None
        if self.anchor == "kalman":        # paper eq. 8-11, C_0 = the first batch's accuracy
            return hadw.DifficultyAnchor("kalman", initialise_from_first_observation=True)
        if self.anchor == "window_mean":   # the authors' verl code: mean of the last 10 batches
            return hadw.DifficultyAnchor("window_mean", window=10)
        return hadw.DifficultyAnchor("fixed", initial_belief=0.5)

    def advantages(self, rewards: np.ndarray, G: int, anchor, difficulty: np.ndarray):
        """Per-response advantages [N] and the step's learning-rate factor and statistics."""
        adv = hadw.estimate(self.estimator, rewards, group_size=G, compat="verl")
        stats: dict = {}
        lr_factor = 1.0
        if anchor is not None:
            # The authors' code weights with the posterior (the batch observed first).
            timing = "posterior" if self.anchor == "window_mean" else "prior"
            target = adv.copy() if self.lr_match else adv
            stats = hadw.reweight(target, rewards, anchor, group_size=G,
                                  lambda_scale=self.lambda_scale, timing=timing)
            if self.lr_match:
                # Phi's mean over the responses that carry a gradient (A != 0); hadw's
                # 'hadw/phi_mean' also counts degenerate groups, whose Phi = lambda moves nothing.
                live = adv != 0
                lr_factor = float((target[live] / adv[live]).mean()) if live.any() else 1.0
        elif self.weighting is not None:
            opts = dict(self.weighting_options)
            if self.weighting == "roll_static":
                opts["difficulty"] = difficulty
            stats = hadw.weigh(adv, rewards, self.weighting, group_size=G, **opts)
        return adv, lr_factor, stats


def all_arms() -> list[Arm]:
    arms = [Arm("grpo"), Arm("dr_grpo", estimator="dr_grpo"), Arm("rloo", estimator="rloo")]
    # lambda swept on the paper's anchor and on its step-size control; the authors' anchor and the
    # fixed threshold at the authors' lambda_scale (1.5).
    for lam in LAMBDAS:
        tag = f"{lam:.1f}"
        arms += [Arm(f"hadw_kalman_l{tag}", anchor="kalman", lambda_scale=lam),
                 Arm(f"lr_match_l{tag}", anchor="kalman", lr_match=True, lambda_scale=lam)]
    arms += [Arm("hadw_window_l1.5", anchor="window_mean", lambda_scale=1.5),
             Arm("hadw_fixed_l1.5", anchor="fixed", lambda_scale=1.5)]
    arms += [Arm("f_grpo", weighting="f_grpo"),
             Arm("grpo_lead", weighting="grpo_lead"),
             Arm("dgpo_question", weighting="dgpo_question"),
             Arm("roll_static", weighting="roll_static")]
    return arms

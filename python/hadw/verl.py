"""hadw inside verl: outcome-advantage estimators with verl's signature, HA-DW included, and the
anchor in verl's checkpoints.

verl (verl/trainer/ppo/core_algos.py) looks estimators up by name in a registry. Importing this
module registers ``hadw_grpo`` there (when verl is installed; and ``hadw_maxrl``, ``hadw_dgpo``,
``hadw_krpo``: those estimators followed by HA-DW, each with its own anchor), so a run selects it with

    import hadw.verl                      # in the driver process, before the trainer starts
    # config: algorithm.adv_estimator=hadw_grpo
    #         +algorithm.hadw.lambda_scale=1.3  (+algorithm.hadw.timing=posterior, ...)

``hadw_grpo`` is verl's GRPO (same numbers, hadw.compat 'verl' preset) followed by HA-DW with the
module-level anchor ``hadw.verl.anchor``, in one fused call. verl's trainer passes its
``algorithm`` config: ``norm_adv_by_std_in_grpo`` is read from it (as verl's trainer passes it
to its own grpo), and a ``hadw`` entry there overrides the reweighting options (lambda_scale,
timing, reward_range, observation, success_threshold, warmup_steps). For other estimators build
your own with :func:`make_outcome_advantage` and :func:`register` it.

Checkpoints: ``trainer_cls = hadw.verl.with_anchor_checkpoints(RayPPOTrainer)`` (or verl's v1
``PPOTrainer``, or your subclass) returns a subclass whose ``_save_checkpoint`` writes every
registered estimator's anchor into the step's folder (``global_step_N/hadw_anchor_<name>.bin``)
and whose ``_load_checkpoint`` restores them, in place, when verl resumes.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Dict, Optional, Tuple

from . import (REWEIGHT_OPTIONS, DifficultyAnchor, Estimator, _step_of, broadcast_to_tokens,
               estimate, group_layout)

__all__ = ["anchor", "anchors", "compute_hadw_dgpo_outcome_advantage",
           "compute_hadw_grpo_outcome_advantage", "compute_hadw_krpo_outcome_advantage",
           "compute_hadw_maxrl_outcome_advantage", "make_outcome_advantage", "register",
           "with_anchor_checkpoints"]

#: The anchor ``hadw_grpo`` carries across steps (kalman belief, hadw's defaults).
anchor = DifficultyAnchor()

#: verl estimator name -> hadw estimator name.
_VERL_NAMES = {
    "grpo": "grpo",
    "rloo": "rloo",
    "rloo_vectorized": "rloo_vectorized",
    "reinforce_plus_plus_baseline": "reinforce_pp_baseline",
    "opo": "opo",
    "gpg": "gpg",
    "grpo_passk": "grpo_passk",
}


#: hadw estimators verl has no function for: the preset they run with under verl, keeping verl's
#: size-1 rule (a uid with one response: baseline 0, scale 1). maxrl is SkyRL's (verl-derived)
#: function, epsilon from the call; dgpo's and krpo's eps are their sources' constants.
_FIELD_PRESETS: Dict[str, Tuple[Optional[str], Dict[str, Any]]] = {
    "maxrl": ("skyrl", {}),
    "dgpo": (None, {"singleton": "raw_reward"}),
    "krpo": (None, {"singleton": "raw_reward"}),
}


def _config_get(config: Any, key: str, default: Any) -> Any:
    if config is None:
        return default
    if hasattr(config, "get"):
        return config.get(key, default)
    return getattr(config, key, default)


def _normalises(name: str, argument: Optional[bool], config: Any,
                norm_from_config: bool) -> bool:
    """Whether grpo / grpo_passk divide by the group std, decided as verl 0.9.1's functions do
    (core_algos.py): grpo follows its argument (default True) and ignores the config;
    grpo_passk follows config.norm_adv_by_std_in_grpo (default True), ignores the argument and
    asserts a config is given."""
    if name == "grpo_passk":
        if config is None:
            raise ValueError("config: verl's grpo_passk reads norm_adv_by_std_in_grpo from the "
                             "algorithm config and requires one (it asserts config is not None)")
        return bool(_config_get(config, "norm_adv_by_std_in_grpo", True))
    if argument is None:
        return bool(_config_get(config, "norm_adv_by_std_in_grpo", True)) if norm_from_config \
            else True
    return bool(argument)


def make_outcome_advantage(
    estimator: str = "grpo",
    *,
    anchor: Optional[DifficultyAnchor] = None,
    reweight: bool = True,
    norm_from_config: bool = False,
    **reweight_options: Any,
) -> Callable[..., Tuple[Any, Any]]:
    """An estimator function with verl's signature,
    ``fn(token_level_rewards [bs, L], response_mask [bs, L], index=uids, epsilon=1e-6,
    norm_adv_by_std_in_grpo=True, config=None, **kwargs) -> (advantages, returns)``.

    estimator: a hadw name or verl's ('reinforce_plus_plus_baseline'); computed with the 'verl'
    preset, so without reweighting the result equals verl's own function to float32 rounding,
    on verl's inputs: std normalisation as verl's functions choose it (grpo: the argument
    norm_adv_by_std_in_grpo, default True, config ignored; grpo_passk: config's
    norm_adv_by_std_in_grpo, default True, a config required, the argument ignored); a
    response_mask that is not 0/1 multiplies the token advantages, as verl's `adv * mask`
    (opo and reinforce_plus_plus_baseline refuse one: their token counts are integers here); an
    empty batch gives an empty result. Integer token_level_rewards are refused (verl raises).
    norm_from_config: grpo reads norm_adv_by_std_in_grpo from config when the call does not
    pass it. verl's trainer passes its config's value to its own grpo but calls a registered
    estimator with the config only: a grpo function registered for the trainer wants True.
    reweight: apply HA-DW with `anchor` (a new DifficultyAnchor if None) and `reweight_options`
    (lambda_scale, timing, reward_range, ...: see hadw.reweight). The step statistics of the
    last call are in ``fn.last_stats`` (a dict with 'hadw/...' keys; None after an empty batch)
    for the trainer's logger.
    """
    name = _VERL_NAMES.get(estimator, estimator)
    compat, base = _FIELD_PRESETS.get(name, ("verl", {}))
    Estimator(name, compat=compat, **base)  # fail now on a name without a preset
    state = {"anchor": anchor if anchor is not None else DifficultyAnchor()}

    def compute(
        token_level_rewards: Any,
        response_mask: Any,
        index: Any = None,
        epsilon: float = 1e-6,
        norm_adv_by_std_in_grpo: Optional[bool] = None,
        config: Any = None,
        **kwargs: Any,
    ) -> Tuple[Any, Any]:
        import torch

        if index is None:
            raise ValueError("index: verl's uid array is required (one id per response)")
        if not token_level_rewards.is_floating_point():
            raise TypeError(f"token_level_rewards: a floating-point tensor required, got "
                            f"{token_level_rewards.dtype} (verl's estimators raise on integer "
                            f"rewards too)")
        norm = _normalises(name, norm_adv_by_std_in_grpo, config, norm_from_config)
        device = token_level_rewards.device
        # verl's result is scores * response_mask: the dtype the two promote to.
        dtype = torch.promote_types(token_level_rewards.dtype, response_mask.dtype)
        if token_level_rewards.shape[0] == 0:  # verl: an empty result (its R++ raises)
            if name == "reinforce_pp_baseline":
                raise ValueError("response_mask: at least one valid token required (verl's "
                                 "masked_whiten raises on an empty batch too)")
            compute.last_stats = None  # nothing observed: the anchor is unchanged
            tokens = torch.zeros(response_mask.shape, dtype=dtype, device=device)
            return tokens, tokens
        with torch.no_grad():
            scores = token_level_rewards.detach().sum(dim=-1).cpu().contiguous()
            if scores.dtype not in (torch.float32, torch.float64):
                scores = scores.float()
            mask = response_mask.detach().cpu()
            weights = None  # a mask holding values other than 0 and 1: verl multiplies by them
            if mask.dtype != torch.bool:
                if bool(((mask != 0) & (mask != 1)).any()):
                    if name in ("opo", "reinforce_pp_baseline"):
                        raise ValueError(
                            f"response_mask: 0 or 1 required for {estimator} (hadw counts "
                            f"its tokens as integers; verl weighs them by the mask values)")
                    weights = mask
                mask = mask != 0
            mask = mask.contiguous()
            layout = group_layout(index=index)
            est_name, options = name, dict(base)
            if name in ("grpo", "maxrl"):
                options["eps"] = float(epsilon)
                if name == "grpo" and not norm:
                    est_name, options = "dr_grpo", {}
            elif name == "grpo_passk":
                options["eps"] = float(epsilon)
                options["normalise"] = bool(norm)
            lengths = None
            if name in ("opo", "reinforce_pp_baseline"):
                lengths = mask.sum(dim=-1, dtype=torch.int64).contiguous()
            if reweight:  # estimate -> HA-DW -> token rows in one fused call
                from_config = _config_get(config, "hadw", None) or {}
                unknown = [k for k in from_config if k not in REWEIGHT_OPTIONS]
                if unknown:
                    raise ValueError(f"algorithm.hadw.{unknown[0]}: not a reweighting option "
                                     f"(one of {', '.join(REWEIGHT_OPTIONS)})")
                rw = {**reweight_options, **{k: from_config[k] for k in from_config}}
                if "reward_range" in rw:
                    rw["reward_range"] = tuple(rw["reward_range"])
                step = _step_of(est_name, compat, "reject", {**options, **rw})
                tokens, compute.last_stats = step.tokens(scores, state["anchor"], mask,
                                                         layout=layout, lengths=lengths)
            else:
                adv = estimate(est_name, scores, layout=layout, lengths=lengths,
                               compat=compat, **options)
                tokens = broadcast_to_tokens(adv, mask)
            if tokens.dtype != dtype:
                tokens = tokens.to(dtype)
            if weights is not None:
                tokens.mul_(weights)
            tokens = tokens.to(device)
        return tokens, tokens

    compute.__name__ = f"compute_hadw_{name}_outcome_advantage"
    compute.last_stats = None
    compute.anchor = state["anchor"]
    return compute


#: verl's GRPO followed by HA-DW with the module-level `anchor`: registered as "hadw_grpo".
compute_hadw_grpo_outcome_advantage = make_outcome_advantage("grpo", anchor=anchor,
                                                             norm_from_config=True)


#: Registered estimator name -> the anchor its function carries (what checkpoints save).
anchors: Dict[str, DifficultyAnchor] = {}


def register(name: str, fn: Callable[..., Tuple[Any, Any]]) -> Callable[..., Tuple[Any, Any]]:
    """Registers `fn` in verl's advantage-estimator registry under `name` (idempotent); its
    anchor (``fn.anchor``, from make_outcome_advantage) joins the checkpointed `anchors`.
    verl's trainer calls a registered estimator with its config and no norm_adv_by_std_in_grpo:
    make a grpo function for it with norm_from_config=True to honour the config's flag."""
    from verl.trainer.ppo.core_algos import register_adv_est

    if getattr(fn, "anchor", None) is not None:
        anchors[name] = fn.anchor
    return register_adv_est(name)(fn)


def _anchor_file(folder: str, name: str) -> str:
    return os.path.join(folder, f"hadw_anchor_{name}.bin")


class AnchorCheckpoints:
    """The mixin behind with_anchor_checkpoints: verl's checkpoint methods, plus the anchors."""

    def _save_checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        # Written before verl's own files: verl writes its "latest checkpoint" tracker last, so
        # a folder it points at always holds the anchors.
        folder = os.path.join(self.config.trainer.default_local_dir,
                              f"global_step_{self.global_steps}")
        os.makedirs(folder, exist_ok=True)
        for name, anc in anchors.items():
            with open(_anchor_file(folder, name), "wb") as f:
                f.write(anc.save())
        return super()._save_checkpoint(*args, **kwargs)

    def _load_checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._load_checkpoint(*args, **kwargs)
        folder = self._hadw_resumed_folder()
        if folder is not None:
            for name, anc in anchors.items():
                path = _anchor_file(folder, name)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        anc.load_state_dict({"hadw_anchor": f.read()})  # in place
                else:
                    import warnings

                    warnings.warn(f"hadw: {path} missing: the anchor of '{name}' starts fresh",
                                  stacklevel=2)
        return result

    def _hadw_resumed_folder(self) -> Optional[str]:
        """The folder verl's _load_checkpoint resumed from (None: it started from scratch),
        found the way verl finds it."""
        trainer = self.config.trainer
        if trainer.resume_mode == "disable" or not self.global_steps:
            return None
        if trainer.resume_mode == "resume_path":
            folder = trainer.resume_from_path
        else:
            folder = os.path.join(trainer.default_local_dir, f"global_step_{self.global_steps}")
        return folder if os.path.isabs(folder) else os.path.join(os.getcwd(), folder)


def with_anchor_checkpoints(trainer_cls: type) -> type:
    """A subclass of verl's trainer class (RayPPOTrainer, v1 PPOTrainer, or yours) whose
    checkpoints hold the registered estimators' anchors: use it where you build the trainer."""
    return type(f"HADW{trainer_cls.__name__}", (AnchorCheckpoints, trainer_cls), {})


#: MaxRL, DGPO's advantage and KRPO (hadw.ESTIMATORS), each followed by HA-DW with its own
#: anchor: registered as "hadw_maxrl", "hadw_dgpo", "hadw_krpo" (verl has no function of its own
#: for them; see _FIELD_PRESETS for the conventions they run with).
compute_hadw_maxrl_outcome_advantage = make_outcome_advantage("maxrl")
compute_hadw_dgpo_outcome_advantage = make_outcome_advantage("dgpo")
compute_hadw_krpo_outcome_advantage = make_outcome_advantage("krpo")

anchors["hadw_grpo"] = anchor
for _name, _fn in (("hadw_maxrl", compute_hadw_maxrl_outcome_advantage),
                   ("hadw_dgpo", compute_hadw_dgpo_outcome_advantage),
                   ("hadw_krpo", compute_hadw_krpo_outcome_advantage)):
    anchors[_name] = _fn.anchor
if importlib.util.find_spec("verl") is not None:  # registration needs verl; the functions do not
    register("hadw_grpo", compute_hadw_grpo_outcome_advantage)
    register("hadw_maxrl", compute_hadw_maxrl_outcome_advantage)
    register("hadw_dgpo", compute_hadw_dgpo_outcome_advantage)
    register("hadw_krpo", compute_hadw_krpo_outcome_advantage)

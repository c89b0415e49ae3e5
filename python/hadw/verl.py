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
               estimate, group_layout, weigh)

__all__ = ["anchor", "anchors", "compute_hadw_dgpo_outcome_advantage",
           "compute_hadw_gae_advantage_return", "compute_hadw_gdpo_outcome_advantage",
           "compute_hadw_grpo_outcome_advantage", "compute_hadw_krpo_outcome_advantage",
           "compute_hadw_maxrl_outcome_advantage",
           "compute_hadw_optimal_token_baseline_advantage",
           "compute_hadw_reinforce_plus_plus_outcome_advantage",
           "compute_hadw_remax_outcome_advantage", "make_outcome_advantage", "register",
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
    weighting: Optional[str] = None,
    weighting_options: Optional[Dict[str, Any]] = None,
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
    weighting: instead of HA-DW (reweight=False required), one of hadw.WEIGHTINGS applied to the
    estimator's advantages by hadw.weigh with `weighting_options` (gamma, temperature, ...);
    'delta_l' takes its lengths from response_mask. ``fn.last_stats`` then holds weigh's stats.
    """
    if weighting is not None and reweight:
        raise ValueError("weighting: pass reweight=False too (HA-DW is itself a weighting; "
                         "weigh with method='prompt_phi' combines the two ideas)")
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
                if weighting is not None:
                    wopts = dict(weighting_options or {})
                    if weighting == "delta_l" and "lengths" not in wopts:
                        wopts["lengths"] = mask.sum(dim=-1, dtype=torch.int64).contiguous()
                    compute.last_stats = weigh(adv, scores, weighting, layout=layout, **wopts)
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


def _floating(dtype: Any) -> Any:
    import torch

    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def compute_hadw_gdpo_outcome_advantage(
    token_level_rewards: Any,
    response_mask: Any,
    index: Any = None,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool = True,
    config: Any = None,
    non_tensor_batch: Optional[dict] = None,
    batch: Optional[dict] = None,
    **kwargs: Any,
) -> Tuple[Any, Any]:
    """verl's ``gdpo`` (core_algos.compute_gdpo_outcome_advantage, verl 0.9.1) on hadw's kernel
    (hadw.gdpo, compat 'verl'), registered as ``hadw_gdpo``; no HA-DW weight (which of the K
    rewards would p̂ be?). Inputs read as verl reads them: with config, non_tensor_batch and batch
    all given, the K columns are non_tensor_batch[key] for key in config.gdpo_reward_keys, as
    float32, weighted by config.gdpo_reward_weights rounded to float32 as verl's tensor does
    (default 1); otherwise one column, token_level_rewards.sum(-1), weight 1. Each column is
    verl's GRPO (epsilon; norm_adv_by_std_in_grpo, the argument: verl's gdpo ignores the config's
    flag); the weighted sum is whitened over response_mask's tokens (masked_whiten); the result is
    broadcast under response_mask. A response_mask other than 0/1 is refused (hadw counts tokens).

    verl's trainer (ray_trainer.py, compute_advantage) passes non_tensor_batch and batch only to
    the estimator named "gdpo": under adv_estimator=hadw_gdpo it calls this without them, so this
    computes the one-column case, as verl's own gdpo does when it gets none."""
    import numpy as np
    import torch

    from .multi_reward import gdpo

    if index is None:
        raise ValueError("index: verl's uid array is required (one id per response)")
    device = token_level_rewards.device
    weights = None
    if config is not None and non_tensor_batch is not None and batch is not None:
        keys = _config_get(config, "gdpo_reward_keys", None)
        if not keys:
            raise ValueError("config: GDPO requires 'algorithm.gdpo_reward_keys' listing the "
                             "individual reward component keys returned by compute_score")
        missing = [k for k in keys if k not in non_tensor_batch]
        if missing:
            raise ValueError(f"non_tensor_batch: GDPO reward key '{missing[0]}' not found")
        rewards = np.stack([np.asarray(non_tensor_batch[k], dtype=np.float32) for k in keys], 1)
        rewards = torch.from_numpy(np.ascontiguousarray(rewards))
        w = _config_get(config, "gdpo_reward_weights", None)
        if w is not None:
            weights = np.asarray(list(w), dtype=np.float32).astype(np.float64)
        score_dtype = torch.float32
    else:
        if not token_level_rewards.is_floating_point():
            raise TypeError(f"token_level_rewards: a floating-point tensor required, got "
                            f"{token_level_rewards.dtype}")
        rewards = token_level_rewards.detach().sum(dim=-1, keepdim=True).cpu().contiguous()
        score_dtype = rewards.dtype
        rewards = rewards.to(_floating(rewards.dtype))
    mask = response_mask.detach().cpu()
    if mask.dtype != torch.bool and bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("response_mask: 0 or 1 required for gdpo (hadw counts its tokens as "
                         "integers; verl weighs them by the mask values)")
    mask = (mask != 0).contiguous()
    dtype = torch.promote_types(score_dtype, response_mask.dtype)
    if rewards.shape[0] == 0:
        raise ValueError("response_mask: at least one valid token required (verl's "
                         "masked_whiten raises on an empty batch too)")
    with torch.no_grad():
        lengths = mask.sum(dim=-1, dtype=torch.int64).contiguous()
        adv = gdpo(rewards, weights=weights, index=index, lengths=lengths, compat="verl",
                   normalise=bool(norm_adv_by_std_in_grpo))
        tokens = broadcast_to_tokens(adv, mask).to(dtype).to(device)
    return tokens, tokens


def compute_hadw_remax_outcome_advantage(
    token_level_rewards: Any,
    reward_baselines: Any,
    response_mask: Any,
    config: Any = None,
    **kwargs: Any,
) -> Tuple[Any, Any]:
    """verl's ``remax`` (core_algos.compute_remax_outcome_advantage) on hadw's kernel
    (hadw.remax_tokens), registered as ``hadw_remax``: returns = the reverse cumulative sum of
    token_level_rewards * response_mask, advantages = returns - reward_baselines * response_mask
    (a 0/1 or fractional mask multiplies, as in verl). Returns (advantages, returns), in the dtype
    verl's arithmetic promotes to."""
    import torch

    from .multi_reward import remax_tokens

    dtype = torch.promote_types(torch.promote_types(token_level_rewards.dtype,
                                                    response_mask.dtype), reward_baselines.dtype)
    work = _floating(dtype)
    device = token_level_rewards.device
    with torch.no_grad():
        tlr = token_level_rewards.detach().cpu().to(work).contiguous()
        mask = response_mask.detach().cpu().to(work).contiguous()
        base = reward_baselines.detach().cpu().to(work).contiguous()
        advantages, returns = remax_tokens(tlr, mask, base)
    return advantages.to(dtype).to(device), returns.to(dtype).to(device)


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


# ---------------------------------------------------------------------------------------------
# Token-level estimators (hadw.gae, hadw.reinforce_pp, hadw.optimal_token_baseline) with the
# signatures of verl 0.9.1's own functions. Tensors are read on the CPU (moved there and back if
# they live elsewhere); the mask must hold 0/1 (verl multiplies by it; hadw selects with it).

def _binary_mask(response_mask: Any) -> Any:
    import torch

    m = response_mask.detach().cpu()
    if m.dtype != torch.bool:
        if bool(((m != 0) & (m != 1)).any()):
            raise ValueError("response_mask: 0 or 1 required (hadw's token estimators select "
                             "valid tokens; verl would weigh them by the mask values)")
        m = m != 0
    return m.contiguous()


def _compute_dtype(*tensors: Any) -> Tuple[Any, Any]:
    """(the dtype verl's result has, the dtype hadw computes in: float32 for half types)."""
    import torch

    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"token_level_rewards: a floating-point tensor required, got {dtype}")
    return dtype, dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _cpu(x: Any, dtype: Any) -> Any:
    return x.detach().to(device="cpu", dtype=dtype).contiguous()


def compute_hadw_gae_advantage_return(token_level_rewards: Any, values: Any = None,
                                      response_mask: Any = None, gamma: Any = None,
                                      lam: Any = None, config: Any = None,
                                      **kwargs: Any) -> Tuple[Any, Any]:
    """verl's compute_gae_advantage_return(token_level_rewards, values, response_mask, gamma,
    lam) computed by hadw.gae (same results: masked tokens skipped inside the scan, advantages
    whitened with masked_whiten, returns = A + V). gamma / lam default to config.gamma /
    config.lam, then 1.0. verl 0.9.1's trainer calls its own GAE directly (it special-cases
    adv_estimator=gae and passes `values` to nothing else), so adv_estimator=hadw_gae alone
    gets no values and is refused by name; to run hadw's GAE in that trainer, set
    ``verl.trainer.ppo.core_algos.compute_gae_advantage_return = compute_hadw_gae_advantage_return``."""
    from . import gae

    if values is None or response_mask is None:
        raise ValueError("values: the critic's values [bs, L] required (verl's trainer passes "
                         "them only to its built-in gae: patch core_algos."
                         "compute_gae_advantage_return with this function instead)")
    gamma = _config_get(config, "gamma", 1.0) if gamma is None else gamma
    lam = _config_get(config, "lam", 1.0) if lam is None else lam
    dtype, work = _compute_dtype(token_level_rewards, values)
    device = token_level_rewards.device
    adv, ret = gae(_cpu(token_level_rewards, work), _cpu(values, work),
                   _binary_mask(response_mask), float(gamma), float(lam))
    return adv.to(device=device, dtype=dtype), ret.to(device=device, dtype=dtype)


def compute_hadw_reinforce_plus_plus_outcome_advantage(token_level_rewards: Any,
                                                       response_mask: Any, config: Any = None,
                                                       **kwargs: Any) -> Tuple[Any, Any]:
    """verl's compute_reinforce_plus_plus_outcome_advantage computed by hadw.reinforce_pp:
    discounted returns with config.gamma (masked tokens carry the running return and get 0),
    advantages = masked_whiten(returns) * mask. A config is required (verl asserts one)."""
    from . import reinforce_pp

    if config is None:
        raise ValueError("config: verl's reinforce_plus_plus reads gamma from the algorithm "
                         "config and requires one (it asserts config is not None)")
    dtype, work = _compute_dtype(token_level_rewards)
    device = token_level_rewards.device
    adv, ret = reinforce_pp(_cpu(token_level_rewards, work), _binary_mask(response_mask),
                            float(_config_get(config, "gamma", 1.0)))
    return adv.to(device=device, dtype=dtype), ret.to(device=device, dtype=dtype)


def compute_hadw_optimal_token_baseline_advantage(
        token_level_rewards: Any, response_mask: Any, index: Any = None,
        old_log_probs: Any = None, sum_pi_squared: Any = None, rollout_is_weights: Any = None,
        handle_zero_tail: bool = True, epsilon: float = 1e-8, **kwargs: Any) -> Tuple[Any, Any]:
    """verl's compute_optimal_token_baseline_advantage computed by hadw.optimal_token_baseline
    (same arguments; groups from verl's uid `index`). verl 0.9.1's trainer passes old_log_probs
    and sum_pi_squared only to its own optimal_token_baseline names: registered under
    hadw_optimal_token_baseline, a trainer call without them is refused by name; to run this
    function there, put it in ``core_algos.ADV_ESTIMATOR_REGISTRY["optimal_token_baseline"]``."""
    from . import optimal_token_baseline

    if index is None:
        raise ValueError("index: verl's uid array is required (one id per response)")
    for name, x in (("old_log_probs", old_log_probs), ("sum_pi_squared", sum_pi_squared)):
        if x is None:
            raise ValueError(f"{name}: [bs, L] required (verl's trainer passes it only to its "
                             f"own optimal_token_baseline; set actor.calculate_sum_pi_squared)")
    dtype, work = _compute_dtype(token_level_rewards)
    device = token_level_rewards.device
    rho = None if rollout_is_weights is None else _cpu(rollout_is_weights, work)
    adv, ret = optimal_token_baseline(
        _cpu(token_level_rewards, work), _binary_mask(response_mask), _cpu(old_log_probs, work),
        _cpu(sum_pi_squared, work), index=index, is_weights=rho,
        handle_zero_tail=bool(handle_zero_tail), eps=float(epsilon))
    return adv.to(device=device, dtype=dtype), ret.to(device=device, dtype=dtype)

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
    register("hadw_gae", compute_hadw_gae_advantage_return)
    register("hadw_reinforce_plus_plus", compute_hadw_reinforce_plus_plus_outcome_advantage)
    register("hadw_optimal_token_baseline", compute_hadw_optimal_token_baseline_advantage)
    register("hadw_gdpo", compute_hadw_gdpo_outcome_advantage)
    register("hadw_remax", compute_hadw_remax_outcome_advantage)
    register("hadw_maxrl", compute_hadw_maxrl_outcome_advantage)
    register("hadw_dgpo", compute_hadw_dgpo_outcome_advantage)
    register("hadw_krpo", compute_hadw_krpo_outcome_advantage)

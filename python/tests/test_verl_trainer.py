"""hadw.verl inside verl's trainer code: verl's own compute_advantage (the function its trainers
call each step) on a DataProto with adv_estimator=hadw_grpo gives hadw's advantages, the config's
`hadw` entry reaches the weighting, and the checkpoint hook saves and restores the anchor through
verl's own _save_checkpoint / _load_checkpoint (the legacy RayPPOTrainer and the v1 PPOTrainer,
verl 0.9's default, built without Ray)."""

import numpy as np
import pytest

import hadw
from conftest import peer


def data_proto(rng, B=12, L=7, G=4):
    import torch
    from verl import DataProto

    scores = (rng.random(B) < rng.random(B // G).repeat(G)).astype(np.float32)
    lengths = rng.integers(1, L + 1, B)
    mask = torch.from_numpy((np.arange(L)[None, :] < lengths[:, None]).astype(np.float32))
    token_rewards = torch.zeros(B, L)
    token_rewards[torch.arange(B), torch.from_numpy(lengths - 1)] = torch.from_numpy(scores)
    perm = rng.permutation(B)  # uids in shuffled order, as verl's batches come
    uid = np.array([f"prompt-{i // G}" for i in range(B)], dtype=object)[perm]
    data = DataProto.from_dict(tensors={"token_level_rewards": token_rewards[perm],
                                        "response_mask": mask[perm]},
                               non_tensors={"uid": uid})
    return data, scores[perm], mask[perm].bool(), uid


def test_verl_compute_advantage_runs_hadw_grpo(rng):
    peer("verl")
    from omegaconf import OmegaConf
    from verl.trainer.ppo.ray_trainer import compute_advantage

    import hadw.verl as hv

    replica = hadw.DifficultyAnchor.load(hv.anchor.save())
    config = OmegaConf.create({"adv_estimator": "hadw_grpo", "norm_adv_by_std_in_grpo": True,
                               "gamma": 1.0, "lam": 1.0,
                               "hadw": {"lambda_scale": 1.3, "timing": "posterior"}})
    for _ in range(3):
        data, scores, mask, uid = data_proto(rng)
        out = compute_advantage(data, adv_estimator="hadw_grpo", config=config)
        expected, _ = hadw.estimate_reweight_broadcast(
            "grpo", scores, replica, mask.numpy(), index=uid, compat="verl", lambda_scale=1.3,
            timing="posterior")
        np.testing.assert_array_equal(out.batch["advantages"].numpy(), expected)
        np.testing.assert_array_equal(out.batch["returns"].numpy(), expected)
        assert hv.anchor == replica
    # norm_adv_by_std_in_grpo=False in the config: Dr.GRPO's advantages, weighted.
    config.norm_adv_by_std_in_grpo = False
    data, scores, mask, uid = data_proto(rng)
    out = compute_advantage(data, adv_estimator="hadw_grpo", config=config)
    expected, _ = hadw.estimate_reweight_broadcast(
        "dr_grpo", scores, replica, mask.numpy(), index=uid, compat="verl", lambda_scale=1.3,
        timing="posterior")
    np.testing.assert_array_equal(out.batch["advantages"].numpy(), expected)
    # A key of algorithm.hadw that is not a reweighting option is named, not passed on.
    config.hadw = {"lamda_scale": 1.3}
    with pytest.raises(ValueError, match="algorithm.hadw.lamda_scale: not a reweighting option"):
        compute_advantage(data_proto(rng)[0], adv_estimator="hadw_grpo", config=config)


class _WorkerGroup:  # stands in for verl's Ray worker group (the actor's own checkpoint)
    def save_checkpoint(self, local_path, hdfs_path, step, max_ckpt_to_keep=None):
        import os

        os.makedirs(local_path, exist_ok=True)

    def load_checkpoint(self, local_path, del_local_after_load=False):
        pass


class _Loader:
    def __init__(self):
        self.state = {"position": 0}

    def state_dict(self):
        return dict(self.state)

    def load_state_dict(self, state):
        self.state = state

    def __len__(self):
        return 100


def trainer_class(kind):
    """verl's legacy RayPPOTrainer, or the v1 PPOTrainer (verl 0.9's default), made concrete."""
    if kind == "legacy":
        from verl.trainer.ppo.ray_trainer import RayPPOTrainer

        return RayPPOTrainer
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    class V1(PPOTrainer):  # its two abstract hooks, which the checkpoint methods never call
        def on_sample_end(self, *args, **kwargs):
            pass

        def on_step_end(self, *args, **kwargs):
            pass

    return V1


@pytest.mark.parametrize("kind", ["legacy", "v1"])
@pytest.mark.parametrize("resume_mode", ["auto", "resume_path"])
def test_checkpoint_hook_saves_and_restores_the_anchor(tmp_path, rng, resume_mode, kind):
    peer("verl")
    from omegaconf import OmegaConf

    import hadw.verl as hv

    base = trainer_class(kind)
    trainer_cls = hv.with_anchor_checkpoints(base)
    assert issubclass(trainer_cls, base)
    config = OmegaConf.create({
        "trainer": {"default_local_dir": str(tmp_path / "ckpt"), "default_hdfs_dir": None,
                    "resume_mode": resume_mode,
                    "resume_from_path": str(tmp_path / "ckpt" / "global_step_5"),
                    "del_local_ckpt_after_load": False, "checkpoint_callback_class": None},
        "actor_rollout_ref": {"actor": {"checkpoint": {"async_save": False}}}})

    def bare():  # verl's trainer without Ray: only what the checkpoint methods read
        t = object.__new__(trainer_cls)
        t.config, t.actor_rollout_wg, t.use_critic = config, _WorkerGroup(), False
        t.train_dataloader = _Loader()
        t.trainer_mode = "sync"
        if kind == "v1":
            from verl.trainer.ppo.checkpoint_callback import CheckpointCallback

            t.checkpoint_callback = CheckpointCallback(config)
        return t

    for _ in range(4):
        hv.anchor.observe(float(rng.random()))
    saved = hv.anchor.save()
    t = bare()
    t.global_steps = 5
    t._save_checkpoint()
    assert (tmp_path / "ckpt" / "global_step_5" / "hadw_anchor_hadw_grpo.bin").read_bytes() == saved
    held = hv.anchor
    hv.anchor.observe(0.9)  # training went on after the checkpoint
    assert hv.anchor.save() != saved
    r = bare()
    r.global_steps = 0
    r._load_checkpoint()
    assert r.global_steps == 5
    assert hv.anchor.save() == saved and hv.anchor is held  # restored in place
    assert hv.compute_hadw_grpo_outcome_advantage.anchor is held

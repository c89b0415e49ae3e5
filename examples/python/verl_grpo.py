"""HA-DW in verl: the registered `hadw_grpo` estimator through verl's own compute_advantage, and
the anchor in verl's checkpoints.

    python examples/python/verl_grpo.py

In a real run the two lines that matter are, in the driver process before the trainer starts,

    import hadw.verl                                  # registers "hadw_grpo" with verl
    trainer_cls = hadw.verl.with_anchor_checkpoints(RayPPOTrainer)   # anchor in checkpoints

and in the config: algorithm.adv_estimator=hadw_grpo (+algorithm.hadw.lambda_scale=1.3, ...).
This script calls verl's compute_advantage (what the trainer calls each step) on DataProto
batches like the trainer's, prints what HA-DW did, then saves and restores the anchor through
verl's RayPPOTrainer checkpoint methods with a stand-in for the Ray workers.
"""

import os
import tempfile

import numpy as np
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage

import hadw
import hadw.verl

B, G, L = 64, 8, 16


def batch(rng, step):
    """A rollout batch as verl's trainer holds it: outcome reward on the last valid token."""
    p = np.clip(rng.random(B // G) * (0.5 + step / 10), 0, 1).repeat(G)
    scores = (rng.random(B) < p).astype(np.float32)
    lengths = rng.integers(2, L + 1, B)
    mask = torch.from_numpy((np.arange(L)[None, :] < lengths[:, None]).astype(np.float32))
    rewards = torch.zeros(B, L)
    rewards[torch.arange(B), torch.from_numpy(lengths - 1)] = torch.from_numpy(scores)
    uid = np.array([f"prompt-{step}-{i // G}" for i in range(B)], dtype=object)
    return DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": uid})


class Workers:  # stand-in for the actor's Ray worker group (saves its own weights)
    def save_checkpoint(self, local_path, hdfs_path, step, max_ckpt_to_keep=None):
        os.makedirs(local_path, exist_ok=True)

    def load_checkpoint(self, local_path, del_local_after_load=False):
        pass


class Loader:
    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def __len__(self):
        return 1000


def main():
    rng = np.random.default_rng(0)
    algorithm = OmegaConf.create({"adv_estimator": "hadw_grpo", "norm_adv_by_std_in_grpo": True,
                                  "gamma": 1.0, "lam": 1.0, "hadw": {"lambda_scale": 1.5}})
    fn = hadw.verl.compute_hadw_grpo_outcome_advantage
    for step in range(5):
        data = compute_advantage(batch(rng, step), adv_estimator="hadw_grpo", config=algorithm)
        s = fn.last_stats
        print(f"step {step}: accuracy {s['hadw/batch_accuracy']:.3f}, prior "
              f"{s['hadw/prior']:.4f} -> {s['hadw/posterior']:.4f}, phi in "
              f"[{s['hadw/phi_min']:.3f}, {s['hadw/phi_max']:.3f}], advantages "
              f"{tuple(data.batch['advantages'].shape)}")

    trainer_cls = hadw.verl.with_anchor_checkpoints(RayPPOTrainer)
    with tempfile.TemporaryDirectory() as root:
        config = OmegaConf.create({
            "trainer": {"default_local_dir": root, "default_hdfs_dir": None,
                        "resume_mode": "auto", "resume_from_path": None,
                        "del_local_ckpt_after_load": False},
            "actor_rollout_ref": {"actor": {"checkpoint": {"async_save": False}}}})

        def trainer(global_steps):  # verl's trainer object, minus Ray (see the docstring)
            t = object.__new__(trainer_cls)
            t.config, t.actor_rollout_wg, t.use_critic = config, Workers(), False
            t.train_dataloader, t.global_steps = Loader(), global_steps
            return t

        saved = hadw.verl.anchor.save()
        trainer(5)._save_checkpoint()
        hadw.verl.anchor.observe(1.0)  # the run goes on, then dies
        resumed = trainer(0)
        resumed._load_checkpoint()
        ok = hadw.verl.anchor.save() == saved
        print(f"checkpoint global_step_5 holds {sorted(os.listdir(os.path.join(root, 'global_step_5')))};"
              f" resumed at step {resumed.global_steps}, anchor restored bit for bit: {ok}")
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()

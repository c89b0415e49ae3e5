"""One run: a supervised warm start (per seed), then GRPO's clipped surrogate on hadw advantages.

Everything is seeded from (seed, purpose), never from the arm, so every arm of a seed starts from
the same weights, sees the same prompts in the same order and draws from the same random stream
(common random numbers: arm differences are not prompt luck). torch runs on one thread: a run's
numbers do not depend on how many run side by side.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
import torch

from arms import Arm
from policy import Policy
from tasks import VOCAB, Addition


@dataclass(frozen=True)
class Config:
    n_digits: int = 4
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    # warm start: AdamW on exact answers until the dev accuracy (mean over buckets) reaches
    # warm_target, so every seed starts with the wide spread of difficulty RL needs
    warm_lr: float = 3e-3
    warm_batch: int = 128
    warm_target: float = 0.4
    warm_max_steps: int = 2000
    # RL
    steps: int = 200
    prompts: int = 16            # prompts per step
    G: int = 8                   # responses per prompt
    minibatches: int = 2         # optimizer steps per batch (the second is off-policy: clip acts)
    optimizer: str = "adam"      # 'adam' (Adam, as trainers use) or 'sgd' (plain)
    lr: float = 2e-4            # 1e-3 collapses the policy within 50 steps, 3e-4 is at the edge
    clip: float = 0.2
    # evaluation
    eval_every: int = 50
    eval_prompts: int = 32       # held-out prompts per bucket
    eval_samples: int = 32       # samples per held-out prompt
    bias_ref_samples: int = 64   # draws per estimate of a held-out prompt's p (first, last step)
    bias_groups: int = 4         # fresh groups of G per prompt for the measured E[p_hat | S]


def seeded(seed: int, purpose: int):
    return np.random.default_rng([seed, purpose]), torch.Generator().manual_seed(seed * 1000 + purpose)


def heldout(task: Addition, cfg: Config):
    """The held-out set: the same for every seed and arm, disjoint from nothing in particular
    (10^8 pairs per bucket at n = 4; training draws are independent)."""
    rng = np.random.default_rng(20260)
    return [task.sample(rng, cfg.eval_prompts, bucket=k) for k in range(task.buckets)]


@torch.no_grad()
def draw(policy: Policy, task: Addition, prompt_set, samples: int, gen: torch.Generator):
    """[prompts, samples] rewards of `samples` independent answers to each prompt."""
    a, b, _ = prompt_set
    P = task.prompts(a, b).repeat_interleave(samples, 0)
    answers = task.answers(a, b).repeat_interleave(samples, 0)
    return task.rewards(answers, policy.sample(P, task.answer_len, gen)).view(len(a), -1).numpy()


def evaluate(policy: Policy, task: Addition, sets, cfg: Config, gen: torch.Generator):
    """Held-out accuracy per bucket: the mean over prompts of each prompt's success rate over
    eval_samples draws."""
    return [float(draw(policy, task, s, cfg.eval_samples, gen).mean()) for s in sets]


def measure_bias(policy: Policy, task: Addition, sets, cfg: Config, gen: torch.Generator):
    """Lemma 2 on the policy. Per held-out prompt, two independent estimates of its success
    probability from bias_ref_samples draws each, p_bin (to bin prompts by) and p_ref (the 'true'
    p: binning on the estimate that is compared would select its noise), then bias_groups fresh
    groups of G and each non-degenerate group's p_hat.
    Rows (bucket, p_bin, p_ref, sum of live p_hat, live groups)."""
    rows = []
    for bucket, s in enumerate(sets):
        p_bin = draw(policy, task, s, cfg.bias_ref_samples, gen).mean(1)
        p_ref = draw(policy, task, s, cfg.bias_ref_samples, gen).mean(1)
        groups = draw(policy, task, s, cfg.bias_groups * cfg.G, gen).reshape(
            len(p_ref), cfg.bias_groups, cfg.G).mean(2)
        live = (groups > 0) & (groups < 1)
        rows += [(bucket, p_bin[i], p_ref[i], groups[i][live[i]].sum(), int(live[i].sum()))
                 for i in range(len(p_ref))]
    return rows


def warm_start(task: Addition, cfg: Config, seed: int) -> dict:
    torch.manual_seed(seed)
    policy = Policy(VOCAB, task.prompt_len + task.answer_len, cfg.d_model, cfg.layers, cfg.heads)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.warm_lr)
    rng, gen = seeded(seed, 1)
    dev_rng, _ = seeded(seed, 2)
    dev = [task.sample(dev_rng, 32, bucket=k) for k in range(task.buckets)]
    for step in range(cfg.warm_max_steps):
        if step % 25 == 0 and step > 0:
            if np.mean([draw(policy, task, s, 8, gen).mean() for s in dev]) >= cfg.warm_target:
                break
        a, b, _ = task.sample(rng, cfg.warm_batch)
        loss = -policy.answer_logprobs(task.prompts(a, b), task.answers(a, b)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"state": policy.state_dict(), "steps": step}


def clipped_surrogate(logp, old_logp, adv, clip):
    """GRPO's token-level clipped surrogate, token-mean over the minibatch (verl's default)."""
    ratio = torch.exp(logp - old_logp)
    a = adv.unsqueeze(1)
    return -torch.minimum(ratio * a, torch.clamp(ratio, 1 - clip, 1 + clip) * a).mean()


def run(arm: Arm, seed: int, cfg: Config, warm: dict, out_dir: str) -> None:
    """Trains one (arm, seed) and writes out_dir/<arm>/seed<seed>{,_eval,_bias}.csv."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    task = Addition(cfg.n_digits)
    policy = Policy(VOCAB, task.prompt_len + task.answer_len, cfg.d_model, cfg.layers, cfg.heads)
    policy.load_state_dict(warm["state"])
    opt = (torch.optim.Adam(policy.parameters(), lr=cfg.lr) if cfg.optimizer == "adam"
           else torch.optim.SGD(policy.parameters(), lr=cfg.lr))
    rng, gen = seeded(seed, 3)
    _, eval_gen = seeded(seed, 4)
    sets = heldout(task, cfg)
    anchor = arm.make_anchor()
    G, B = cfg.G, cfg.prompts
    train_rows, eval_rows, bias_rows = [], [], []

    def checkpoint(step):
        eval_rows.extend((step, k, v) for k, v in enumerate(evaluate(policy, task, sets, cfg,
                                                                     eval_gen)))
        if step in (0, cfg.steps):
            bias_rows.extend((step,) + r for r in measure_bias(policy, task, sets, cfg, eval_gen))

    for step in range(cfg.steps):
        if step % cfg.eval_every == 0:
            checkpoint(step)
        a, b, bucket = task.sample(rng, B)
        prompts = task.prompts(a, b).repeat_interleave(G, 0)
        answers = policy.sample(prompts, task.answer_len, gen)
        rewards = task.rewards(task.answers(a, b).repeat_interleave(G, 0), answers).numpy()
        difficulty = bucket / max(task.buckets - 1, 1)
        adv, lr_factor, stats = arm.advantages(rewards, G, anchor, difficulty)
        adv_t = torch.from_numpy(adv).float()
        with torch.no_grad():
            old = policy.answer_logprobs(prompts, answers)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor
        # minibatches of whole groups, in a seeded order
        order = torch.randperm(B, generator=gen)
        for part in order.chunk(cfg.minibatches):
            idx = (part.unsqueeze(1) * G + torch.arange(G)).reshape(-1)
            loss = clipped_surrogate(policy.answer_logprobs(prompts[idx], answers[idx]),
                                     old[idx], adv_t[idx], cfg.clip)
            opt.zero_grad()
            loss.backward()
            opt.step()
        per_bucket = [rewards.reshape(B, G)[bucket == k].mean() if (bucket == k).any() else np.nan
                      for k in range(task.buckets)]
        live = rewards.reshape(B, G).std(1) > 0
        train_rows.append([step, rewards.mean(), *per_bucket, 1 - live.mean(),
                           float(np.abs(adv).mean()), cfg.lr * lr_factor,
                           stats.get("hadw/phi_mean", np.nan), stats.get("hadw/weighting_belief",
                                                                         np.nan),
                           stats.get("hadw/weight_mean", np.nan)])
    checkpoint(cfg.steps)

    path = os.path.join(out_dir, arm.name)
    os.makedirs(path, exist_ok=True)
    buckets = [f"batch_acc_b{k}" for k in range(task.buckets)]
    write(os.path.join(path, f"seed{seed}.csv"),
          ["step", "batch_acc", *buckets, "degenerate_fraction", "mean_abs_adv", "lr", "phi_mean",
           "anchor", "weight_mean"], train_rows)
    write(os.path.join(path, f"seed{seed}_eval.csv"), ["step", "bucket", "accuracy"], eval_rows)
    write(os.path.join(path, f"seed{seed}_bias.csv"),
          ["step", "bucket", "p_bin", "p_ref", "p_hat_sum", "live_groups"], bias_rows)


def write(path, header, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in
                        (x.item() if hasattr(x, "item") else x for x in row)])
    os.replace(tmp, path)   # a run's files appear whole or not at all

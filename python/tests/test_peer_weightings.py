"""hadw.weigh / hadw.PromptTracker / hadw.spo_estimate against float64 transcriptions of each
source's own code (none of these peers is installable: each transcription cites its repository,
commit and function, and keeps the source's statements line by line, torch as there)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch

import hadw


def _batch(seed, groups=16, g=8, binary=True):
    rng = np.random.default_rng(seed)
    if binary:
        r = rng.integers(0, 2, size=(groups, g)).astype(np.float64)
    else:
        r = rng.random((groups, g))
    r[0] = 1.0  # an all-correct group
    r[1] = 0.0  # an all-wrong group
    adv = rng.standard_normal(groups * g)
    return r.reshape(-1), adv


def _weights(adv, out):
    return np.asarray(out) / adv


# ---------------------------------------------------------------------------------------------
def lead_transcription(token_level_rewards, index, epsilon=1e-6):
    """aeroplanepaper/GRPO-LEAD @ 577c63ce196b77ccd4d5ea8e304ae01593331003,
    verl/verl/trainer/ppo/core_algos.py: logistic_reweight and compute_grpo_outcome_advantage
    (file dumps and the token tiling left out; the correct ratio is made float64, where the
    source's torch.tensor(python float) is float32)."""

    def logistic_reweight(x, A=0.4, B=1.5, x0=0.75, k=10.0):
        weight = A + (B - A) / (1 + torch.exp(k * (x - x0)))
        return weight

    non_zero_mask = token_level_rewards != 0
    scores = (token_level_rewards * non_zero_mask).sum(dim=-1)
    id2score = defaultdict(list)
    id2correct_num = defaultdict(list)
    id2correct_ratio = {}
    id2mean = {}
    id2std = {}
    with torch.no_grad():
        bsz = scores.shape[0]
        for i in range(bsz):
            id2score[index[i]].append(scores[i])
            id2correct_num[index[i]].append(int(scores[i] > 0))
        for idx in id2score:
            if len(id2score[idx]) == 1:
                id2mean[idx] = torch.tensor(0.0)
                id2std[idx] = torch.tensor(1.0)
            elif len(id2score[idx]) > 1:
                id2mean[idx] = torch.mean(torch.tensor(id2score[idx]))
                id2std[idx] = torch.std(torch.tensor([id2score[idx]]))
        for index_i in id2correct_num:
            group_size = len(id2correct_num[index_i])
            id2correct_ratio[index_i] = torch.tensor(sum(id2correct_num[index_i]) / group_size,
                                                     dtype=torch.float64)
        for i in range(bsz):
            scores_i = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + epsilon)
            weight = (logistic_reweight(id2correct_ratio[index[i]]) if scores_i > 0
                      else logistic_reweight(1 - id2correct_ratio[index[i]]))
            scores[i] = scores_i * weight
    return scores


@pytest.mark.parametrize("binary", [True, False])
def test_grpo_lead_matches_its_source(binary):
    r, _ = _batch(1, binary=binary)
    g = 8
    index = np.repeat(np.arange(len(r) // g), g)
    want = lead_transcription(torch.tensor(r).unsqueeze(-1), index.tolist()).numpy()
    adv = hadw.estimate("grpo", r, group_size=g, compat="verl")
    hadw.weigh(adv, r, "grpo_lead", group_size=g)
    np.testing.assert_allclose(adv, want, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
def dgpo_dqw_transcription(main_rewards, num_generations, dgpo_dqw_temp=2.0):
    """AMAP-ML/MathForge @ 8b65a62326f2fd9eba7ced31b0e52f92a040101d,
    trl-0.20.0/trl/trainer/grpo_trainer.py _generate_and_score_completions, the enable_dgpo_dqw
    block (one reward function: rewards == main_rewards)."""
    mean_grouped_main_rewards = main_rewards.view(-1, num_generations).mean(dim=1)
    is_incorrect = torch.isclose(mean_grouped_main_rewards, torch.zeros_like(mean_grouped_main_rewards))
    rewards = main_rewards
    mean_grouped_rewards = rewards.view(-1, num_generations).mean(dim=1)
    std_grouped_rewards = rewards.view(-1, num_generations).std(dim=1)
    sample_num = mean_grouped_rewards.size(0)
    is_std_zero = torch.isclose(std_grouped_rewards, torch.zeros_like(std_grouped_rewards))
    zero_sample_num = is_std_zero.sum()
    difficulty_balancing_weights = torch.ones_like(mean_grouped_main_rewards)
    if zero_sample_num < sample_num:
        mean_grouped_main_rewards_modfied = mean_grouped_main_rewards.clone()
        mean_grouped_main_rewards_modfied[is_incorrect] = torch.ones_like(
            mean_grouped_main_rewards_modfied[is_incorrect])
        difficulty_balancing_weights[~is_std_zero] = (sample_num - zero_sample_num) * torch.nn.functional.softmax(
            -mean_grouped_main_rewards_modfied[~is_std_zero] / dgpo_dqw_temp, dim=0)
    difficulty_balancing_weights = difficulty_balancing_weights.repeat_interleave(num_generations, dim=0)
    return difficulty_balancing_weights


@pytest.mark.parametrize("binary,temperature", [(True, 2.0), (False, 2.0), (True, 0.5)])
def test_dgpo_question_weights_match_their_source(binary, temperature):
    r, adv = _batch(2, binary=binary)
    want = dgpo_dqw_transcription(torch.tensor(r), 8, temperature).numpy()
    out = adv.copy()
    stats = hadw.weigh(out, r, "dgpo_question", group_size=8, temperature=temperature)
    np.testing.assert_allclose(_weights(adv, out), want, rtol=1e-12)
    assert stats["hadw/weight_mean"] == pytest.approx(want.mean(), rel=1e-12)


# ---------------------------------------------------------------------------------------------
def roll_sample_weights_transcription(difficulty, batch_size):
    """alibaba/ROLL @ 4dc7f5b3b26eee91eef8153894ebf3806fde1ca8,
    roll/pipeline/rlvr/actor_worker.py ActorWorker.compute_sample_weights with
    difficulty_loss_weight on, length_loss_weight off."""
    sample_weights = torch.ones(batch_size, dtype=torch.float64)
    difficulty = torch.tensor(difficulty, dtype=torch.float64)
    norm_difficulty = torch.clamp(difficulty, 0.0, 1.0)
    difficulty_weights = 0.5 + 1.5 * norm_difficulty
    sample_weights = sample_weights * difficulty_weights
    if sample_weights.sum() > 0:
        sample_weights = sample_weights * (batch_size / (sample_weights.sum() + 1e-8))
    return sample_weights


def test_roll_static_difficulty_matches_its_source():
    r, adv = _batch(3)
    labels = np.random.default_rng(3).uniform(-0.3, 1.3, size=len(r) // 8)
    want = roll_sample_weights_transcription(np.repeat(labels, 8), len(r)).numpy()
    out = adv.copy()
    hadw.weigh(out, r, "roll_static", group_size=8, difficulty=labels)
    np.testing.assert_allclose(_weights(adv, out), want, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
def delta_l_transcription(scores, response_mask, alpha):
    """zerolllin/Delta-L-Normalization @ 89da5b9dff1fbce4b3a08816e31cc63554341e9a,
    verl/trainer/ppo/core_algos.py compute_grpo_outcome_advantage, the use_grpopp block."""
    bsz = scores.shape[0]
    valid_length_list = response_mask.sum(dim=1).detach().cpu().numpy().tolist()
    mean_length = float(np.mean(valid_length_list))
    length_reciprocal_list = []
    for length in valid_length_list:
        length_reciprocal_list.append(1 / ((length / mean_length) ** alpha))
    length_reciprocal_mean = float(np.mean(length_reciprocal_list))
    for i in range(bsz):
        scores[i] = scores[i] * (length_reciprocal_list[i] / length_reciprocal_mean)
    return scores


@pytest.mark.parametrize("alpha", [1.0, 0.75])
def test_delta_l_matches_its_source(alpha):
    r, adv = _batch(4)
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 64, size=len(r))
    response_mask = torch.tensor(np.arange(64)[None, :] < lengths[:, None], dtype=torch.float64)
    want = delta_l_transcription(torch.tensor(adv.copy()), response_mask, alpha).numpy()
    out = torch.tensor(adv.copy())  # torch in, in place
    hadw.weigh(out, r, "delta_l", group_size=8, lengths=lengths, alpha=alpha)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
def test_f_grpo_is_the_papers_focal_weight():
    """F-GRPO (arXiv 2602.06717 §4, no public code): g(x) = (1 - mu_pos(x))^gamma with mu_pos the
    group's empirical success rate, multiplying the group-relative advantage."""
    r, adv = _batch(5)
    for gamma in (0.5, 1.0, 2.0):
        mu = r.reshape(-1, 8).mean(axis=1)
        want = np.repeat((1.0 - mu) ** gamma, 8)
        out = adv.astype(np.float32)
        hadw.weigh(out, r.astype(np.float32), "f_grpo", group_size=8, gamma=gamma)
        np.testing.assert_allclose(out, (adv.astype(np.float32) * want).astype(np.float32), rtol=1e-6)


def test_weigh_refuses_bad_input_by_name_and_writes_nothing():
    r, adv = _batch(6)
    out = adv.copy()
    with pytest.raises(ValueError, match="lengths"):
        hadw.weigh(out, r, "delta_l", group_size=8, lengths=np.ones(3, dtype=np.int64))
    zero = np.full(len(r), 5, dtype=np.int64)
    zero[4] = 0
    with pytest.raises(hadw.Error, match=r"length_weights.lengths\[4\] > 0"):
        hadw.weigh(out, r, "delta_l", group_size=8, lengths=zero)
    with pytest.raises(hadw.Error, match="focal.gamma"):
        hadw.weigh(out, r, "f_grpo", group_size=8, gamma=-1.0)
    bad = r.copy()
    bad[5] = 2.0
    with pytest.raises(hadw.Error, match=r"rewards\[5\]"):
        hadw.weigh(out, bad, "dgpo_question", group_size=8)
    with pytest.raises(ValueError, match="method"):
        hadw.weigh(out, r, "nope", group_size=8)
    np.testing.assert_array_equal(out, adv)


# ---------------------------------------------------------------------------------------------
class SpoTranscription:
    """verl-project/verl-recipe @ 550d42f53169e41b36921faef86336fdfc558820, spo/spo_ray_trainer.py
    RayPPOTrainer.fit: the offline initialisation, the advantage block (r - p_hats, whitened) and
    the alpha/beta update after the actor step, with rho.type == 'constant' (float64 here)."""

    def __init__(self, prompt2scores, Neff, clip_lower):
        full_prompts = list(prompt2scores.keys())
        if Neff == 0:
            self.prompt2alpha = {k: 0.5 for k in full_prompts}
            self.prompt2beta = {k: 0.5 for k in full_prompts}
        else:
            N_init = 1 / (1 - clip_lower)
            self.prompt2alpha = {k: N_init * (sum(prompt2scores[k]) + 0.5) / (Neff + 1) for k in full_prompts}
            self.prompt2beta = {k: N_init * (Neff - sum(prompt2scores[k]) + 0.5) / (Neff + 1) for k in full_prompts}

    def step(self, micro_prompts, r, rho_value):
        alpha = [self.prompt2alpha[_] for _ in micro_prompts]
        beta = [self.prompt2beta[_] for _ in micro_prompts]
        alpha = torch.tensor(alpha, dtype=torch.float64).to(r)
        beta = torch.tensor(beta, dtype=torch.float64).to(r)
        Neff = alpha + beta
        p_hats = alpha / Neff
        advantages = r - p_hats
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        rho = torch.full((len(micro_prompts),), rho_value, dtype=torch.float64)
        alpha = rho * alpha + r
        beta = rho * beta + (1 - r)
        for i in range(len(alpha)):
            self.prompt2alpha[micro_prompts[i]] = alpha[i].item()
            self.prompt2beta[micro_prompts[i]] = beta[i].item()
        return advantages


def test_spo_tracker_and_advantages_match_verl_recipe_over_steps_and_a_checkpoint():
    rng = np.random.default_rng(7)
    prompts = list(range(40))
    Neff, clip_lower, rho = 8, 0.875, 0.9
    offline = {p: [int(s > 0) for s in rng.integers(0, 2, size=Neff)] for p in prompts}
    ref = SpoTranscription(offline, Neff, clip_lower)
    tracker = hadw.PromptTracker()
    for p in prompts:
        tracker.set(p, *hadw.PromptTracker.offline_prior(sum(offline[p]), Neff, clip_lower))
    restored = None
    for step in range(6):
        batch = rng.choice(prompts, size=16, replace=False).tolist()  # distinct ids per step
        r = rng.integers(0, 2, size=16).astype(np.float64)
        want = ref.step(batch, torch.tensor(r), rho).numpy()
        ids = np.asarray(batch, dtype=np.int64)
        got = hadw.spo_estimate(tracker, ids, r)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        tracker.update(ids, r, rho=rho)
        if restored is not None:
            restored.update(ids, r, rho=rho)
        for p in prompts:
            a, b = tracker.belief(p)
            assert a == pytest.approx(ref.prompt2alpha[p], rel=1e-14)
            assert b == pytest.approx(ref.prompt2beta[p], rel=1e-14)
        if step == 2:  # checkpoint mid-run: the restored tracker continues bit-identically
            restored = hadw.PromptTracker()
            restored.load_state_dict(tracker.state_dict())
            assert restored == tracker
    assert restored.save() == tracker.save()
    np.testing.assert_allclose(tracker.priors(np.arange(40)),
                               [ref.prompt2alpha[p] / (ref.prompt2alpha[p] + ref.prompt2beta[p])
                                for p in prompts], rtol=1e-14)


def test_prompt_tracker_state_is_refused_when_corrupted():
    t = hadw.PromptTracker()
    t.update(np.arange(4), np.array([1.0, 0.0, 1.0, 1.0]), rho=0.5)
    b = bytearray(t.save())
    b[20] ^= 1
    with pytest.raises(hadw.Error, match="prompt tracker state: checksum mismatch"):
        hadw.PromptTracker.load(bytes(b))
    with pytest.raises(hadw.Error, match="hadw_prompt_tracker"):
        t.load_state_dict({})


def test_ha_dw_with_per_prompt_priors_matches_a_naive_loop():
    """No peer has it: Phi = lambda exp(D M), diff = p_hat - C_prompt, C from the tracker."""
    rng = np.random.default_rng(9)
    t = hadw.PromptTracker()
    ids = np.arange(10)
    t.update(ids, rng.random(10), rho=0.9)
    r, adv = _batch(9, groups=10)
    priors = t.priors(ids)
    out = adv.copy()
    hadw.weigh(out, r, "prompt_phi", group_size=8, priors=priors, lambda_scale=1.5)
    p_hat = np.repeat(r.reshape(-1, 8).mean(axis=1), 8)
    diff = p_hat - np.repeat(priors, 8)
    want = adv * 1.5 * np.exp(-np.sign(adv) * np.sign(diff) * np.abs(diff))
    np.testing.assert_allclose(out, want, rtol=1e-12)


def test_verl_adapter_applies_a_weighting_after_verls_own_grpo():
    """hadw.verl.make_outcome_advantage(weighting=...) = verl 0.9.1's own
    compute_grpo_outcome_advantage, then the Delta-L transcription above on its token rows."""
    pytest.importorskip("verl")
    import hadw.verl
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    r, _ = _batch(10)
    rng = np.random.default_rng(10)
    lengths = rng.integers(1, 32, size=len(r))
    mask = torch.tensor(np.arange(32)[None, :] < lengths[:, None], dtype=torch.float64)
    rewards = torch.zeros((len(r), 32), dtype=torch.float64)
    rewards[torch.arange(len(r)), torch.tensor(lengths - 1)] = torch.tensor(r)
    index = np.repeat(np.arange(len(r) // 8), 8).astype(object)
    verl_adv, _ = compute_grpo_outcome_advantage(rewards, mask, index)
    seq = verl_adv.sum(dim=-1) / mask.sum(dim=-1)  # the per-response advantage, broadcast
    want = delta_l_transcription(seq.clone(), mask, 0.75)[:, None] * mask
    fn = hadw.verl.make_outcome_advantage("grpo", reweight=False, weighting="delta_l",
                                          weighting_options={"alpha": 0.75})
    got, _ = fn(rewards, mask, index=index)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    assert fn.last_stats["hadw/weight_mean"] == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="reweight=False"):
        hadw.verl.make_outcome_advantage("grpo", weighting="f_grpo")

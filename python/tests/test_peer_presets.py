"""hadw's exact mode for the HA-DW authors' released code (compat='authors', 'ha_dw_authors').

Their code (github yangfengkai/HA-DW, verl fork) is not installable, so this file carries an
independent transcription of it, line by line in torch float64 (the same code in double, as the
other peer tests compare with):
  - verl/trainer/ppo/core_algos.py: compute_reward_history_stats and
    compute_ha_dw_outcome_advantage;
  - verl/trainer/ppo/ray_trainer.py: RayPPOTrainer.fit appends the batch's mean total reward to
    `batch_reward_history` (a deque of maxlen reward_window_k, 10 in their scripts) *before*
    compute_advantage, and passes the whole window.
hadw reproduces it with a window_mean anchor of window 10 that observes the batch mean first
(posterior timing), its belief turned back into reward units as the history mean.
"""

import warnings
from collections import defaultdict, deque

import numpy as np
import pytest

import hadw
from conftest import peer

torch = peer("torch")


# --- the authors' code, transcribed -------------------------------------------------------------

def compute_reward_history_stats(reward_history):
    # Theirs: np.asarray(..., dtype=np.float32); float64 here (the peer code run in double).
    reward_arr = np.asarray(reward_history, dtype=np.float64)
    if reward_arr.size == 0:
        return {"mean": 0.0, "var": 0.0}
    return {"mean": float(np.mean(reward_arr)), "var": float(np.var(reward_arr))}


def compute_ha_dw_outcome_advantage(token_level_rewards, response_mask, index,
                                    batch_reward_history=None, norm_adv_by_std_in_grpo=True,
                                    epsilon=1e-6):
    scores = token_level_rewards.sum(dim=-1).clone()
    id2score = defaultdict(list)
    id2mean = {}
    id2std = {}
    with torch.no_grad():
        if batch_reward_history is None or len(batch_reward_history) == 0:
            hist_mean = torch.mean(scores)
        else:
            reward_stats = compute_reward_history_stats(batch_reward_history)
            hist_mean = torch.as_tensor(reward_stats["mean"], dtype=scores.dtype)
        bsz = scores.shape[0]
        for i in range(bsz):
            id2score[index[i]].append(scores[i])
        for idx in id2score:
            if len(id2score[idx]) == 1:
                id2mean[idx] = torch.tensor(0.0, dtype=scores.dtype)
                id2std[idx] = torch.tensor(1.0, dtype=scores.dtype)
            else:
                scores_tensor = torch.stack(id2score[idx])
                id2mean[idx] = torch.mean(scores_tensor)
                id2std[idx] = torch.std(scores_tensor)
        for i in range(bsz):
            g = index[i]
            gmean = id2mean[g]
            gstd = id2std[g]
            if norm_adv_by_std_in_grpo:
                hist_diff = gmean - hist_mean
                hist_scaled_direction = -torch.sign(hist_diff) * torch.sign(scores[i] - gmean)
                hist_scaled_magnitude = torch.abs(hist_diff)
                scale = 1.5 * torch.exp(hist_scaled_direction * hist_scaled_magnitude)
                scores[i] = scale * (scores[i] - gmean) / (gstd + epsilon)
            else:
                scores[i] = scores[i] - gmean
        scores = scores.unsqueeze(-1) * response_mask
    return scores, scores


class AuthorsTrainer:
    """The history part of their RayPPOTrainer.fit."""

    def __init__(self, reward_window_k=10):
        self.batch_reward_history = deque(maxlen=reward_window_k)

    def step(self, token_level_rewards, response_mask, index, norm_adv_by_std_in_grpo):
        reward_tensor = token_level_rewards
        batch_reward_values = reward_tensor.sum(-1)
        self.batch_reward_history.append(float(batch_reward_values.mean().item()))
        return compute_ha_dw_outcome_advantage(
            token_level_rewards, response_mask, index,
            batch_reward_history=list(self.batch_reward_history),
            norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo)[0]


# --- hadw ---------------------------------------------------------------------------------------

class HadwAuthorsMode:
    """docs/integrating.md, "The authors' code": a window-10 mean anchor that observes first."""

    def __init__(self, low, high):
        self.low, self.high = low, high
        self.anchor = hadw.DifficultyAnchor("window_mean", window=10)

    def step(self, scores, uids, normalise):
        self.anchor.observe((scores.mean() - self.low) / (self.high - self.low))
        history_mean = self.low + (self.high - self.low) * self.anchor.prior
        return hadw.estimate("ha_dw_authors", scores, index=uids, compat="authors",
                             history_mean=history_mean, normalise=normalise)


def make_batch(rng, sizes, values, L=6):
    uids = np.array([f"p{k}" for k, g in enumerate(sizes) for _ in range(g)], dtype=object)
    n = len(uids)
    scores = rng.choice(values, n).astype(np.float64)
    order = rng.permutation(n)
    scores, uids = scores[order], uids[order]
    tlr = np.zeros((n, L))
    tlr[:, -1] = scores
    return scores, uids, torch.from_numpy(tlr), torch.ones(n, L, dtype=torch.float64)


@pytest.mark.parametrize("values,low,high", [([0.0, 1.0], 0.0, 1.0), ([-1.0, 1.0], -1.0, 1.0)],
                         ids=["binary", "math_dapo_pm1"])
@pytest.mark.parametrize("normalise", [True, False], ids=["std", "no_std"])
def test_authors_mode_reproduces_their_code_over_steps(rng, values, low, high, normalise):
    theirs, ours = AuthorsTrainer(), HadwAuthorsMode(low, high)
    for step in range(14):  # past the window of 10: the history slides
        sizes = list(rng.integers(1, 7, 12))
        sizes[step % 12] = 1  # a size-1 group every step
        scores, uids, tlr, mask = make_batch(rng, sizes, values)
        expected = theirs.step(tlr, mask, uids, normalise)[:, -1].numpy()
        got = ours.step(scores, uids, normalise)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15,
                                   err_msg=f"step {step}")


def test_authors_mode_is_not_the_documented_hadw_configuration(rng):
    # Why the exact mode exists: hadw.reweight on verl's GRPO, window 10, posterior, lambda 1.5,
    # differs from their code on a size-1 group (they compare its mean 0 with the history) and on
    # +-1 rewards (they weigh raw differences, twice hadw's normalised ones).
    scores, uids, tlr, mask = make_batch(rng, [1, 4, 4, 4], [-1.0, 1.0])
    expected = AuthorsTrainer().step(tlr, mask, uids, True)[:, -1].numpy()
    adv = hadw.estimate("grpo", scores, index=uids, compat="verl")
    anchor = hadw.DifficultyAnchor("window_mean", window=10)
    hadw.reweight(adv, scores, anchor, index=uids, timing="posterior", lambda_scale=1.5,
                  reward_range=(-1.0, 1.0))
    assert not np.allclose(adv, expected, rtol=1e-6)
    exact = HadwAuthorsMode(-1.0, 1.0).step(scores, uids, True)
    np.testing.assert_allclose(exact, expected, rtol=1e-13, atol=1e-15)


def test_authors_mode_options_are_checked():
    with pytest.raises(hadw.Error, match="history_mean"):
        hadw.Estimator("ha_dw_authors", history_mean=float("nan"))
    with pytest.raises(hadw.Error, match="lambda_scale"):
        hadw.Estimator("ha_dw_authors", lambda_scale=0.0)
    with pytest.raises(hadw.Error, match="history_mean: not an option"):
        hadw.Estimator("grpo", history_mean=0.5)
    with pytest.raises(hadw.Error, match="compat 'verl' required"):
        hadw.Estimator("rloo_vectorized", compat="trl")


# --- OpenRLHF ----------------------------------------------------------------------------------
# OpenRLHF 0.11.2 computes its advantages inline in RemoteExperienceMaker
# (openrlhf/trainer/ppo_utils/experience_maker.py), a module that imports Ray. As
# test_peer_trl.py does for TRL, the test runs the installed file's own lines, unchanged, with a
# stand-in `args`: the group step (rloo / reinforce_baseline / dr_grpo / group_norm) and the
# batch whitening over tokens (reinforce_baseline). Between the two, OpenRLHF's
# get_cumulative_returns with gamma 1 turns a scalar reward on the last valid token (no KL) into
# that reward on every valid token; the test writes that step out.

def openrlhf_lines(begin, end):
    import inspect
    import pathlib
    import textwrap

    openrlhf = peer("openrlhf")
    path = pathlib.Path(openrlhf.__file__).parent / "trainer" / "ppo_utils" / "experience_maker.py"
    source = path.read_text()
    b = source.find(begin)
    e = source.find(end, b)
    assert b >= 0 and e > b, f"OpenRLHF {path}: the advantage lines moved; update this test"
    start = source.rfind("\n", 0, b) + 1
    return compile(textwrap.dedent(source[start:e + len(end)]), str(path), "exec")


def openrlhf_advantages(estimator, rewards, G, lengths, L):
    from types import SimpleNamespace as NS

    group = openrlhf_lines('if args.algo.advantage.estimator == "rloo":',
                           "rewards = rewards - rewards.mean()")
    whiten = openrlhf_lines(
        'if args.algo.advantage.estimator in ["gae", "reinforce", "reinforce_baseline"]:',
        "exp.advantages = (exp.advantages - mean) * rstd")
    args = NS(algo=NS(advantage=NS(estimator=estimator, no_std_norm=False)),
              rollout=NS(n_samples_per_prompt=G))
    scope = {"args": args, "torch": torch,
             "rewards": torch.as_tensor(rewards, dtype=torch.float32).reshape(-1, G)}
    exec(group, scope)
    per_response = scope["rewards"].reshape(-1)
    mask = torch.arange(L)[None, :] < torch.as_tensor(lengths)[:, None]
    experiences = [NS(advantages=per_response[:, None] * mask, action_mask=mask)]
    scope.update(experiences=experiences)
    exec(whiten, scope)
    return experiences[0].advantages, mask


@pytest.mark.parametrize("estimator,name", [("group_norm", "grpo"), ("rloo", "rloo"),
                                            ("dr_grpo", "dr_grpo"),
                                            ("reinforce_baseline", "reinforce_pp_baseline")])
def test_compat_openrlhf_matches_openrlhfs_own_lines(rng, estimator, name):
    G, L = 4, 7
    for kind in ("binary", "uniform"):
        rewards = (rng.random(64) < 0.5) if kind == "binary" else rng.random(64)
        rewards = rewards.astype(np.float32)
        lengths = rng.integers(1, L + 1, 64)
        theirs, mask = openrlhf_advantages(estimator, rewards, G, lengths, L)
        adv = hadw.estimate(name, rewards.astype(np.float64), group_size=G, compat="openrlhf",
                            lengths=lengths if name == "reinforce_pp_baseline" else None)
        # On the valid tokens: OpenRLHF's whitening also shifts the padding (its loss masks it).
        valid = mask.numpy()
        ours = (adv[:, None] * valid)[valid]
        theirs = theirs.double().numpy()[valid]
        tokens = np.repeat(np.arange(64), lengths)  # the response of each valid token
        # OpenRLHF runs in float32: 16 float32 ulps of max(1, |A|) plus max|r| / s, s the
        # divisor of the response's formula (test_peer_verl.assert_f32_close's bound).
        r = rewards.astype(np.float64).reshape(-1, G)
        if estimator == "group_norm":
            s = np.repeat(r.std(axis=1, ddof=1) + 1e-9, G)
        elif estimator == "reinforce_baseline":  # the token-weighted std of r - group mean
            c = (r - r.mean(axis=1, keepdims=True)).reshape(-1)
            mu = np.average(c, weights=lengths)
            s = np.full(64, np.sqrt(max(np.average((c - mu) ** 2, weights=lengths), 1e-8)))
        else:
            s = np.ones(64)
        cond = (np.abs(r).max(axis=1).repeat(G) / s)[tokens]
        bound = 16 * np.finfo(np.float32).eps * (np.maximum(1.0, np.abs(theirs)) + cond)
        worst = float((np.abs(ours - theirs) / bound).max())
        assert worst <= 1.0, f"{kind}: max error {worst:.2f} x the float32 bound"


# --- NeMo-RL, slime, ROLL, rllm, SkyRL ----------------------------------------------------------
# None of them installs here with `pip install --no-deps` and imports with torch and numpy alone
# (nemo-rl on PyPI is a 0.0.0 placeholder; skyrl-train needs Python 3.12; slime and ROLL are not
# on PyPI; rllm's package imports its agent stack), so each is transcribed line by line from the
# cited source, in torch / numpy float64 (the peer code run in double).

def nemo_rl_baseline_and_std(prompts, rewards, valid_mask, leave_one_out_baseline=True):
    # NVIDIA-NeMo/RL 165f994, nemo_rl/algorithms/utils.py, calculate_baseline_and_std_per_prompt
    # (std_rewards = rewards).
    unique_prompts = torch.unique(prompts, dim=0)
    baseline = torch.zeros_like(rewards)
    std = torch.zeros_like(rewards)
    for i in range(len(unique_prompts)):
        is_matching_prompt = (prompts == unique_prompts[i]).all(1)
        prompt_idx = torch.arange(len(prompts))[is_matching_prompt]
        if leave_one_out_baseline:
            baseline_mask_matrix = (1 - torch.eye(len(prompt_idx))).to(rewards.dtype)
        else:
            baseline_mask_matrix = torch.ones((len(prompt_idx), len(prompt_idx)),
                                              dtype=rewards.dtype)
        if valid_mask[prompt_idx].sum() <= 1:
            baseline[prompt_idx] = rewards[prompt_idx]
        else:
            num_valid = valid_mask[prompt_idx].to(rewards.dtype).sum() - int(leave_one_out_baseline)
            prompt_baseline = torch.matmul(
                baseline_mask_matrix, rewards[prompt_idx] * valid_mask[prompt_idx]) / num_valid
            prompt_baseline_square = torch.matmul(
                baseline_mask_matrix,
                torch.pow(rewards[prompt_idx], 2) * valid_mask[prompt_idx]) / num_valid
            baseline[prompt_idx] = prompt_baseline
            std[prompt_idx] = (((prompt_baseline_square - prompt_baseline.square())
                                * (num_valid / (num_valid - 1))).sqrt().nan_to_num(0))
    return baseline, std


def nemo_rl_grpo(prompt_ids, rewards, normalize_rewards=True):
    # nemo_rl/algorithms/advantage_estimator.py (165f994), GRPOAdvantageEstimator.compute_advantage
    baseline, std = nemo_rl_baseline_and_std(prompt_ids, rewards, torch.ones_like(rewards))
    advantages = (rewards - baseline).unsqueeze(-1)
    if normalize_rewards:
        epsilon = 1e-6
        non_zero_std_mask = std > 0
        advantages[non_zero_std_mask] = advantages[non_zero_std_mask] / (
            std.unsqueeze(-1)[non_zero_std_mask] + epsilon)
    return advantages[:, 0]


def slime_rewards(raw_rewards, n_samples_per_prompt, grpo_std_normalization=True):
    # THUDM/slime a51f071, slime/ray/rollout.py, RolloutManager._post_process_rewards ("grpo").
    rewards = torch.tensor(raw_rewards, dtype=torch.float64).reshape(-1, n_samples_per_prompt)
    mean = rewards.mean(dim=-1, keepdim=True)
    rewards = rewards - mean
    if grpo_std_normalization:
        std = rewards.std(dim=-1, keepdim=True)
        rewards = rewards / (std + 1e-6)
    return rewards.flatten()


def roll_reward_norm(response_level_rewards, n_sample):
    # alibaba/ROLL 4142237, roll/utils/functionals.py, reward_norm with norm_mean_type =
    # norm_std_type = "group" (reward_postprocess sets both for adv_estimator "grpo").
    reshape_reward = response_level_rewards.reshape(*response_level_rewards.size()[:-1], -1,
                                                    n_sample)
    reward_mean = reshape_reward.mean(dim=-1, keepdim=True)
    reward_std = torch.std(reshape_reward, dim=-1, keepdim=True)
    normalized_rewards = (reshape_reward - reward_mean) / (reward_std + 1e-6)
    return normalized_rewards.reshape(*response_level_rewards.size())


def rllm_grpo(rewards, norm_adv_by_std_in_grpo=True, episilon=1e-6):
    # rllm-org/rllm aabd8a3, rllm/trainer/algorithms/rl_algo.py, calculate_grpo_advantages_per_group
    if len(rewards) <= 1:
        group_mean, group_std = 0.0, 1.0
    else:
        group_mean = np.mean(rewards)
        group_std = np.std(rewards)
    if norm_adv_by_std_in_grpo:
        return (rewards - group_mean) / (group_std + episilon)
    return rewards - group_mean


def rllm_rloo(rewards):
    # ibid., calculate_rloo_advantages_per_group
    num_trajs = len(rewards)
    if num_trajs <= 1:
        return rewards
    return num_trajs / (num_trajs - 1) * (rewards - rewards.mean())


def skyrl_scores(scores, index, estimator, epsilon=1e-6, grpo_norm_by_std=True):
    # NovaSky-AI/SkyRL 9210371, skyrl-train/skyrl_train/utils/ppo_utils.py,
    # compute_grpo_outcome_advantage / compute_rloo_outcome_advantage (scores = the row sums).
    scores = scores.clone()
    id2score = defaultdict(list)
    id2mean, id2std = {}, {}
    bsz = scores.shape[0]
    for i in range(bsz):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean[idx] = torch.tensor(0.0, dtype=scores.dtype)
            id2std[idx] = torch.tensor(1.0, dtype=scores.dtype)
        else:
            id2mean[idx] = torch.mean(torch.stack(id2score[idx]))
            id2std[idx] = torch.std(torch.stack(id2score[idx]))
    for i in range(bsz):
        n = len(id2score[index[i]])
        if estimator == "rloo":
            scores[i] = (scores[i] - id2mean[index[i]]) * (n / (n - 1)) if n > 1 else 0.0
        elif grpo_norm_by_std:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return scores


def ragged(rng, kind, sizes):
    n = int(sum(sizes))
    r = (rng.random(n) < 0.5).astype(np.float64) if kind == "binary" else rng.random(n)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(n)
    return r[order], ids[order]


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_compat_nemo_rl_matches_its_leave_one_out_std(rng, kind):
    sizes = [1, 2, 3, 4, 5, 8, 16] * 3
    r, ids = ragged(rng, kind, sizes)
    prompts = torch.as_tensor(ids)[:, None]
    theirs = nemo_rl_grpo(prompts, torch.as_tensor(r)).numpy()
    np.testing.assert_allclose(hadw.estimate("grpo", r, index=ids, compat="nemo_rl"), theirs,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hadw.estimate("rloo", r, index=ids, compat="nemo_rl"),
                               nemo_rl_grpo(prompts, torch.as_tensor(r), False).numpy(),
                               rtol=1e-12, atol=1e-14)
    # Not a group-std GRPO: the std is each response's own, over the others.
    assert not np.allclose(hadw.estimate("grpo", r, index=ids, compat="verl"), theirs, rtol=1e-3)


def test_compat_nemo_rl_rules_all_equal_and_pairs():
    r = np.array([0.3, 0.3, 0.3, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    ids = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    theirs = nemo_rl_grpo(torch.as_tensor(ids)[:, None], torch.as_tensor(r)).numpy()
    ours = hadw.estimate("grpo", r, index=ids, compat="nemo_rl")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-9)  # 0.3s: float residue there
    assert list(ours[3:6]) == [1.0, -1.0, 1.0]  # a pair; a 1 whose others are all 0: undivided


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_compat_slime_and_roll_match_their_group_norm(rng, kind):
    G = 8
    r = (rng.random(96) < 0.5).astype(np.float64) if kind == "binary" else rng.random(96)
    np.testing.assert_allclose(hadw.estimate("grpo", r, group_size=G, compat="slime"),
                               slime_rewards(r.tolist(), G).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hadw.estimate("dr_grpo", r, group_size=G, compat="slime"),
                               slime_rewards(r.tolist(), G, False).numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(hadw.estimate("grpo", r, group_size=G, compat="roll"),
                               roll_reward_norm(torch.as_tensor(r), G).numpy(), rtol=1e-12,
                               atol=1e-14)
    # slime turns the std off for n_samples_per_prompt = 1: r - r = 0; ROLL's std of one is NaN.
    np.testing.assert_array_equal(hadw.estimate("grpo", r[:4], group_size=1, compat="slime"),
                                  slime_rewards(r[:4].tolist(), 1, False).numpy())
    with warnings.catch_warnings():  # torch warns of the ddof-1 std of one
        warnings.simplefilter("ignore", UserWarning)
        assert torch.isnan(roll_reward_norm(torch.as_tensor(r[:4]), 1)).all()
    with pytest.raises(hadw.Error):
        hadw.estimate("grpo", r[:4], group_size=1, compat="roll")


@pytest.mark.parametrize("kind", ["binary", "uniform"])
def test_compat_rllm_and_skyrl_match_their_functions(rng, kind):
    sizes = [1, 2, 3, 4, 8] * 4
    r, ids = ragged(rng, kind, sizes)
    groups = {k: np.flatnonzero(ids == k) for k in range(len(sizes))}

    def per_group(fn):
        out = np.empty_like(r)
        for idx in groups.values():
            out[idx] = fn(r[idx])
        return out

    for name, fn in (("grpo", rllm_grpo), ("dr_grpo", lambda x: rllm_grpo(x, False)),
                     ("rloo", rllm_rloo)):
        np.testing.assert_allclose(hadw.estimate(name, r, index=ids, compat="rllm"),
                                   per_group(fn), rtol=1e-12, atol=1e-14, err_msg=name)
    t = torch.as_tensor(r)
    for name, kw in (("grpo", {}), ("dr_grpo", {"grpo_norm_by_std": False}), ("rloo", {})):
        theirs = skyrl_scores(t, ids, "rloo" if name == "rloo" else "grpo", **kw).numpy()
        np.testing.assert_allclose(hadw.estimate(name, r, index=ids, compat="skyrl"), theirs,
                                   rtol=1e-12, atol=1e-14, err_msg=name)


def test_compat_names_are_checked():
    with pytest.raises(hadw.Error, match="'nemo_rl', 'slime', 'roll', 'rllm', 'skyrl'"):
        hadw.Estimator("grpo", compat="nemo")
    with pytest.raises(hadw.Error, match="compat 'roll' has no preset for 'rloo'"):
        hadw.Estimator("rloo", compat="roll")
    with pytest.raises(hadw.Error, match="eps"):
        hadw.Estimator("grpo", compat="nemo_rl", eps=1e-13)

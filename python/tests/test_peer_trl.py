"""hadw against TRL's GRPO advantages (the installed trl package), with the compat 'trl' preset.

TRL computes advantages inline in GRPOTrainer._generate_and_score_completions, not in a callable
function, and running that method needs a model, a tokenizer and generation. So the test takes
the real lines from the installed trainer's source — from
``if self.multi_objective_aggregation == "sum_then_normalize":`` through
``advantages = torch.nan_to_num(advantages, nan=0.0)`` — and executes them unchanged, with
TRL's own ``nanstd`` (trl/trainer/utils.py) and a stand-in ``self`` that carries only the
attributes those lines read (scale_rewards, multi_objective_aggregation, reward_weights). If a
TRL release moves or rewrites those lines, the extraction fails loudly instead of testing a
stale copy.
"""

import inspect
import textwrap
import warnings

import numpy as np
import pytest

import hadw
import hadw.trl
from conftest import peer

torch = peer("torch")
trl = peer("trl")
grpo_trainer = peer("trl.trainer.grpo_trainer")
trl_utils = peer("trl.trainer.utils")

F32_EPS = float(np.finfo(np.float32).eps)

BEGIN = 'if self.multi_objective_aggregation == "sum_then_normalize":'
END = "advantages = torch.nan_to_num(advantages, nan=0.0)"


def trl_advantage_lines():
    source = inspect.getsource(grpo_trainer.GRPOTrainer._generate_and_score_completions)
    begin, end = source.find(BEGIN), source.find(END)
    assert begin >= 0 and end > begin, (
        f"TRL {trl.__version__}: the advantage lines of GRPOTrainer moved; update this test")
    start = source.rfind("\n", 0, begin) + 1
    return textwrap.dedent(source[start:end + len(END)])


TRL_CODE = compile(trl_advantage_lines(), "<trl GRPOTrainer advantage lines>", "exec")


class _TrainerStandIn:
    multi_objective_aggregation = "sum_then_normalize"

    def __init__(self, scale_rewards):
        self.scale_rewards = scale_rewards
        self.reward_weights = torch.ones(1)


def trl_advantages(rewards, num_generations, scale_rewards):
    """Runs TRL's own lines on one reward function's outputs (NaN = unscorable)."""
    rewards_per_func = torch.as_tensor(rewards, dtype=torch.float32)[:, None].clone()
    scope = {
        "self": _TrainerStandIn(scale_rewards),
        "torch": torch,
        "nanstd": trl_utils.nanstd,
        "rewards_per_func": rewards_per_func,
        "unscorable_mask": torch.isnan(rewards_per_func).all(dim=1),
        "num_generations": num_generations,
        "device": "cpu",
    }
    exec(TRL_CODE, scope)
    return scope["advantages"]


def conditioning(rewards, G, scale_rewards):
    """max|r| / s per response (s: the divisor), the float32 error amplification; see
    test_peer_verl.assert_f32_close."""
    r = np.asarray(rewards, dtype=np.float64).reshape(-1, G)
    big = np.nanmax(np.abs(r), axis=1, initial=0.0)
    if scale_rewards == "group":
        with warnings.catch_warnings():  # groups with < 2 scorable rewards: nan, then 0
            warnings.simplefilter("ignore", RuntimeWarning)
            s = np.nan_to_num(np.nanstd(r, axis=1, ddof=1), nan=0.0) + 1e-4
    elif scale_rewards == "batch":
        with warnings.catch_warnings():  # a batch of one scorable reward: nan, then eps
            warnings.simplefilter("ignore", RuntimeWarning)
            s = np.full(len(r), np.nan_to_num(np.nanstd(r, ddof=1), nan=0.0) + 1e-4)
    else:
        s = np.ones(len(r))
    return np.repeat(big / s, G)


def assert_f32_close(ours, theirs, cond, ulps=16):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape and np.all(np.isfinite(theirs))
    bound = ulps * F32_EPS * (np.maximum(1.0, np.abs(theirs)) + cond)
    worst = float((np.abs(ours - theirs) / bound).max(initial=0.0))
    assert worst <= 1.0, f"max error {worst:.2f} x the float32 bound"


def batch(rng, B, G, kind, lone=True):
    n = B * G
    if kind == "binary":
        r = (rng.random(n) < rng.random(B).repeat(G)).astype(np.float32)
    elif kind == "uniform":
        r = rng.random(n).astype(np.float32)
    elif kind == "levels":
        r = (rng.integers(0, 3, n) / 2).astype(np.float32)
    elif kind == "all_equal":
        r = np.repeat(np.array([0.0, 1.0, 0.5, 2.0], np.float32)[np.arange(B) % 4], G)
    elif kind == "unscorable":  # some completions no reward function scored (NaN)
        r = rng.random(n).astype(np.float32)
        r[rng.random(n) < 0.25] = np.nan
        r[:G] = np.nan  # a whole group unscorable
        if lone:
            r[G:2 * G - 1] = np.nan  # a group left with a single scorable completion
        else:  # every group keeps at least two scorable completions
            r.reshape(B, G)[1:, :2] = rng.random((B - 1, 2))
    else:
        raise ValueError(kind)
    return r


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("kind", ["binary", "uniform", "levels", "all_equal", "unscorable"])
@pytest.mark.parametrize("G", [2, 4, 8, 16])
def test_grpo_advantages_match_trl(rng, scale_rewards, kind, G):
    # Every kind 'unscorable' batch has a group left with one scorable completion; under
    # scale_rewards='batch' TRL counts its reward in the batch std (singleton_rule::keep).
    rewards = batch(rng, 32, G, kind, lone=True)
    theirs = trl_advantages(rewards, G, scale_rewards)
    ours, stats = hadw.trl.grpo_advantages(torch.from_numpy(rewards), G, scale_rewards)
    assert stats is None and ours.dtype == torch.float32
    assert_f32_close(ours, theirs, conditioning(rewards, G, scale_rewards))


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("B,G", [(8, 1), (1, 1), (1, 4)])
def test_evaluation_batches_match_trl(rng, scale_rewards, B, G):
    # num_generations_eval = 1 (G = 1), a single completion (N = 1), and a one-prompt batch with
    # one scorable completion left: TRL returns finite advantages (0 for a lone completion), so
    # an evaluation step must not raise (it raised hadw.Error under 'batch').
    rewards = rng.random(B * G).astype(np.float32)
    if G > 1:
        rewards[1:] = np.nan
    theirs = trl_advantages(rewards, G, scale_rewards)
    assert torch.all(theirs == 0)
    ours = hadw.estimate({"group": "grpo", "batch": "grpo_batch_std", "none": "dr_grpo"}[
        scale_rewards], rewards, group_size=G, compat="trl", nan="unscorable")
    assert_f32_close(ours, theirs, conditioning(rewards, G, scale_rewards))


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_compat_trl_preset_matches_trl_through_estimate(rng, scale_rewards):
    # The public estimate() with compat='trl' and TRL's NaN convention, no helper in between.
    name = {"group": "grpo", "batch": "grpo_batch_std", "none": "dr_grpo"}[scale_rewards]
    rewards = batch(rng, 16, 8, "unscorable", lone=True)
    theirs = trl_advantages(rewards, 8, scale_rewards)
    ours = hadw.estimate(name, rewards, group_size=8, compat="trl", nan="unscorable")
    assert_f32_close(ours, theirs, conditioning(rewards, 8, scale_rewards))


def test_hadw_on_top_of_trl_is_trl_times_phi(rng):
    G = 8
    rewards = batch(rng, 32, G, "binary")
    base = trl_advantages(rewards, G, "group").numpy().astype(np.float64)
    anchor = hadw.DifficultyAnchor("window_mean", window=4, initial_belief=0.4)
    ours, stats = hadw.trl.grpo_advantages(rewards, G, "group", anchor=anchor, lambda_scale=1.4)
    p_hat = rewards.astype(np.float64).reshape(-1, G).mean(axis=1).repeat(G)
    diff = p_hat - 0.4
    expected = base * 1.4 * np.exp(-np.sign(base) * np.sign(diff) * np.abs(diff))
    assert_f32_close(ours, expected, 1.4 * np.e * conditioning(rewards, G, "group"))
    assert stats["hadw/prior"] == 0.4
    assert anchor.history == [pytest.approx(float(rewards.mean()))]

"""hadw::policy_loss (C++ only: include/hadw/objectives) against the installed peers' own policy
losses run under torch autograd on the same inputs: verl's compute_policy_loss_vanilla /
compute_policy_loss_gspo / agg_loss / kl_penalty (verl/trainer/ppo/core_algos.py) and TRL's
GRPOTrainer._compute_loss.

The objectives are not bound in Python, so, as test_api.py::test_python_equals_cpp does, the
test compiles a small driver (cpp_objectives.cpp) with the system C++ compiler, feeds it the
batches as hex floats and reads back the loss, the gradient d loss / d logp and the diagnostics.

TRL's _compute_loss needs a model only for the log-probabilities: it runs unchanged with a
stand-in ``self`` whose _get_per_token_logps_and_entropies returns the test's leaf tensor and
which carries the attributes the loss lines read (loss_type, epsilons, no KL term, no entropy
mask, no vLLM, one process, no gradient accumulation).

Away from the bounds losses and gradients agree to 3e-13 in double. Exactly on a bound torch's
rules hold (docs/objectives.md): torch.clamp passes no gradient on its bounds and ties of
torch.maximum / torch.minimum split it evenly; in float32 the decisions are taken on float32
values. The docs' statements about verl 0.9.1 (an all-masked batch, seq-mean-token-sum-norm,
GSPO's aggregation) are each checked against the installed verl here.
"""

import math
import os
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import peer

torch = peer("torch")
core_algos = peer("verl.trainer.ppo.core_algos")
verl_config = peer("verl.workers.config")
grpo_trainer = peer("trl.trainer.grpo_trainer")

REPO = Path(__file__).resolve().parents[2]
TOL = 3e-13  # double: |hadw - peer| <= TOL * max(1, |peer|)
F32_EPS = float(np.finfo(np.float32).eps)
VERL_MODES = ["token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean",
              "seq-mean-token-sum-norm"]
DTYPES = {"f64": (np.float64, torch.float64), "f32": (np.float32, torch.float32)}


# ------------------------------------------------------------------------------------------
# The C++ driver


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        if os.environ.get("HADW_REQUIRE_PEERS") == "1":
            pytest.fail("a C++20 compiler is needed to run hadw::policy_loss")
        pytest.skip("no C++ compiler")
    exe = tmp_path_factory.mktemp("objectives") / "cpp_objectives"
    subprocess.run([cxx, "-std=c++20", "-O2", f"-I{REPO / 'include'}",
                    str(Path(__file__).with_name("cpp_objectives.cpp")), "-o", str(exe)],
                   check=True)
    return exe


@dataclass
class Case:
    """One batch: [N, L] log-probabilities, per-response (N) or per-token (N, L) advantages."""
    name: str
    level: str  # "token" (GRPO/DAPO) or "sequence" (GSPO)
    dtype: str  # "f64" or "f32"
    logp: np.ndarray
    old: np.ndarray
    adv: np.ndarray
    mask: np.ndarray  # bool [N, L]
    low: float = 0.2
    high: float = 0.2
    c: float = 0.0  # dual-clip constant, 0: off
    mode: str = "token-mean"
    C: float = 0.0  # seq-mean-token-sum-norm's constant
    hadw: dict = field(default_factory=dict)

    def __post_init__(self):
        np_t = DTYPES[self.dtype][0]
        self.logp, self.old, self.adv = (np.asarray(a, dtype=np_t) for a in
                                         (self.logp, self.old, self.adv))
        self.mask = np.asarray(self.mask, dtype=bool)

    def adv_tokens(self):
        if self.adv.ndim == 2:
            return self.adv
        return np.repeat(self.adv[:, None], self.logp.shape[1], 1)


def _hex(a):
    return " ".join(float(x).hex() for x in np.asarray(a).ravel())


def run_hadw(driver, cases):
    """Runs every case through hadw::policy_loss; fills case.hadw (loss, grad, stats)."""
    parts = [str(len(cases))]
    for c in cases:
        N, L = c.logp.shape
        parts.append(" ".join([c.name, c.level, c.dtype, float(c.low).hex(), float(c.high).hex(),
                               float(c.c).hex(), c.mode, float(c.C).hex(), str(N), str(L),
                               str(int(c.adv.ndim == 2))]))
        parts += [_hex(c.logp), _hex(c.old), _hex(c.adv),
                  " ".join(str(int(m)) for m in c.mask.ravel())]
    out = subprocess.run([str(driver)], input="\n".join(parts), capture_output=True, text=True,
                         check=True).stdout.splitlines()
    by_name = {c.name: c for c in cases}
    for line in out:
        name, what, *vals = line.split()
        c = by_name[name]
        if what == "loss":
            c.hadw["loss"] = float.fromhex(vals[0])
        elif what == "grad":
            c.hadw["grad"] = np.array([float.fromhex(v) for v in vals]).reshape(c.logp.shape)
        else:
            keys = ["clip", "dual", "k1", "k3", "ratio_min", "ratio_max"]
            c.hadw.update({k: float.fromhex(v) for k, v in zip(keys, vals)})
            c.hadw["tokens"], c.hadw["sequences"] = int(vals[6]), int(vals[7])
    return cases


# ------------------------------------------------------------------------------------------
# The peers, under torch autograd


def verl_policy_loss(case, loss_agg_mode=None):
    """verl's own compute_policy_loss_vanilla (token) or _gspo (sequence) on the case, in the
    case's dtype; returns (loss, d loss / d logp, metrics)."""
    t = DTYPES[case.dtype][1]
    lp = torch.tensor(case.logp, dtype=t, requires_grad=True)
    cfg = verl_config.ActorConfig(
        strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, clip_ratio=case.low,
        clip_ratio_low=case.low, clip_ratio_high=case.high, clip_ratio_c=case.c or 3.0,
        global_batch_info={"loss_scale_factor": case.C} if case.C else {})
    fn = (core_algos.compute_policy_loss_vanilla if case.level == "token"
          else core_algos.compute_policy_loss_gspo)
    loss, metrics = fn(old_log_prob=torch.tensor(case.old, dtype=t), log_prob=lp,
                       advantages=torch.tensor(case.adv_tokens(), dtype=t),
                       response_mask=torch.tensor(case.mask),  # verl's actor passes a bool mask
                       loss_agg_mode=loss_agg_mode or case.mode, config=cfg)
    loss.backward()
    return loss.detach().item(), lp.grad.to(torch.float64).numpy(), metrics


class _TRLStandIn:
    """What GRPOTrainer._compute_loss reads from self, for the plain clipped loss: no KL term
    (beta 0), no entropy mask or bonus, no off-policy mask, no vLLM, one process, no gradient
    accumulation (then "dapo"'s normaliser is num_items_in_batch, the batch's token count)."""

    def __init__(self, loss_type, level, eps_low, eps_high, logps, max_completion_length):
        self.loss_type = loss_type
        self.importance_sampling_level = level
        self.epsilon_low, self.epsilon_high = eps_low, eps_high
        self.max_completion_length = max_completion_length
        self.beta = 0.0
        self.top_entropy_quantile = 1.0
        self.off_policy_mask_threshold = None
        self.use_vllm = False
        self.aux_loss_enabled = False
        self._entropy_bonus_enabled = False
        self.current_gradient_accumulation_steps = 1
        self.model = SimpleNamespace(training=True)
        self.args = SimpleNamespace(delta=None, steps_per_generation=1)
        self.accelerator = SimpleNamespace(num_processes=1, sync_gradients=True,
                                           gather=lambda x: x, gather_for_metrics=lambda x: x,
                                           reduce=lambda x, reduction: x)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._logps = logps

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        return self._logps, torch.zeros_like(self._logps), None


def trl_policy_loss(case, loss_type):
    """TRL's own GRPOTrainer._compute_loss on the case (per-response advantages, as TRL's)."""
    t = DTYPES[case.dtype][1]
    N, L = case.logp.shape
    lp = torch.tensor(case.logp, dtype=t, requires_grad=True)
    level = "token" if case.level == "token" else "sequence"
    mask = torch.tensor(case.mask.astype(np.int64))
    inputs = {
        "prompt_ids": torch.zeros(N, 1, dtype=torch.long),
        "prompt_mask": torch.ones(N, 1, dtype=torch.long),
        "completion_ids": torch.zeros(N, L, dtype=torch.long),
        "completion_mask": mask,
        "advantages": torch.tensor(case.adv, dtype=t),
        "old_per_token_logps": torch.tensor(case.old, dtype=t),
        "num_items_in_batch": mask.sum(),
    }
    self = _TRLStandIn(loss_type, level, case.low, case.high, lp, case.C)
    loss = grpo_trainer.GRPOTrainer._compute_loss(self, None, inputs)
    loss.backward()
    return loss.detach().item(), lp.grad.to(torch.float64).numpy()


# ------------------------------------------------------------------------------------------
# Comparisons


def close(ours, theirs, tol=TOL, what=""):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    err = np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))
    assert float(err.max(initial=0.0)) <= tol, f"{what}: max error {err.max():.3g} > {tol:.3g}"


def check_against_verl(case, verl):
    loss, grad, metrics = verl
    h = case.hadw
    close(h["loss"], loss, what=f"{case.name} loss")
    close(h["grad"], grad, what=f"{case.name} grad")
    # With a bool mask verl's masked_mean adds its 1e-8 to an int64 count in float32, where it
    # vanishes: exact means. pg_clipfrac is a float32 mean.
    assert h["clip"] == pytest.approx(metrics["actor/pg_clipfrac"], rel=1e-6, abs=1e-7)
    assert h["dual"] == pytest.approx(metrics["actor/pg_clipfrac_lower"], rel=1e-6, abs=1e-7)
    assert h["k1"] == pytest.approx(metrics["actor/ppo_kl"], rel=1e-13, abs=1e-15)


# ------------------------------------------------------------------------------------------
# Random batches


def token_case(rng, name, dtype="f64", N=7, L=11, per_token=False, empty_row=True, **kw):
    old = rng.uniform(-4.0, -0.05, (N, L))
    d = rng.uniform(-0.5, 1.4, (N, L))  # ratios across 1 - 0.2, 1 + 0.28 and dual-clip's 3
    lengths = rng.integers(1, L + 1, N)
    lengths[0] = L
    mask = np.arange(L)[None, :] < lengths[:, None]
    mask &= rng.random((N, L)) > 0.1  # holes as well as right padding
    mask[:, 0] = True  # every row a sequence, but for the empty one below
    if empty_row:
        mask[-1] = False  # a fully masked row: not a sequence
    adv = rng.uniform(-2, 2, (N, L) if per_token else N)
    return Case(name, "token", dtype, old + d, old, adv, mask, **kw)


def sequence_case(rng, name, dtype="f64", N=7, L=11, per_token=False, empty_row=True, **kw):
    old = rng.uniform(-4.0, -0.05, (N, L))
    # Row means spread across GSPO's tight bounds 1 - 3e-4, 1 + 4e-4.
    d = rng.uniform(-1.5e-3, 1.5e-3, (N, 1)) + rng.normal(0, 0.05, (N, L))
    mask = np.arange(L)[None, :] < rng.integers(1, L + 1, N)[:, None]
    if empty_row:
        mask[-1] = False
    adv = rng.uniform(-2, 2, (N, L) if per_token else N)
    kw = {"low": 3e-4, "high": 4e-4, **kw}
    return Case(name, "sequence", dtype, old + d, old, adv, mask, **kw)


@pytest.mark.parametrize("mode", VERL_MODES)
def test_random_batches_match_verl_in_double(driver, rng, mode):
    """GRPO/DAPO (dual-clip 3, verl's default) and GSPO against verl's own losses."""
    cases = []
    for k in range(4):
        per_token = k % 2 == 1
        high = 0.28 if k >= 2 else 0.2
        cases.append(token_case(rng, f"tok{k}", per_token=per_token, high=high, c=3.0,
                                mode=mode, C=16.0))
        cases.append(sequence_case(rng, f"seq{k}", per_token=per_token, mode=mode, C=16.0))
    for c in run_hadw(driver, cases):
        check_against_verl(c, verl_policy_loss(c))
        assert c.hadw["tokens"] == c.mask.sum()


# TRL's loss types and the hadw aggregation each one is.
TRL_MODES = {"grpo": "seq-mean-token-mean", "bnpo": "token-mean", "dapo": "token-mean",
             "dr_grpo": "seq-mean-token-sum-norm"}


@pytest.mark.parametrize("loss_type", sorted(TRL_MODES))
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_random_batches_match_trl_in_double(driver, rng, loss_type, level):
    """TRL has no dual-clip and no log-ratio clamps, and differentiates GSPO's s_i itself: with
    per-response advantages that is hadw's gradient (docs/objectives.md)."""
    make = token_case if level == "token" else sequence_case
    cases = [make(rng, f"{level}{k}", empty_row=False, mode=TRL_MODES[loss_type], C=11.0,
                  **({"high": 0.28} if level == "token" and k else {})) for k in range(3)]
    for c in run_hadw(driver, cases):
        loss, grad = trl_policy_loss(c, loss_type)
        close(c.hadw["loss"], loss, what=f"{c.name} loss")
        close(c.hadw["grad"], grad, what=f"{c.name} grad")


def test_float32_batches_are_verl_run_in_float64(driver, rng):
    """float inputs: hadw computes in double, so its loss is verl's on the same values in
    float64 and its gradient is that one rounded to float32."""
    cases = [token_case(rng, "tok", dtype="f32", c=3.0, mode="token-mean"),
             sequence_case(rng, "seq", dtype="f32", mode="seq-mean-token-sum-norm", C=16.0)]
    for c in run_hadw(driver, cases):
        as_double = Case(c.name, c.level, "f64", c.logp, c.old, c.adv, c.mask, c.low, c.high,
                         c.c, c.mode, c.C)
        loss, grad, _ = verl_policy_loss(as_double)
        close(c.hadw["loss"], loss, what=f"{c.name} loss")
        assert np.all(np.abs(c.hadw["grad"] - grad) <= 0.5 * F32_EPS * np.abs(grad) + 1e-300)


def test_k3_is_verl_low_var_kl_clamped(driver, rng):
    """approx_kl_k3 is the mean of verl's kl_penalty(old_logp, logp, "low_var_kl") per token
    (k3 of KL(pi_old || pi_theta), sampled from pi_old), its [-10, 10] clamp included."""
    case = token_case(rng, "k3", c=3.0)
    d = rng.choice([-25.0, -15.0, -2.0, 0.3, 3.0, 12.0, 21.0], case.logp.shape)
    case.logp = case.old + d  # log-ratios past both of verl's clamps (k3 at 10, log r at 20)
    run_hadw(driver, [case])
    per_token = core_algos.kl_penalty(torch.tensor(case.old), torch.tensor(case.logp),
                                      "low_var_kl").numpy()
    assert per_token.max() == 10.0
    expected = per_token[case.mask].sum() / case.mask.sum()
    assert case.hadw["k3"] == pytest.approx(expected, rel=1e-14)


# ------------------------------------------------------------------------------------------
# Exactly on the bounds


def log_onto(target, exp):
    """A double x near log(target) with exp(x) == target exactly, for both `exp` and libm (what
    hadw calls)."""
    x = math.log(target)
    for _ in range(200):
        if exp(x) == target and math.exp(x) == target:
            return x
        x = math.nextafter(x, 1.0 if min(exp(x), math.exp(x)) < target else -1.0)
    pytest.fail(f"no double x with exp(x) == {target}")


def torch_exp(dtype):
    return lambda x: float(torch.exp(torch.tensor(x, dtype=dtype)))


def f32_onto(target):
    """A float32 log-probability whose ratio (old = 0) is float32(target) in torch's float32 exp
    and in hadw (libm exp in double, rounded to float32), but not `target` in double."""
    f = np.float32(target)
    x = np.float32(math.log(target))
    for _ in range(200):
        in_double = math.exp(float(x))
        t = torch.exp(torch.tensor(x, dtype=torch.float32)).item()
        if np.float32(t) == f and np.float32(in_double) == f and in_double != target:
            return x
        x = np.nextafter(x, np.float32(1.0 if t < f else -1.0))
    pytest.fail(f"no float32 x with exp(x) == float32({target})")


def agreeing_ratio(dtype, target):
    """(x, r): a log-probability near log(target) whose ratio r (old = 0) torch and hadw compute
    alike in `dtype` (r is then a dual-clip constant the ratio sits exactly on)."""
    if dtype == "f64":
        x = math.log(target)
        while math.exp(x) != torch_exp(torch.float64)(x):
            x = math.nextafter(x, 2.0)
        return x, math.exp(x)
    x = np.float32(math.log(target))
    while np.float32(math.exp(float(x))) != torch.exp(torch.tensor(x)).item():
        x = np.nextafter(x, np.float32(2.0))
    return float(x), float(np.float32(math.exp(float(x))))


def bound_cases(dtype):
    """One [1, 5] token batch and one [1, 3] GSPO batch whose ratios sit exactly on each bound."""
    if dtype == "f64":
        up, down = (log_onto(v, torch_exp(torch.float64)) for v in (1.2, 0.8))
    else:
        up, down = (float(f32_onto(v)) for v in (1.2, 0.8))
    dual, c = agreeing_ratio(dtype, 3.0)
    # Tokens: r on 1 + 0.2 (A > 0), r on 1 - 0.2 (A < 0, per-token advantages), log-ratio +20
    # (A < 0: unclipped), -20 (A > 0: unclipped), r on dual-clip's c ~ 3 (A < 0).
    logp = [[up, down, 20.0, -25.0, dual]]
    old = [[0.0, 0.0, 0.0, -5.0, 0.0]]
    adv = [[1.0, -1.5, -0.5, 2.0, -1.0]]
    token = Case(f"bounds_tok_{dtype}", "token", dtype, logp, old, adv, np.ones((1, 5)), c=c)
    # GSPO: three tokens of log-ratio 10 each (exact in both precisions): log s_i == 10.
    seq = Case(f"bounds_seq_{dtype}", "sequence", dtype, [[-0.5, -1.0, -2.0]],
               [[-10.5, -11.0, -12.0]], [-1.0], np.ones((1, 3)), low=3e-4, high=4e-4)
    return token, seq


def test_torch_clamp_passes_no_gradient_on_its_bounds():
    """The rule docs/objectives.md states and hadw follows, checked on the installed torch."""
    for t in (torch.float64, torch.float32):
        x = torch.tensor([0.8, 0.9, 1.2, 1.3, -20.0, 20.0, 10.0], dtype=t, requires_grad=True)
        (torch.clamp(x[:4], 0.8, 1.2).sum() + torch.clamp(x[4:6], -20.0, 20.0).sum()
         + torch.clamp(x[6:], max=10.0).sum()).backward()
        assert x.grad.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        a = torch.tensor([1.5], dtype=t, requires_grad=True)
        b = torch.tensor([1.5], dtype=t, requires_grad=True)
        torch.maximum(a, b).backward()
        assert (a.grad.item(), b.grad.item()) == (0.5, 0.5)


def test_on_the_bounds_hadw_has_verl_gradient_in_double(driver):
    token, seq = run_hadw(driver, list(bound_cases("f64")))
    loss, grad, metrics = verl_policy_loss(token)
    # verl itself: -0.6 at r = 1.2 with A = 1 (token-mean over 5 tokens: / 5), 0 at +-20.
    assert grad[0, 0] == pytest.approx(-0.6 / 5, rel=1e-15)
    assert grad[0, 2] == 0.0 and grad[0, 3] == 0.0
    assert grad[0, 4] == pytest.approx(0.5 * token.c / 5, rel=1e-15)  # dual-clip tie: half
    check_against_verl(token, (loss, grad, metrics))
    loss, grad, metrics = verl_policy_loss(seq)
    assert np.all(grad == 0.0)  # log s exactly 10
    check_against_verl(seq, (loss, grad, metrics))


def test_on_the_bounds_hadw_has_trl_gradient_in_double(driver):
    """TRL has the same clip and tie rule (it has no log-ratio clamps: only the clip tokens)."""
    up, down = (log_onto(v, torch_exp(torch.float64)) for v in (1.2, 0.8))
    case = Case("trl_bounds", "token", "f64", [[up, 0.1], [down, -0.1]], np.zeros((2, 2)),
                [1.0, -1.0], np.ones((2, 2)), mode="token-mean")
    run_hadw(driver, [case])
    loss, grad = trl_policy_loss(case, "bnpo")
    assert grad[0, 0] == pytest.approx(-0.6 / 4, rel=1e-15)
    close(case.hadw["loss"], loss, what="loss")
    close(case.hadw["grad"], grad, what="grad")


def test_on_the_bounds_in_float32_decisions_are_taken_in_float32(driver):
    """A float32 ratio that rounds onto 1.2f is on the bound in verl's float32 run (half the
    gradient) although it is not 1.2 in double; a float32 log-ratio of exactly 20 and a float32
    GSPO log s of exactly 10 pass no gradient."""
    token, seq = run_hadw(driver, list(bound_cases("f32")))
    for case in (token, seq):
        loss, grad, metrics = verl_policy_loss(case)
        # Same branches as verl's float32 run; the values differ by float32 rounding only.
        assert np.array_equal(case.hadw["grad"] == 0.0, grad == 0.0), case.name
        assert np.all(np.abs(case.hadw["grad"] - grad) <= 4 * F32_EPS * np.abs(grad)), case.name
        assert case.hadw["loss"] == pytest.approx(loss, rel=4 * F32_EPS)
        assert case.hadw["clip"] == pytest.approx(metrics["actor/pg_clipfrac"], abs=1e-7)
    assert grad.tolist() == [[0.0, 0.0, 0.0]]


# ------------------------------------------------------------------------------------------
# What docs/objectives.md says about verl 0.9.1


def test_all_masked_batch_is_nan_in_verl_and_zero_in_hadw_and_trl(driver, rng):
    """verl 0.9.1 divides 0 by 0 (NaN loss, zero gradient) in every mode but token-sum; TRL
    clamps its denominators at 1 and gives 0; hadw keeps 0 (a finite loss and gradient)."""
    base = token_case(rng, "masked", N=3, L=4, c=3.0)
    cases = [Case(f"masked_{m}", "token", "f64", base.logp, base.old, base.adv,
                  np.zeros((3, 4)), c=3.0, mode=m, C=4.0) for m in VERL_MODES]
    for c in run_hadw(driver, cases):
        loss, grad, _ = verl_policy_loss(c)
        assert (loss == 0.0) if c.mode == "token-sum" else math.isnan(loss), c.mode
        assert np.all(grad == 0.0)
        assert c.hadw["loss"] == 0.0 and np.all(c.hadw["grad"] == 0.0)
    for loss_type in TRL_MODES:
        assert trl_policy_loss(Case("m", "token", "f64", base.logp, base.old, base.adv,
                                    np.zeros((3, 4)), C=4.0), loss_type)[0] == 0.0
    # With the global batch's counts (a data-parallel rank whose slice is all masked): 0 / T.
    loss_mat, no_token = torch.ones(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.bool)
    for m in VERL_MODES:
        assert float(core_algos.agg_loss(loss_mat, no_token, m, batch_num_tokens=7,
                                         global_batch_size=3)) == 0.0, m


def test_verl_seq_mean_token_sum_norm_divides_by_the_sequence_count(driver, rng):
    """verl 0.9.1's agg_loss: (1/S) sum_i sum_t l / C (not sum l / C), as hadw."""
    loss_mat = torch.tensor(rng.normal(size=(5, 6)))
    mask = torch.tensor(rng.random((5, 6)) < 0.7)
    mask[-1] = False
    S = int((mask.sum(-1) > 0).sum())
    total = float((loss_mat * mask).sum())
    got = float(core_algos.agg_loss(loss_mat, mask, "seq-mean-token-sum-norm",
                                    loss_scale_factor=9))
    assert S == 4
    assert got == pytest.approx(total / S / 9, rel=1e-14)
    case = token_case(rng, "norm", c=3.0, mode="seq-mean-token-sum-norm", C=9.0)
    run_hadw(driver, [case])
    check_against_verl(case, verl_policy_loss(case))


def test_verl_gspo_aggregates_with_the_callers_mode(driver, rng):
    """verl 0.9.1's compute_policy_loss_gspo uses loss_agg_mode as given (its actor passes
    actor.loss_agg_mode, token-mean by default); it does not force seq-mean-token-mean."""
    cases = [sequence_case(rng, f"gspo_{m}", mode=m) for m in ("token-mean", "seq-mean-token-mean")]
    cases[1].logp, cases[1].old, cases[1].adv, cases[1].mask = (
        cases[0].logp, cases[0].old, cases[0].adv, cases[0].mask)
    run_hadw(driver, cases)
    token_mean = verl_policy_loss(cases[0])
    seq_mean = verl_policy_loss(cases[1])
    assert abs(token_mean[0] - seq_mean[0]) > 1e-6  # rows of unequal lengths: the modes differ
    check_against_verl(cases[0], token_mean)
    check_against_verl(cases[1], seq_mean)


def test_verl_row_means_are_exact_with_the_bool_mask_its_actor_passes(rng):
    """verl 0.9.1's seq-mean-token-mean divides by n_i + 1e-8; with a bool mask the count is an
    int64 tensor and the sum is float32, where the 1e-8 vanishes (hadw and TRL: n_i)."""
    loss_mat = torch.tensor(rng.normal(size=(4, 5)))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]],
                        dtype=torch.bool)
    n = mask.sum(-1).double()
    rows = (loss_mat * mask).sum(-1)
    exact = float((rows / n).mean())
    bool_mask = float(core_algos.agg_loss(loss_mat, mask, "seq-mean-token-mean"))
    float_mask = float(core_algos.agg_loss(loss_mat, mask.double(), "seq-mean-token-mean"))
    assert bool_mask == pytest.approx(exact, rel=1e-15)
    assert float_mask == pytest.approx(float((rows / (n + 1e-8)).mean()), rel=1e-15)
    assert float_mask != pytest.approx(exact, rel=1e-12)


def test_trl_averages_over_every_row_hadw_and_verl_over_non_empty_ones(driver, rng):
    """TRL's "grpo" and "dr_grpo" losses divide by N (fully masked rows included), hadw and verl
    by S, the non-empty rows: with one empty row of N, TRL's loss is hadw's times S / N."""
    cases = [token_case(rng, "grpo", mode="seq-mean-token-mean"),
             token_case(rng, "dr_grpo", mode="seq-mean-token-sum-norm", C=11.0)]
    for c in run_hadw(driver, cases):
        N, S = c.mask.shape[0], c.hadw["sequences"]
        assert S == N - 1
        loss, grad = trl_policy_loss(c, c.name)
        close(c.hadw["loss"] * S / N, loss, what=c.name)
        close(c.hadw["grad"] * S / N, grad, what=c.name)

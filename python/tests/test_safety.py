"""Safety of the Python binding: threads sharing one anchor, the belief check of load_state_dict,
arrays nanobind cannot view named by argument, sizes that must be integers, L = 0, and outputs
that overlap inputs (NumPy and torch)."""

import pickle
import threading

import numpy as np
import pytest

import hadw
from conftest import peer, random_batch

G = 16


def serial_states(step, r, k):
    """The anchor's saved bytes after 0..k steps on the batch r, one step after the other."""
    anchor = hadw.DifficultyAnchor()
    states = [anchor.save()]
    for _ in range(k):
        step(r, anchor, group_size=G)
        states.append(anchor.save())
    return states


def run_threads(targets):
    errors = []

    def guarded(fn):
        def body():
            try:
                fn()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
        return body

    threads = [threading.Thread(target=guarded(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_threads_stepping_one_anchor_lose_no_update(rng):
    """N threads x M steps on one anchor, every step on the same batch (so the anchor's state
    after k steps does not depend on their order): the state equals k = N x M steps in series,
    bit for bit. Half the threads call the fused step, half estimate then hadw.reweight."""
    N, M = 4, 60
    r = random_batch(rng, 512, G, "binary").astype(np.float64)
    step = hadw.Step("grpo", timing="posterior")
    expected = serial_states(step, r, N * M)[-1]
    anchor = hadw.DifficultyAnchor()

    def fused():
        out = np.empty_like(r)
        for _ in range(M):
            step(r, anchor, group_size=G, out=out)

    def staged():
        adv = np.empty_like(r)
        for _ in range(M):
            hadw.estimate("grpo", r, group_size=G, out=adv)
            hadw.reweight(adv, r, anchor, group_size=G, timing="posterior")

    run_threads([fused, staged] * (N // 2))
    assert anchor.step == N * M
    assert anchor.save() == expected
    assert anchor == hadw.DifficultyAnchor.load(expected)


def test_checkpoints_saved_during_steps_are_whole_states(rng):
    """One thread steps the anchor; others save it (save, state_dict, pickle), compare it, read
    its properties and reload its own state into it, all at once. Every state any of them sees
    is the state after some number of steps in series (nothing torn), and the run ends in one."""
    M = 150
    r = random_batch(rng, 512, G, "binary").astype(np.float64)
    step = hadw.Step("grpo")
    states = serial_states(step, r, M)
    known = set(states)
    anchor = hadw.DifficultyAnchor()
    done = threading.Event()
    seen = []

    def stepper():
        try:
            out = np.empty_like(r)
            for _ in range(M):
                step(r, anchor, group_size=G, out=out)
        finally:
            done.set()

    def saver():
        while not done.is_set():
            seen.append(anchor.save())
            seen.append(anchor.state_dict()["hadw_anchor"])
            seen.append(pickle.loads(pickle.dumps(anchor)).save())
            assert anchor == anchor
            assert 0 <= anchor.step <= M and len(anchor.history) <= 10
            assert repr(anchor).startswith("DifficultyAnchor(belief='kalman'")
            assert anchor.config["belief"] == anchor.belief == "kalman"

    def reloader():
        while not done.is_set():
            anchor.load_state_dict(anchor.state_dict())  # a whole state back: still one of them

    run_threads([stepper, saver, saver, reloader])
    assert seen and all(s in known for s in seen)
    assert anchor.save() in known


def test_load_state_dict_keeps_the_belief():
    kalman = hadw.DifficultyAnchor()
    window = hadw.DifficultyAnchor("window_mean", window=4)
    window.observe(0.3)
    before = kalman.save()
    with pytest.raises(hadw.Error, match="'window_mean' anchor cannot be loaded into this "
                                         "'kalman' anchor"):
        kalman.load_state_dict(window.state_dict())
    assert kalman.belief == "kalman" and kalman.save() == before
    with pytest.raises(hadw.Error, match="'kalman' anchor cannot be loaded into this 'fixed'"):
        hadw.DifficultyAnchor("fixed").load_state_dict(kalman.state_dict())
    other = hadw.DifficultyAnchor("window_mean", window=4)
    other.load_state_dict(window.state_dict())  # the same belief: restored
    assert other == window
    assert hadw.DifficultyAnchor.load(window.save()).belief == "window_mean"


def test_arrays_nanobind_cannot_view_are_named():
    r = np.array([1, 0, 0, 1, 1, 1, 0, 1], dtype=np.float64)
    anchor = hadw.DifficultyAnchor()
    swapped = r.astype(">f8")
    with pytest.raises(TypeError, match=r"rewards: native byte order required, got >f8"):
        hadw.estimate("grpo", swapped, group_size=4)
    with pytest.raises(TypeError, match=r"out: native byte order required"):
        hadw.estimate("grpo", r, group_size=4, out=np.zeros(8, ">f8"))
    with pytest.raises(TypeError, match=r"rewards: a numeric array required, got dtype object"):
        hadw.estimate_and_reweight("grpo", [1.0, 0.0, None, 1.0], anchor, group_size=4)
    with pytest.raises(TypeError, match=r"mask: a numeric array required, got dtype object"):
        hadw.estimate("grpo", r, group_size=4, mask=np.ones(8, dtype=object))
    with pytest.raises(TypeError, match=r"lengths: native byte order required"):
        hadw.estimate("opo", r, group_size=4, lengths=np.ones(8, ">i8"))
    with pytest.raises(TypeError, match=r"token_lengths: native byte order required"):
        hadw.estimate_reweight_broadcast("grpo", r, anchor, token_lengths=np.ones(8, ">i8"),
                                         L=3, group_size=4)
    with pytest.raises(TypeError, match=r"advantages: native byte order required"):
        hadw.reweight(np.zeros(8, ">f8"), r, anchor, group_size=4)
    with pytest.raises(TypeError, match=r"mask: a numeric array required, got dtype <U1"):
        hadw.broadcast_to_tokens(r, np.array([["a"]] * 8))
    ro = np.zeros((8, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="token_out: a writable array required"):
        hadw.estimate_reweight_broadcast("grpo", r, anchor, np.ones((8, 3), bool), token_out=ro,
                                         group_size=4)
    assert anchor.step == 0


def test_sizes_must_be_integers():
    r = np.array([1, 0, 0, 1, 1, 1, 0, 1, 0], dtype=np.float64)
    lengths = np.ones(9, np.int64)
    with pytest.raises(TypeError, match="L: an integer required, got 3.99"):
        hadw.broadcast_to_tokens(r, lengths=lengths, L=3.99)
    with pytest.raises(TypeError, match="group_size: an integer required, got 4.5"):
        hadw.estimate("grpo", np.zeros(9), group_size=4.5)  # 9 % 4.5 == 0: no truncation
    with pytest.raises(TypeError, match="warmup_steps: an integer required, got 1.5"):
        hadw.reweight(np.zeros(9), r, hadw.DifficultyAnchor(), group_size=3, warmup_steps=1.5)
    with pytest.raises(TypeError, match="warmup_steps: an integer required"):
        hadw.Step("grpo", warmup_steps=0.5)
    with pytest.raises(TypeError, match="offsets: integers required, got float64"):
        hadw.estimate("grpo", r, offsets=[0, 3.99, 9])
    # Integral floats are the integers they spell.
    assert hadw.broadcast_to_tokens(r, lengths=lengths, L=3.0).shape == (9, 3)
    np.testing.assert_array_equal(hadw.estimate("grpo", r, group_size=3.0),
                                  hadw.estimate("grpo", r, group_size=3))


def test_zero_tokens_per_row_is_refused_by_name():
    r = np.array([1.0, 0.0, 0.0, 1.0])
    for kwargs in ({"lengths": np.zeros(4, np.int64), "L": 0},
                   {"lengths": np.zeros(4, np.int64), "out": np.empty((4, 0))},
                   {"mask": np.zeros((4, 0), bool)}):
        with pytest.raises(hadw.Error, match=r"^L \(tokens per row\) >= 1 required, got 0"):
            hadw.broadcast_to_tokens(r, **kwargs)
    # An empty torch tensor has no data pointer: the fused call took that for "no token stage"
    # and returned [4, 0] after stepping the anchor.
    torch = peer("torch")
    anchor = hadw.DifficultyAnchor()
    for kwargs in ({"token_lengths": torch.zeros(4, dtype=torch.int64), "L": 0},
                   {"token_mask": torch.zeros(4, 0, dtype=torch.bool)}):
        with pytest.raises(hadw.Error, match=r"^L \(tokens per row\) >= 1 required, got 0"):
            hadw.estimate_reweight_broadcast("grpo", torch.tensor(r), anchor, group_size=2,
                                             **kwargs)
    assert anchor.step == 0


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_partially_overlapping_rewards_and_out_are_refused(lib):
    scores = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    ref = hadw.estimate("grpo", np.array(scores), group_size=4)
    if lib == "torch":
        torch = peer("torch")
        buf = torch.zeros(9, dtype=torch.float64)
        buf[:8] = torch.tensor(scores)
        as_np = lambda x: x.numpy()  # noqa: E731
    else:
        buf = np.zeros(9)
        buf[:8] = scores
        as_np = np.asarray
    anchor = hadw.DifficultyAnchor()
    for call in (lambda o: hadw.estimate("grpo", buf[0:8], group_size=4, out=o),
                 lambda o: hadw.estimate_and_reweight("grpo", buf[0:8], anchor, group_size=4,
                                                      out=o)):
        with pytest.raises(ValueError, match="out and rewards must not overlap"):
            call(buf[1:9])
        assert as_np(buf[:8]).tolist() == scores  # nothing written
    assert anchor.step == 0
    same = buf[0:8]  # the very same memory: an in-place estimate, allowed
    np.testing.assert_array_equal(as_np(hadw.estimate("grpo", same, group_size=4, out=same)),
                                  ref)

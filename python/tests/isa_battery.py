"""A battery of hadw calls whose every output byte is hashed: run once per build of the kernels
(HADW_ISA=...) by test_fused.py, which requires one digest from all. It prints
`<isa> <sha256>`.

The inputs reach every path the variants compile differently: the lockstep (uniform groups,
counts that leave a partial pack, sizes up to and past its 256 limit), one group at a time
(ragged, permuted, masked, NaN-unscorable), every estimator, float and double, the fused calls
with and without token stages, and a hundred anchor steps of each belief.
"""

import hashlib
import sys

import numpy as np

import hadw


#: The estimators compat 'verl' has a preset for.
_VERL_PRESETS = ("grpo", "dr_grpo", "rloo", "reinforce_pp_baseline", "opo", "gpg", "grpo_passk")


def main() -> None:
    h = hashlib.sha256()

    def add(*arrays):
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())

    def add_stats(stats):
        h.update(repr(sorted(stats.items())).encode())

    rng = np.random.default_rng(20261201)
    for dtype in (np.float32, np.float64):
        for groups, size in ((1, 2), (3, 4), (13, 8), (37, 16), (5, 64), (3, 256), (2, 300)):
            n = groups * size
            uniform = rng.random(n).astype(dtype)
            binary = (rng.random(n) < rng.random(groups).repeat(size)).astype(dtype)
            lengths = rng.integers(1, 400, n).astype(np.int64)
            for r in (uniform, binary):
                for name in hadw.ESTIMATORS:
                    add(hadw.estimate(name, r, group_size=size, lengths=lengths))
                    add(hadw.estimate(name, r, group_size=size, lengths=lengths, compat="verl")
                        if name in _VERL_PRESETS else r)
                anchor = hadw.DifficultyAnchor()
                adv, st = hadw.estimate_and_reweight("grpo", r, anchor, group_size=size)
                add(adv)
                add_stats(st)
                tok, st = hadw.estimate_reweight_broadcast(
                    "rloo", r, anchor, token_lengths=lengths % 7, L=7, group_size=size)
                add(tok)
                add_stats(st)
                mask = rng.random((n, 5)) < 0.7
                tok, st = hadw.estimate_reweight_broadcast("dr_grpo", r, anchor, mask,
                                                           group_size=size, lambda_scale=1.3,
                                                           timing="posterior")
                add(tok)
                add_stats(st)
                h.update(anchor.save())

    # Ragged, permuted, masked and unscorable groups.
    sizes = rng.integers(1, 40, 50)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    r = rng.random(n)
    r[rng.random(n) < 0.05] = np.nan
    ids = np.repeat(np.arange(50), sizes)
    perm = rng.permutation(n)
    keep = (rng.random(n) < 0.9).astype(np.uint8)
    for name in ("grpo", "rloo", "grpo_batch_std"):
        add(hadw.estimate(name, r, offsets=offsets, nan="unscorable", singleton="zero"))
        add(hadw.estimate(name, r[perm], index=ids[perm], nan="unscorable", mask=keep,
                          singleton="zero"))

    # A hundred steps of each belief, rewards drifting upwards.
    for belief in ("kalman", "window_mean", "fixed"):
        anchor = hadw.DifficultyAnchor(belief)
        step = hadw.Step("grpo", compat="trl", lambda_scale=1.5)
        for t in range(100):
            p = np.clip(rng.random(64) * (0.3 + t / 150), 0, 1).repeat(8)
            r = (rng.random(512) < p).astype(np.float32)
            adv, st = step(r, anchor, group_size=8)
            add(adv)
            add_stats(st)
        h.update(anchor.save())
    print(hadw.build_info()["isa"], h.hexdigest())


if __name__ == "__main__":
    sys.exit(main())

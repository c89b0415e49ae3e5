"""Verifiable tasks with a difficulty knob: addition of numbers of 1 .. n significant digits.

Every prompt has the same shape, `BOS a_0 .. a_{n-1} + b_0 .. b_{n-1} =`, and the answer is the
n + 1 digits of a + b; all numbers are zero-padded to n digits and written least significant first
(each answer digit then depends on the two digits above it and one carry, an order a left-to-right
model can learn). The difficulty knob is the number of significant digits d of both operands
(bucket d - 1): a zero column is copied, a significant one must be added with its carry, so a policy
that gets one column right with probability q solves a d-digit prompt with probability about q^d.
The reward is 1 for the exact answer, 0 otherwise: a verifier with no partial credit.
"""
from __future__ import annotations

import numpy as np
import torch

PLUS, EQUALS, BOS = 10, 11, 12
VOCAB = 13


def digits(x: np.ndarray, n: int) -> np.ndarray:
    """[B] non-negative ints -> [B, n] decimal digits, least significant first."""
    return np.stack([(x // 10**k) % 10 for k in range(n)], axis=1)


def significant_digits(x: np.ndarray) -> np.ndarray:
    """Number of decimal digits of x (0 counts as one digit)."""
    return np.array([len(str(int(v))) for v in x], dtype=np.int64)


class Addition:
    """Prompts a + b with a and b of d significant digits each, d = bucket + 1 in 1 .. n."""

    def __init__(self, n_digits: int = 4):
        self.n = n_digits
        self.buckets = n_digits
        self.prompt_len = 2 * n_digits + 3     # BOS, a, +, b, =
        self.answer_len = n_digits + 1

    def sample(self, rng: np.random.Generator, count: int, bucket: int | None = None):
        """`count` (a, b, bucket) triples; bucket None: the buckets in equal shares, shuffled."""
        buckets = (np.full(count, bucket, dtype=np.int64) if bucket is not None
                   else rng.permutation(np.arange(count) % self.buckets))
        low = np.where(buckets == 0, 0, 10**buckets)
        high = 10**(buckets + 1)
        a = rng.integers(low, high)
        b = rng.integers(low, high)
        return a, b, buckets

    def prompts(self, a: np.ndarray, b: np.ndarray) -> torch.Tensor:
        """[B, prompt_len] token ids."""
        ids = np.empty((len(a), self.prompt_len), dtype=np.int64)
        ids[:, 0] = BOS
        ids[:, 1:1 + self.n] = digits(a, self.n)
        ids[:, 1 + self.n] = PLUS
        ids[:, 2 + self.n:2 + 2 * self.n] = digits(b, self.n)
        ids[:, -1] = EQUALS
        return torch.from_numpy(ids)

    def answers(self, a: np.ndarray, b: np.ndarray) -> torch.Tensor:
        """[B, answer_len] the correct answer tokens."""
        return torch.from_numpy(digits(a + b, self.answer_len))

    @staticmethod
    def rewards(answer: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
        """1.0 where every sampled token equals the answer, else 0.0 (float64, hadw's input)."""
        return (sampled == answer).all(dim=1).to(torch.float64)

"""The policy: a small decoder-only transformer that writes its answer token by token from its own
softmax, and the log-probabilities GRPO's surrogate needs."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """x [B, T, d]. With `cache` (a [k, v] list, empty at the prompt), x continues the cached
        sequence: sampling reads each position once instead of re-running the whole prefix."""
        B, T, d = x.shape
        q, k, v = (t.transpose(1, 2) for t in
                   self.qkv(self.ln1(x)).view(B, T, 3, self.heads, d // self.heads).unbind(2))
        past = cache is not None and len(cache) > 0
        if past:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        if cache is not None:
            cache[:] = [k, v]
        # A continuation of one token sees every cached position: no mask needed.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=not past)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp(self.ln2(x))


class Policy(nn.Module):
    """Pre-LayerNorm GPT: token + learned position embeddings, `layers` blocks, tied output head."""

    def __init__(self, vocab: int, max_len: int, d: int = 64, layers: int = 2, heads: int = 4):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, ids: torch.Tensor, start: int = 0, caches: list | None = None) -> torch.Tensor:
        """[B, T] ids at positions start .. start + T - 1 -> [B, T, vocab] next-token logits."""
        x = self.tok(ids) + self.pos(torch.arange(start, start + ids.shape[1]))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.ln(x) @ self.tok.weight.T

    def answer_logprobs(self, prompts: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        """[B, L] log pi(answer_j | prompt, answer_<j) of each answer token (teacher forcing)."""
        ids = torch.cat([prompts, answers], dim=1)
        logits = self(ids[:, :-1])[:, prompts.shape[1] - 1:]
        return torch.log_softmax(logits, -1).gather(-1, answers.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def sample(self, prompts: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
        """[B, length] answer tokens drawn one at a time from the policy's softmax (temperature 1)."""
        caches = [[] for _ in self.blocks]
        logits = self(prompts, 0, caches)[:, -1]
        out = []
        for j in range(length):
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
            out.append(nxt)
            if j + 1 < length:
                logits = self(nxt, prompts.shape[1] + j, caches)[:, -1]
        return torch.cat(out, 1)

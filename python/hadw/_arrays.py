"""How arrays reach the kernels: NumPy arrays as they are (buffer protocol), torch tensors as a
DLPack capsule. Both are zero-copy views of the caller's memory, checked in C++ (arrays.hpp).

Why a capsule for torch: ``Tensor.__dlpack__`` runs about 5 us of Python checks per tensor, which
was most of a small call's overhead; ``torch.utils.dlpack.to_dlpack`` makes the same capsule in
about 0.6 us.
"""

from __future__ import annotations

import functools
import operator
import sys
from typing import Any, Optional, Sequence

import numpy as np

from ._native import core as _core

GroupLayout = _core.GroupLayout


def is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(x, torch.Tensor)


def array(x: Any, name: str) -> Any:
    """An input as a NumPy array or torch tensor: torch tensors detached (a view: advantages
    carry no gradient) and with a pending negation applied (a capsule would drop it); other
    sequences as NumPy arrays."""
    if x is None or isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        if x.requires_grad:
            x = x.detach()
        return x.resolve_neg() if x.is_neg() else x
    if hasattr(x, "__dlpack__"):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy's message is enough context
        raise TypeError(f"{name}: an array (NumPy, torch, or a sequence) required") from exc


def integer(x: Any, name: str) -> int:
    """A count or size as an int: a float is accepted only when integral (4.0), never truncated
    (int(3.99) would silently be 3)."""
    try:
        return operator.index(x)
    except TypeError:
        pass
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return int(x)
    raise TypeError(f"{name}: an integer required, got {x!r}")


def refused(exc: TypeError, inputs: Sequence, outputs: Sequence = ()) -> BaseException:
    """Why nanobind refused an array it could not view (its TypeError lists the whole signature,
    not the argument): the error naming the argument, or `exc` when no array explains it.
    inputs/outputs: (name, the caller's value) pairs. Runs only after a failed call."""
    if "incompatible function arguments" not in str(exc):
        return exc
    for (name, x), is_out in [(a, False) for a in inputs] + [(a, True) for a in outputs]:
        if x is None:
            continue
        x = array(x, name)
        if not isinstance(x, np.ndarray):
            continue
        if x.dtype.kind not in "biufc":
            return TypeError(f"{name}: a numeric array required, got dtype {x.dtype}")
        if not x.dtype.isnative:
            return TypeError(f"{name}: native byte order required, got {x.dtype.str} "
                             f"(byte-swapped); pass {name}.astype("
                             f"'{x.dtype.newbyteorder('=').str}')")
        if is_out and not x.flags.writeable:
            return ValueError(f"{name}: a writable array required, got a read-only one")
    return exc


def output(x: Any, name: str) -> Any:
    """A caller's output buffer, refused where writing into it behind the caller's back would
    go wrong: a read-only NumPy array, a torch tensor that requires grad (autograd would not see
    the write: torch's own in-place ops refuse it too) or that carries a pending negation."""
    if isinstance(x, np.ndarray):
        if not x.flags.writeable:
            raise ValueError(f"{name}: a writable array required, got a read-only one")
        return x
    if is_torch(x):
        if x.requires_grad:
            raise ValueError(f"{name}: a tensor that requires grad cannot be written in place "
                             f"(autograd would not know); pass one that does not")
        if x.is_neg() or x.is_conj():
            raise ValueError(f"{name}: a tensor with a pending negation or conjugation cannot "
                             f"be written through; pass {name}.resolve_neg()")
        return x
    return array(x, name)


_increment_version = None  # torch.autograd.graph.increment_version, looked up once


def call(fn: Any, inputs: Sequence, outputs: Sequence, *args: Any) -> Any:
    """fn(*args), a kernel that writes the `outputs` arrays: nanobind's TypeError for an array it
    cannot view becomes the error naming the argument (refused), and each output is marked
    written. inputs/outputs: (name, the caller's value) pairs. Returns what fn returns."""
    try:
        result = fn(*args)
    except TypeError as exc:
        raise refused(exc, inputs, outputs) from None
    for _, x in outputs:
        written(x)
    return result


def written(x: Any) -> None:
    """After a kernel wrote `x`: a torch tensor's version counter moves on, as after torch's own
    in-place ops, so autograd refuses a backward pass through values it saved before."""
    global _increment_version
    if x is None or isinstance(x, np.ndarray) or not is_torch(x):
        return
    if _increment_version is None:
        from torch.autograd.graph import increment_version as _increment_version
    _increment_version(x)


_to_dlpack = None  # torch.utils.dlpack.to_dlpack, looked up once (an import statement per call
                  # cost more than the capsule)


def kernel(x: Any) -> Any:
    """What the C++ call receives for an array returned by array(): the same memory."""
    global _to_dlpack
    if x is None or isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        if _to_dlpack is None:
            from torch.utils.dlpack import to_dlpack as _to_dlpack
        return _to_dlpack(x)
    return x


def host(x: Any) -> Optional[np.ndarray]:
    """`x` as a NumPy array in host memory (a torch tensor detached and moved to the CPU; a
    copy only where it was elsewhere), for the small per-response arrays read in Python."""
    if x is None:
        return None
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def empty_like(x: Any, shape: Sequence[int]) -> Any:
    if is_torch(x):
        import torch

        return torch.empty(tuple(shape), dtype=x.dtype, device=x.device)
    return np.empty(tuple(shape), dtype=x.dtype)


def length(x: Any, name: str) -> int:
    shape = x.shape
    if len(shape) != 1:
        raise ValueError(f"{name}: a 1-D array required, got {len(shape)}-D")
    return int(shape[0])


def ids(index: Any) -> np.ndarray:
    """verl's uid array (strings, ints, objects) -> int64 group ids numbered by first appearance,
    the order GroupLayout.from_ids gives groups for the original ids."""
    arr = host(index)
    if arr.ndim != 1:
        raise ValueError(f"index: a 1-D sequence of ids required, got {arr.ndim}-D")
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.int64)
    codes: dict = {}
    return np.fromiter((codes.setdefault(v, len(codes)) for v in arr.tolist()), dtype=np.int64,
                       count=len(arr))


@functools.lru_cache(maxsize=64)
def uniform(n: int, group_size: int) -> GroupLayout:
    """The layout of n responses in consecutive groups of group_size, made once per shape (a
    GroupLayout is immutable)."""
    group_size = integer(group_size, "group_size")  # once per shape: the result is cached
    if group_size < 1 or n % group_size != 0:
        raise ValueError(
            f"group_size: a divisor of the number of responses required, got {group_size} "
            f"for {n} responses")
    return GroupLayout.uniform(n // group_size, group_size)


def group_layout(
    n: Optional[int] = None,
    *,
    group_size: Optional[int] = None,
    index: Any = None,
    offsets: Any = None,
) -> GroupLayout:
    """A GroupLayout from exactly one of: group_size (n responses in consecutive groups of that
    size), index (one id per response, any order: verl's uids), offsets (CSR, num_groups + 1)."""
    given = [k for k, v in (("group_size", group_size), ("index", index), ("offsets", offsets))
             if v is not None]
    if len(given) != 1:
        raise ValueError(
            "exactly one of group_size, index, offsets (or layout) required, got "
            + (", ".join(given) if given else "none"))
    if group_size is not None:
        if n is None:
            raise ValueError("group_size: the number of responses is needed too")
        return uniform(integer(n, "n"), group_size)
    if index is not None:
        return GroupLayout.from_ids(ids(index))
    off = host(offsets)
    if off.dtype.kind not in "iu":
        raise TypeError(f"offsets: integers required, got {off.dtype}")
    return GroupLayout.from_offsets(np.ascontiguousarray(off, dtype=np.int64))


def layout_of(n: int, layout, group_size, index, offsets) -> GroupLayout:
    """The call's layout: `layout` itself, or one built from group_size / index / offsets."""
    if layout is not None:
        if group_size is not None or index is not None or offsets is not None:
            raise ValueError("layout: give either layout or one of group_size, index, offsets")
        if not isinstance(layout, GroupLayout):
            raise TypeError("layout: a hadw.GroupLayout required")
        return layout
    if group_size is not None and index is None and offsets is None:
        return uniform(n, group_size)  # the common case, without group_layout's bookkeeping
    return group_layout(n, group_size=group_size, index=index, offsets=offsets)

"""Optimizers: LazyAdam for models with sparse gradients, and the chapter's RMSprop.

A dense optimizer on a large embedding table updates every row at every step: with a 1M x 16 table that is
most of a step's time although a batch of reviews touches a few thousand rows. :class:`LazyAdam` is Adam that,
for a sparse gradient, reads and writes the moments and weights of the touched rows only (the rows a batch
did not touch keep their moments as they were, the "lazy" part); dense gradients get plain Adam. Weight decay
acts on the touched rows only, so a rare n-gram is not shrunk at steps that never saw it.

The chapter trains its models with Keras' RMSprop, which differs from ``torch.optim.RMSprop`` in more than its
defaults; :class:`KerasRMSprop` is that optimizer (``train.optimizer: keras_rmsprop``; see its docstring).

    opt = build_optimizer("adam", model, lr=1e-3, weight_decay=0.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from seqlab.errors import ConfigError


class LazyAdam(torch.optim.Optimizer):
    """Adam for dense and sparse gradients; a sparse gradient updates only the rows it names.

    Args:
        params: parameters (or parameter groups).
        lr: step size.
        betas: decay of the first and second moment estimates.
        eps: added to the root of the second moment.
        weight_decay: L2 penalty added to the gradient (for sparse gradients, on the touched rows only).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                # bias corrections as torch.optim.Adam applies them (eps added after correcting v)
                size, root = lr / (1 - b1 ** state["step"]), (1 - b2 ** state["step"]) ** 0.5
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    _sparse_step(p, p.grad, m, v, size, root, (b1, b2, eps, wd))
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, v.sqrt().div_(root).add_(eps), value=-size)
        return loss


def _sparse_step(p: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, size: float, root: float,
                 hyper: tuple[float, float, float, float]) -> None:
    """One Adam step on the rows a sparse gradient names; every other row is left as it is."""
    b1, b2, eps, wd = hyper
    # Sum repeated ids into one row each (cheaper than grad.coalesce(), which also sorts the values).
    rows, where = torch.unique(grad._indices()[0], return_inverse=True)
    g = grad._values().new_zeros((len(rows), *p.shape[1:])).index_add_(0, where, grad._values())
    if wd:
        g.add_(p.index_select(0, rows), alpha=wd)
    m_rows = m.index_select(0, rows).mul_(b1).add_(g, alpha=1 - b1)
    v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
    m.index_copy_(0, rows, m_rows)
    v.index_copy_(0, rows, v_rows)
    p.index_add_(0, rows, m_rows.div_(v_rows.sqrt_().div_(root).add_(eps)), alpha=-size)


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras computes it: ``v = rho * v + (1 - rho) * g**2``, then ``p -= lr * g / sqrt(v + eps)``.

    ``torch.optim.RMSprop`` differs in ways that matter for an embedding table: it averages over a longer
    window (``alpha=0.99`` where Keras' ``rho`` is 0.9) and adds ``eps`` (1e-8) *after* the root, so it
    divides a small gradient by a very small root. A word seen once in a while starts from ``v`` near 0 each time: torch
    moves its row by about ``lr * g / sqrt(0.01 * g**2) = 10 * lr`` whatever ``g`` is, Keras by at most
    ``lr * g / sqrt(0.1 * g**2 + 1e-7)``: about ``3 * lr`` for a large gradient, far less for the tiny
    ones a rare word gets. The chapter's LSTM text config trains with it (``train.optimizer: keras_rmsprop``);
    its figures with either optimizer are in ``docs/chapter.md``.

    Args:
        params: parameters (or parameter groups); dense gradients only.
        lr: step size.
        rho: decay of the mean square of the gradient.
        eps: added to the mean square *inside* the root.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                v = state["square_avg"]
                v.mul_(rho).addcmul_(g, g, value=1 - rho)
                p.addcdiv_(g, v.add(eps).sqrt_(), value=-lr)
        return loss


def sparse_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters a module says get sparse gradients (``module.sparse_parameters()``; none if absent)."""
    method = getattr(module, "sparse_parameters", None)
    return list(method()) if callable(method) else []


def build_optimizer(name: str, module: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` names for the trainable parameters of ``module``.

    A module with sparse parameters (see :func:`sparse_parameters`) gets :class:`LazyAdam` for all of its
    parameters, the one choice here that updates sparse gradients row by row. ``rmsprop`` is PyTorch's,
    ``keras_rmsprop`` is :class:`KerasRMSprop` (rho 0.9, eps 1e-7 inside the root), the chapter's optimizer.

    Raises:
        ConfigError: an unknown name, or a module with sparse parameters and another optimizer than adam.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if sparse_parameters(module):
        if name != "adam":
            raise ConfigError(f"train.optimizer={name!r} cannot update sparse gradients; use 'adam' (LazyAdam)")
        return LazyAdam(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "keras_rmsprop":
        return KerasRMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"unknown train.optimizer {name!r}; choose one of: adam, rmsprop, keras_rmsprop, sgd")

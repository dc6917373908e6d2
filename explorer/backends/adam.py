"""Adam on a numpy parameter vector, with its state as plain lists so it fits in a JSON checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Adam:
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    t: int = 0
    m: np.ndarray | None = None
    v: np.ndarray | None = None

    def step(self, w: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(w), np.zeros_like(w)
        if self.weight_decay:
            grad = grad + self.weight_decay * w
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self) -> dict[str, Any]:
        return {"t": self.t, "m": None if self.m is None else self.m.tolist(), "v": None if self.v is None else self.v.tolist()}

    def load_state(self, s: dict[str, Any]) -> None:
        self.t = s["t"]
        self.m = None if s["m"] is None else np.array(s["m"])
        self.v = None if s["v"] is None else np.array(s["v"])

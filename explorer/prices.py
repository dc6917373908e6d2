"""Tinker's list prices (params.yaml `tinker.prices`): what `explorer cost` and the Tinker
backend's `cost/*` metrics multiply token counts by, with where and when they were read."""

from __future__ import annotations

from dataclasses import dataclass

PRICE_SOURCE = (
    "Qwen3-8B list prices of 2026-01-05, https://thinkingmachines.ai/tinker/,",
    "as tabulated by the tinker-training-cost skill (skills.sh) and the",
    "tinker-cost 0.1.0 package (same row). Cached prefill (80% off) and",
    "storage: https://tinker-docs.thinkingmachines.ai/tinker/models/models_and_pricing/",
    "as transcribed 2026-10-07 by third parties (api-evangelist/thinking-machines;",
    "a pricing.ts on tangled.org), not read by us; not known to apply in January.",
    "That transcription lists Qwen3-8B at 0.195 / 0.60 / 0.44: check before budgeting.",
)
PRICES_READ = "2026-01-05; cache discount and storage 2026-10-07"


@dataclass(frozen=True)
class TinkerPrices:
    """Tinker's list prices for `base_model`, in USD: per million tokens, and per GB-month of
    checkpoint storage. Only for the cost estimates and metrics; `source` and `read` say where
    and when they were read (printed by `explorer cost`)."""

    prefill: float = 0.13  # prompt tokens of sample requests
    cached_prefill: float = 0.026  # prompt tokens the service reports as prefix-cache hits
    sample: float = 0.40  # sampled tokens
    train: float = 0.40  # forward_backward input tokens
    storage_gb_month: float = 0.10
    read: str = PRICES_READ
    source: tuple[str, ...] = PRICE_SOURCE  # lines, joined with spaces when printed

    def __post_init__(self) -> None:
        if min(self.prefill, self.cached_prefill, self.sample, self.train, self.storage_gb_month) < 0:
            raise ValueError("tinker.prices must be >= 0")

    def dollars(self, prefill: float = 0, cached: float = 0, sampled: float = 0, train: float = 0, gb_months: float = 0) -> float:
        """The price of `prefill` prompt tokens of which `cached` were cache hits, `sampled` and
        `train` tokens, and `gb_months` of storage."""
        m = 1e-6
        return (prefill - cached) * m * self.prefill + cached * m * self.cached_prefill + sampled * m * self.sample \
            + train * m * self.train + gb_months * self.storage_gb_month  # fmt: skip

"""Training batches (crops, targets, starting reference maps), in process or in data workers.

Making a sample (crop, augmentation, first clicks) took ~6 ms of one core at crop
256 on the development VM: ~0.23 s for a batch of 40, longer than the 0.16 s a
whole step took on the lent H200. `BatchStream` makes whole batches; a
`torch.utils.data.DataLoader` runs it in worker processes, each with its own
random streams (seeded from the worker id, so workers never repeat each other).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .dataset import CropSampler
from .initial_prompts import initial_reference


class BatchStream(IterableDataset):
    def __init__(self, sampler: CropSampler, batch: int, radius: int, mask_seed_prob: float, seed: int = 0):
        super().__init__()
        self.sampler = sampler
        self.batch = batch
        self.radius = radius
        self.mask_seed_prob = mask_seed_prob
        self.rng = np.random.default_rng(seed + 1)

    def make_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """images (B, 3, S, S) float, targets (B, 1, S, S) bool, reference maps (B, S, S) uint8,
        other objects' pixels (B, 1, S, S) bool."""
        images, targets, others = self.sampler.batch(self.batch)
        refs = torch.stack([initial_reference(t[0].numpy(), self.rng, self.radius, self.mask_seed_prob) for t in targets])
        return images, targets, refs, others

    def __iter__(self):
        info = get_worker_info()
        if info is not None:  # a copy per worker, with streams of its own
            self.sampler = copy.copy(self.sampler)
            seed = np.random.SeedSequence([info.seed % 2**32, info.id])
            sampler_seed, prompt_seed = seed.spawn(2)
            self.sampler.rng = np.random.default_rng(sampler_seed)
            self.rng = np.random.default_rng(prompt_seed)
            torch.set_num_threads(1)
        while True:
            yield self.make_batch()


def batch_iterator(stream: BatchStream, workers: int, pin_memory: bool = False):
    """Endless iterator over batches made in `workers` (>= 1) processes; without workers,
    call `stream.make_batch()` directly."""
    loader = DataLoader(stream, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                        prefetch_factor=4, persistent_workers=True)
    return iter(loader)

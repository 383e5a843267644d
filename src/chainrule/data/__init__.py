"""Datasets and batching: Dataset, TensorDataset, DataLoader (deterministic with a seed),
DistributedSampler (each rank's shard for data-parallel training)."""

from .dataset import DataLoader, Dataset, TensorDataset, default_collate
from .sampler import DistributedSampler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "TensorDataset", "default_collate"]

"""Datasets and batching: Dataset, TensorDataset, DataLoader (deterministic with a seed)."""

from .dataset import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]

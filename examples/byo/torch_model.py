"""A user's PyTorch MLP and its optimiser, built with the library's defaults (see `fwcompare port` in the README)."""

import torch
from torch import nn


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))
    return model, torch.optim.Adam(model.parameters())

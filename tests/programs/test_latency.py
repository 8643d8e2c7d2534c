"""Tests of the measured CPU latency."""

import pytest
import torch
from torch import nn

from symnas import programs


def test_bigger_model_measures_slower_and_state_is_restored():
    torch.manual_seed(0)
    tiny = nn.Linear(4, 4)
    big = nn.Sequential(*[nn.Linear(1024, 1024) for _ in range(4)])
    before = torch.get_num_threads()
    fast = programs.cpu_latency(tiny, (4,), threads=1, batch_size=8, warmup=1, repeats=5)
    slow = programs.cpu_latency(big, (1024,), threads=1, batch_size=8, warmup=1, repeats=5)
    assert 0 < fast < slow
    assert torch.get_num_threads() == before
    assert tiny.training and big.training


def test_bad_arguments_name_the_field():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="threads"):
        programs.cpu_latency(model, (2,), threads=0)
    with pytest.raises(ValueError, match="batch_size"):
        programs.cpu_latency(model, (2,), batch_size=0)
    with pytest.raises(ValueError, match="repeats"):
        programs.cpu_latency(model, (2,), repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        programs.cpu_latency(model, (2,), warmup=-1)
    with pytest.raises(ValueError, match="input_shape"):
        programs.cpu_latency(model, (-2,))
    with pytest.raises(TypeError, match="Module"):
        programs.cpu_latency(lambda x: x, (2,))

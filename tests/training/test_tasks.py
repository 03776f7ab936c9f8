"""Every family's training Task keeps the Task protocol the trainer relies on."""

from __future__ import annotations

import pytest
import torch

from generator.config import TrainConfig
from generator.training.tasks import Task

FAMILIES = ["frame", "seq2seq", "text", "token"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_task_builds_plans_and_a_loss_and_owns_its_carried_state(family, tiny_families):
    corpus, model_config, task, options = tiny_families[family]
    assert isinstance(task, Task) and task.family and task.units in ("token", "frame")
    config = TrainConfig(batch_size=3, seq_len=8, **options)  # only the family's own options
    torch.manual_seed(0)
    model = task.build_model(model_config)

    plan = task.train_plan(corpus, config, epoch=0)
    assert len(plan) > 0
    loss_sum, count, state = task.loss(model, plan.batch(0), None)
    assert loss_sum.ndim == 0 and loss_sum.requires_grad and int(count) > 0
    carried = task.detach_state(state)
    if state is None:  # pairs are independent
        assert carried is None
    else:  # the values go on, the graph of this step does not
        assert all(not s.requires_grad for s in carried)
        assert all(torch.equal(a, b) for a, b in zip(carried, state, strict=True))
        task.loss(model, plan.batch(1 % len(plan)), carried)[0].backward()  # one window's graph

    valid = [task.valid_plan(corpus, config) for _ in range(2)]  # a fixed order
    first, again = (vars(v.batch(0)) for v in valid)
    assert all(torch.equal(first[name], again[name]) for name in first)
    baseline = task.baseline(corpus)
    assert baseline is None or baseline > 0
    assert isinstance(task.describe(corpus), str)

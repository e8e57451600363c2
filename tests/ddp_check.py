"""Run by tests/test_distributed.py under torchrun: one DDP step on a fixed batch."""
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from synoploss.experiments import distributed
from synoploss.loss import SynOpLoss
from synoploss.models import CIFAR10AnalogueClassifier
from synoploss.synops import SynOpCounter


def fixed_batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 32, 32, generator=generator), torch.arange(8) % 10


def build():
    torch.manual_seed(1)
    return CIFAR10AnalogueClassifier(quantize=True, dropout_rate=(0.0, 0.0), width=0.1)


def step(model, data, labels, reduce=None):
    counter = SynOpCounter(model.modules())
    wrapped = DistributedDataParallel(model) if reduce is not None else model
    with counter.record() as recorded:
        output = wrapped(data)
    penalty = SynOpLoss(counter, target=5e4, reduce=reduce)
    penalty_value = penalty(recorded)
    synops = recorded.total().detach()
    synops = reduce(synops) if reduce is not None else synops
    loss = F.cross_entropy(output, labels) + penalty_value
    loss.backward()
    return dict(synops=synops.item(), penalty=penalty_value.item(),
                gradient=model.seq[1].weight.grad.flatten()[:50].tolist())


if __name__ == "__main__":
    context, _ = distributed.setup("cpu")
    data, labels = fixed_batch()
    share = slice(context.rank * 4, context.rank * 4 + 4)
    result = step(build(), data[share], labels[share], reduce=distributed.global_mean)
    if context.is_main:
        json.dump(dict(result, world_size=context.world_size), open(sys.argv[1], "w"))
    distributed.teardown(context)

"""Training throughput of the CIFAR-10 network: the step alone against the whole data path.

For the plain network and the QAT + SynOp-loss network (what a round trains), on the
present device, this measures
  (a) the training step alone: forward, loss, backward and Adam on batches that already
      sit on the device (random images), i.e. what the hardware can do;
  (b) one end-to-end epoch of train.py's data path (--data_path: the GPU-resident
      DeviceBatches, or the torchvision DataLoader with per-image PIL transforms), through
      the same train_epoch() that train.py runs;
and prints both in images/s, their ratio (the share of the step's speed that the data path
keeps) and the paper protocol's projected time: 350 plain epochs plus 31 rounds of 350
QAT + SynOp epochs, 50,000 images each (evaluation not included). One CSV row per
network and precision is appended to --out.

Defaults: width 1.0 and batch 512 on CUDA (the paper's), width 0.25 and batch 64 on CPU.
Images are random uint8 (throughput does not depend on content).
"""
import csv
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synoploss.data.cifar10 import (
    DATA_PATHS,
    ArrayImageDataset,
    cifar_transforms,
    normalise,
    resolve_data_path,
    training_batches,
)
from synoploss.experiments.cli import add_device_flag, device_or_fail, script_parser
from synoploss.experiments.training import PRECISIONS, autocast_context, train_epoch
from synoploss.io import atomic_path
from synoploss.loss import SynOpLoss
from synoploss.models import CIFAR10AnalogueClassifier, set_quantize
from synoploss.synops import SynOpCounter

PLAIN_EPOCHS, ROUNDS, ROUND_EPOCHS, EPOCH_IMAGES = 350, 31, 350, 50_000
COLUMNS = ["utc", "device", "torch", "network", "width", "batch_size", "precision",
           "channels_last", "data_path", "step_images_per_s", "epoch_images_per_s", "ratio",
           "epoch_images", "epoch_seconds", "peak_memory_gib", "projected_protocol_hours"]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    add_device_flag(parser)
    parser.add_argument("--width", type=float, default=None,
                        help="channel multiplier (default 1.0 on CUDA, 0.25 on CPU)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="default 512 on CUDA, 64 on CPU")
    parser.add_argument("--epoch_images", type=int, default=None,
                        help="images in the end-to-end epoch (default 50000 on CUDA, 1024 "
                             "on CPU)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps for (a)")
    parser.add_argument("--precision", choices=PRECISIONS, nargs="+", default=None,
                        help="default: fp32 and bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--data_path", choices=DATA_PATHS, default="auto",
                        help="auto: device on CUDA, torchvision on CPU (as train.py)")
    parser.add_argument("--channels_last", choices=["auto", "on", "off"], default="auto",
                        help="NHWC memory format: auto (on CUDA), on or off")
    parser.add_argument("--loader_workers", type=int, default=None,
                        help="DataLoader processes for the torchvision path (default: up to "
                             "8 on CUDA, 0 on CPU, where they would take the cores)")
    parser.add_argument("--networks", nargs="+", choices=["plain", "qat_synop"],
                        default=["plain", "qat_synop"],
                        help="the plain network, the QAT + SynOp loss one, or both (default)")
    parser.add_argument("--out", default="results/train_throughput.csv",
                        help="CSV the rows are appended to")
    args = parser.parse_args(argv)
    for flag in ("width", "batch_size", "epoch_images", "steps"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            parser.error(f"--{flag} must be positive, got {value}")
    return args


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(network, width, device, channels_last):
    torch.manual_seed(0)
    model = CIFAR10AnalogueClassifier(width=width).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    quantized = network == "qat_synop"
    set_quantize(model, quantized)
    counter = SynOpCounter(model.modules())
    # the first round's target: a realistic penalty, not a zero one
    synop_loss = SynOpLoss(counter, target=1e8) if quantized else None
    optimizer = torch.optim.Adam(model.parameters(), lr=2.5e-4, weight_decay=1e-3)
    return model, synop_loss, optimizer


def step_rate(model, synop_loss, optimizer, batch_size, steps, device, precision,
              channels_last):
    """(a): images/s of the training step on resident tensors."""
    generator = torch.Generator(device=device).manual_seed(0)
    data = normalise(torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8,
                                   device=device, generator=generator))
    if channels_last:
        data = data.contiguous(memory_format=torch.channels_last)
    target = torch.randint(0, 10, (batch_size,), device=device, generator=generator)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, precision):
            output = model(data)
            loss = F.cross_entropy(output.float(), target)
            if synop_loss is not None:
                loss = loss + synop_loss()
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: kernels chosen, memory allocated
        step()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronise(device)
    return steps * batch_size / (time.perf_counter() - started)


def epoch_rate(model, synop_loss, optimizer, batches, device, precision):
    """(b): images/s of one train_epoch() over the data path (the model is warm from (a))."""
    synchronise(device)
    started = time.perf_counter()
    train_epoch(model, batches, optimizer, synop_loss, device, progress=False,
                precision=precision)
    synchronise(device)
    seconds = time.perf_counter() - started
    images = len(batches) * batches.batch_size  # both data paths drop no image here
    return images / seconds, images, seconds


def append_rows(path, rows):
    path = Path(path)
    previous = path.read_text() if path.is_file() else ""
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="") as handle:
            handle.write(previous)
            writer = csv.DictWriter(handle, COLUMNS)
            if not previous:
                writer.writeheader()
            writer.writerows(rows)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    cuda = device.type == "cuda"
    width = args.width or (1.0 if cuda else 0.25)
    batch_size = args.batch_size or (512 if cuda else 64)
    epoch_images = args.epoch_images or (EPOCH_IMAGES if cuda else 1024)
    precisions = args.precision or (["fp32", "bf16"] if cuda else ["fp32"])
    data_path = resolve_data_path(args.data_path, device)
    channels_last = args.channels_last == "on" or (args.channels_last == "auto" and cuda)
    name = torch.cuda.get_device_name(device) if cuda else \
        f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"device {name}; width {width:g}, batch {batch_size}, epoch of {epoch_images} "
          f"images, data path {data_path}, channels_last {channels_last}")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (epoch_images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, epoch_images)
    workers = args.loader_workers if args.loader_workers is not None else \
        (min(8, os.cpu_count() or 1) if cuda else 0)
    batches, _ = training_batches(ArrayImageDataset(images, labels, cifar_transforms(True)),
                                  batch_size, device, data_path, channels_last=channels_last,
                                  workers=workers, drop_last=True)
    rows, epoch_seconds = [], {}
    for precision in precisions:
        for network in args.networks:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            model, synop_loss, optimizer = build(network, width, device, channels_last)
            step = step_rate(model, synop_loss, optimizer, batch_size, args.steps, device,
                             precision, channels_last)
            epoch, images_done, seconds = epoch_rate(model, synop_loss, optimizer, batches,
                                                     device, precision)
            epoch_seconds[(precision, network)] = EPOCH_IMAGES / epoch
            memory = torch.cuda.max_memory_allocated(device) / 2 ** 30 if cuda else float("nan")
            rows.append(dict(
                utc=datetime.now(timezone.utc).isoformat(timespec="seconds"), device=name,
                torch=torch.__version__, network=network, width=width, batch_size=batch_size,
                precision=precision, channels_last=channels_last, data_path=data_path,
                step_images_per_s=round(step), epoch_images_per_s=round(epoch),
                ratio=round(epoch / step, 3), epoch_images=images_done,
                epoch_seconds=round(seconds, 3), peak_memory_gib=round(memory, 2),
                projected_protocol_hours=float("nan")))
            print(f"{precision} {network:>9}: step alone {step:9.0f} images/s, end to end "
                  f"{epoch:9.0f} images/s ({epoch / step:.0%}); a 50,000-image epoch "
                  f"{EPOCH_IMAGES / epoch:.2f} s"
                  + (f"; peak memory {memory:.1f} GiB" if cuda else ""))
    for precision in precisions:
        if (precision, "plain") in epoch_seconds and (precision, "qat_synop") in epoch_seconds:
            hours = (PLAIN_EPOCHS * epoch_seconds[(precision, "plain")] + ROUNDS * ROUND_EPOCHS
                     * epoch_seconds[(precision, "qat_synop")]) / 3600
            for row in rows:
                if row["precision"] == precision:
                    row["projected_protocol_hours"] = round(hours, 2)
            print(f"{precision}: the paper's protocol ({PLAIN_EPOCHS} + {ROUNDS} x "
                  f"{ROUND_EPOCHS} epochs of 50,000 images, width {width:g}) projects to "
                  f"{hours:.1f} h of training on this device (evaluation not included)")
    append_rows(args.out, rows)
    print(f"{args.out}: {len(rows)} rows appended")


if __name__ == "__main__":
    main()

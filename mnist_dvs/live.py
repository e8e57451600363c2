"""Classify a live or replayed DVS event stream with a trained MNIST-DVS network.

Sources (one of):
  --host HOST [--port PORT]  the DV software's event output over TCP (its "Network TCP
                             server" output module), as the original's aermanager LiveDv
  --camera                   the first camera dv-processing finds on USB (DVS128, DAVIS,
                             DVXplorer). Not tested here: this machine has no camera
  --replay FILE              a recording (AER-DAT 1.0/2.0 or AEDAT4), played at real time,
                             or --speed times faster (0: as fast as the network runs)

The events take the converter's path (generate_DV4_dataset.py): the central square of
the source's sensor (its shorter side, or --crop pixels) binned to the network's 64x64
(a DVXplorer's 640x480: x 80..559, 7.5 sensor pixels per input pixel), chunks of
--spike_count events, each chunk binned at --dt_us from its first event. A replay
filters hot pixels over the whole file as the converter does; a live stream judges a
pixel by its rate so far (--hot_pixel_frequency). Each chunk runs through the spiking
network (--simulator fast, the exact event-driven simulator, or sinabs), from rest
(--reset chunk: the same predictions and SynOps as test_spiking.py on the same chunks)
or from the state the last chunk left (--reset never, the original's live loop; sinabs).

For every chunk it prints the predicted digit when the output spike count reaches
--threshold (30, the original's) and '.' otherwise, the latency from the chunk's last
event to the prediction, the chunk's SynOps and the SynOps per second and power
(--energy_model: SynOps x pJ, + the chip's idle power for speck) the network spends on
the stream so far.
--log writes the same as CSV rows (written as they come; a killed run keeps what it
printed; an existing file is replaced from the first chunk on, and may not be the model or
the recording). --show opens a window with the chunk's frame and the class bars. Ctrl-C, the
end of the stream, --max_chunks or --idle_timeout end it with a summary.

Needs dv-processing (requirements.txt; or pip install -e '.[live]'); AER-DAT replays do not.

Examples:
  python mnist_dvs/live.py --model runs/mnist_dvs/models/l1-fanout-qtrain_6.35e+05.pth \\
      --host 127.0.0.1 --port 7777
  python mnist_dvs/live.py --model runs/mnist_dvs/models/nopenalty.pth \\
      --replay runs/mnist_dvs/data/emulated_aedat/grabbed_data3/scale16/mnist_3_scale16_0801.aedat
"""
import csv
import math
import sys
from pathlib import Path

from synoploss.experiments.cli import (
    DEFAULT_WORKDIRS,
    ensure_writable_file,
    fail,
    nonnegative_float,
    positive_float,
    positive_int,
    script_parser,
    tcp_port,
)
from synoploss.experiments.reruns import check_logged_checkpoint
from synoploss.experiments.workdir import Workdir
from synoploss.hardware.energy import add_energy_flag
from synoploss.hardware.live import (
    CONNECT_TIMEOUT_S,
    RESETS,
    EventChunker,
    LiveNetwork,
    RunningHotPixelFilter,
    SensorView,
    StreamError,
    open_source,
    run_stream,
)
from synoploss.io import load_state, read_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.spiking import to_spiking
from synoploss.spiking.result import SIMULATORS

DV_DEFAULT_PORT = 7777  # the DV software's TCP server output module's default


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--host", help="address of the DV software's TCP event output")
    source.add_argument("--camera", action="store_true",
                        help="the first camera on USB (needs a camera; untested here)")
    source.add_argument("--replay", metavar="FILE", help="a recording: AER-DAT 1.0/2.0 or AEDAT4")
    parser.add_argument("--port", type=tcp_port, default=DV_DEFAULT_PORT,
                        help=f"with --host: the TCP port (default {DV_DEFAULT_PORT})")
    parser.add_argument("--connect_timeout", type=positive_float, default=CONNECT_TIMEOUT_S,
                        help="with --host: seconds to wait for the DV server's stream header "
                             f"(default {CONNECT_TIMEOUT_S:g})")
    parser.add_argument("--speed", type=nonnegative_float, default=1.0,
                        help="with --replay: times real time (default 1; 0: no waiting)")
    parser.add_argument("--model", required=True,
                        help="a trained MNIST-DVS checkpoint (train.py's models/*.pth)")
    parser.add_argument("--spike_count", type=positive_int, default=3000,
                        help="events per chunk (default 3000, as the converted data)")
    parser.add_argument("--dt_us", type=positive_int, default=1000,
                        help="time bin in µs (default 1000, as test_spiking.py)")
    parser.add_argument("--crop", type=positive_int, default=None,
                        help="central CROP x CROP sensor pixels (default: the sensor's "
                             "shorter side)")
    parser.add_argument("--hot_pixel_frequency", type=positive_float, default=None,
                        help="drop pixels firing above this rate (Hz); default: none")
    parser.add_argument("--simulator", choices=SIMULATORS, default="fast",
                        help="fast (default: the exact event-driven simulator) or sinabs")
    parser.add_argument("--reset", choices=RESETS, default="chunk",
                        help="chunk (default: every chunk from rest, as the spiking tests) "
                             "or never (continuous state, as the original; needs sinabs)")
    parser.add_argument("--threshold", type=nonnegative_float, default=30.0,
                        help="output spikes of the winning class needed to print a digit "
                             "(default 30, the original's)")
    add_energy_flag(parser)
    parser.add_argument("--log", metavar="CSV", default=None,
                        help="also write one row per chunk to this CSV (replaced from the "
                             "first chunk on; checked before anything runs)")
    parser.add_argument("--show", action="store_true",
                        help="a window with the current frame and the class bars")
    parser.add_argument("--max_chunks", type=positive_int, default=None,
                        help="stop after this many chunks (default: run until the end)")
    parser.add_argument("--idle_timeout", type=positive_float, default=None,
                        help="with --host/--camera: stop after this many seconds without "
                             "events (default: wait)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads of the fast simulator (default: torch's)")
    args = parser.parse_args(argv)
    if args.reset == "never" and args.simulator == "fast":
        parser.error("--reset never needs --simulator sinabs: the fast simulator runs every "
                     "chunk from rest")
    if args.port != DV_DEFAULT_PORT and args.host is None:
        parser.error("--port goes with --host")
    return args


def load_network(path: str):
    """The checkpoint as a spiking network, as test_spiking.py converts it (threshold 1,
    reset by subtraction, no lower bound). QAT or not does not matter once spiking."""
    path = Path(path)
    if not path.is_file():
        folder = Workdir(DEFAULT_WORKDIRS["mnist_dvs"])
        trained = (read_csv(folder.training_log)["model_path"].tolist()
                   if folder.training_log.is_file() else [])
        hint = (f"; trained in {folder.root}: " + ", ".join(trained[:6])) if trained else \
            " (train one with mnist_dvs/train.py)"
        raise FileNotFoundError(f"--model {path}: no such checkpoint{hint}")
    check_logged_checkpoint(path)  # in a work folder: the model its log recorded
    model = load_state(MNISTDVSNet(quantize=False), path)
    return to_spiking(model, MNIST_DVS_INPUT, min_v_mem=None)


class ChunkPrinter:
    """One terminal line (and CSV row, with --log) per chunk."""

    def __init__(self, threshold: float, log_path: str | None, show: bool):
        self.threshold = threshold
        self.log_path, self.log_file, self.writer = log_path, None, None
        self.view = FrameView() if show else None

    def __call__(self, prediction, chunk):
        answer = (f"digit {prediction.digit}" if prediction.confident
                  else f". (best {prediction.digit})")
        relation = ">=" if prediction.confident else "<"
        # a rate over no stream time (every event so far at one timestamp) is undefined
        rate = (f"{prediction.synops_per_second:9.4g} SynOps/s, {prediction.energy_uw:8.4g} µW"
                if math.isfinite(prediction.synops_per_second)
                else "SynOps/s undefined (no stream time yet)")
        print(f"chunk {prediction.chunk:5d}: {answer:<12} {prediction.output_spikes:4.0f} "
              f"output spikes {relation} {self.threshold:g} | {prediction.synops:9.4g} SynOps | "
              f"{rate} | latency {prediction.latency_ms:6.1f} ms", flush=True)
        if self.log_path:
            row = prediction.row()
            if self.writer is None:
                # opened at the first row: a run that classifies nothing leaves the file
                self.log_file = open(self.log_path, "w", newline="")
                self.writer = csv.DictWriter(self.log_file, fieldnames=list(row))
                self.writer.writeheader()
            self.writer.writerow(row)
            self.log_file.flush()
        if self.view is not None:
            self.view.update(prediction, chunk)

    def close(self):
        if self.log_file is not None:
            self.log_file.close()


class FrameView:
    """The chunk's accumulated frame and the output spikes per class, redrawn per chunk."""

    def __init__(self):
        import matplotlib.pyplot as plt
        self.plt = plt
        self.figure, (self.frame_axes, self.bar_axes) = plt.subplots(1, 2, figsize=(8, 4))
        self.figure.canvas.manager.set_window_title("synoploss live")
        plt.ion()
        plt.show(block=False)

    def update(self, prediction, chunk):
        import numpy as np

        from synoploss.data.events import accumulate_frame
        self.frame_axes.clear()
        self.frame_axes.imshow(accumulate_frame(chunk, MNIST_DVS_INPUT[-1]), cmap="gray")
        self.frame_axes.set_title(f"chunk {prediction.chunk}")
        self.frame_axes.axis("off")
        self.bar_axes.clear()
        spikes = np.asarray(prediction.class_spikes)
        colours = ["tab:orange" if digit == prediction.digit else "tab:blue"
                   for digit in range(len(spikes))]
        self.bar_axes.bar(range(len(spikes)), spikes, color=colours)
        self.bar_axes.set_xticks(range(len(spikes)))
        self.bar_axes.set_xlabel("digit")
        self.bar_axes.set_ylabel("output spikes")
        self.plt.pause(0.001)


def main(argv=None):
    args = parse_args(argv)

    def open_the_source():
        return open_source(args.host, args.port, args.camera, args.replay, args.speed,
                           args.hot_pixel_frequency, args.idle_timeout, args.connect_timeout)

    try:
        if args.log:
            ensure_writable_file(args.log, "--log", {"--model": args.model,
                                                     "--replay": args.replay})
        # a recording is read first (a bad file is named at once); a live stream is
        # connected last, after numba has compiled, so that it does not wait
        source = open_the_source() if args.replay else None
        net = load_network(args.model)
        network = LiveNetwork(net, args.simulator, args.reset, args.threads)
        network.warm_up(MNIST_DVS_INPUT[-1])
        source = source or open_the_source()
        try:
            view = SensorView(source.sensor_size, MNIST_DVS_INPUT[-1], args.crop)
        except ValueError as error:
            raise ValueError(f"--crop: {error}") from error
    except (FileNotFoundError, ValueError, StreamError) as error:
        fail(__file__, error)
    except KeyboardInterrupt:
        fail(__file__, "interrupted (Ctrl-C) while starting, before the first chunk")
    hot_pixels = (RunningHotPixelFilter(source.sensor_size, args.hot_pixel_frequency)
                  if args.hot_pixel_frequency and args.replay is None else None)
    width, height = source.sensor_size
    print(f"{source.description}: {source.camera}, {width}x{height} sensor -> "
          f"{view.resolution}x{view.resolution}; chunks of {args.spike_count} events at "
          f"{args.dt_us} µs; {args.model} on {args.simulator}, reset per {args.reset}; "
          f"energy model {args.energy_model.name} ({args.energy_model.pj_per_synop:g} pJ/SynOp"
          f", idle {args.energy_model.static_mw:g} mW)",
          flush=True)
    printer = ChunkPrinter(args.threshold, args.log, args.show)
    try:
        summary = run_stream(source, view, EventChunker(args.spike_count), network,
                             args.dt_us, args.threshold, args.energy_model.pj_per_synop,
                             hot_pixels, args.max_chunks, printer,
                             static_mw=args.energy_model.static_mw)
    except ValueError as error:  # a chunk that cannot be binned (a long pause, a bad file)
        fail(__file__, f"{source.description}: {error} (the chunks before it are printed"
                       + (f" and in {args.log})" if args.log else ")"))
    finally:
        printer.close()
        network.close()
    print("summary: " + summary.text(args.energy_model.pj_per_synop,
                                     args.energy_model.static_mw), flush=True)
    if not summary.chunks:
        sys.exit(1)  # nothing was classified: the summary says why
    return summary


if __name__ == "__main__":
    main()

"""A stand-in for the DV software's TCP event output, for tests/test_live.py: serves the
given recordings (AER-DAT or AEDAT4), one after the other, to the first client on
127.0.0.1:PORT with dv-processing's NetworkWriter, then exits.

It runs in its own process: NetworkWriter's destructor waits for its network thread,
which calls back into Python, so a writer and a reader in one process deadlock.

usage: python tests/dv_stream_server.py PORT [--limit EVENTS] RECORDING...
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dv_processing as dv  # noqa: E402
import numpy as np  # noqa: E402

from synoploss.data.aedat4 import to_event_store  # noqa: E402
from synoploss.data.recordings import read_recording

GAP_US = 1000  # between one recording's last event and the next one's first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("recordings", nargs="+")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many events")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a client")
    args = parser.parse_args()
    recordings = [read_recording(path) for path in args.recordings]
    width, height = recordings[0].sensor_size
    stream = dv.io.Stream.EventStream(0, "events", "DVS128_server", (width, height))
    writer = dv.io.NetworkWriter("127.0.0.1", args.port, stream)
    print("listening", flush=True)
    deadline = time.monotonic() + args.wait
    # a client that stays: live.py first looks for the stream header on a connection of
    # its own and closes it (the DV software streams on; this stand-in sends only once)
    while True:
        while writer.getClientCount() == 0:
            if time.monotonic() > deadline:
                print("no client", flush=True)
                os._exit(2)
            time.sleep(0.01)
        time.sleep(0.3)
        if writer.getClientCount():
            break
    offset, sent = 0, 0
    for recording in recordings:
        events = recording.events.copy()
        times = events["t"].astype(np.int64)
        events["t"] = times - times[0] + offset
        offset = int(events["t"][-1]) + GAP_US
        for start in range(0, len(events), 1000):  # batches as a camera sends them
            batch = events[start:start + 1000]
            if args.limit is not None:
                batch = batch[:max(0, args.limit - sent)]
            if len(batch):
                writer.writeEvents(to_event_store(batch))
                sent += len(batch)
    while writer.getQueuedPacketCount():
        time.sleep(0.01)
    time.sleep(0.5)  # the client reads what was sent before the connection closes
    print(f"sent {sent}", flush=True)
    os._exit(0)  # see the module docstring: the writer's destructor would hang


if __name__ == "__main__":
    main()

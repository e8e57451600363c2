"""The paper's MNIST-DVS network (defined in the library, so tests and scripts share it).

State-dict keys: seq.0.weight, seq.3.weight, seq.6.weight, seq.11.weight, as the
original code, so its checkpoints load with `synoploss.io.load_state`.
"""
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, set_quantize  # noqa: F401

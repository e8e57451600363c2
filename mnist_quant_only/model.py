"""The paper's MNIST quantization-only network (defined in the library)."""
from synoploss.models import MNIST_INPUT, MNISTQuantNet, set_quantize  # noqa: F401

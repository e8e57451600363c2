"""The paper's CIFAR-10 network (defined in the library); keys seq.N.weight as the original."""
from synoploss.models import CIFAR10_INPUT, CIFAR10AnalogueClassifier, set_quantize  # noqa: F401

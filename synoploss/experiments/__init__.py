"""The experiments' protocol and its files: flags and pre-flight errors (`cli`), every
file name and column (`workdir`), what a result was made with and whether a rerun keeps it
(`reruns`), the training loop (`training`), the analog and spiking measurements of one
model (`evaluation`), the CIFAR-10 rounds (`cifar_rounds`) and torchrun (`distributed`).
The scripts are thin on top of these."""

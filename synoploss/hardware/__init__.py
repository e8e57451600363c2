"""What a spiking network means on hardware: energy per inference (`energy`), whether it
fits a Speck chip and what its 8-bit weights do (`chips`), NIR files for chips'
toolchains (`nir_export`), and live or replayed DV streams (`live`)."""

"""Model assembly: the spectrogram ViT built from injected plugin modules, and presets."""

"""Data: corpus adapters' common types, audio and log-Mel features, the feature cache,
speaker-independent splits, augmentation and the synthetic default corpus."""

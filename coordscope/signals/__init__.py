"""The vectorized scoring core: actions, co-action kernel, counting modes, significance."""

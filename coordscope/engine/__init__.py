"""The co-action kernel and how it runs: the band sweep and native pair counting."""

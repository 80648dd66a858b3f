"""Statistics: null models, pair and group tests, multiple testing, communities, bursts."""

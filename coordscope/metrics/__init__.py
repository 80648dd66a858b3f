"""Scoring an audit against truth, and the learned cluster scorer."""

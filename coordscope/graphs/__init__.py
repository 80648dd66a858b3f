"""Actor graphs, components and communities, cluster scores, exports."""

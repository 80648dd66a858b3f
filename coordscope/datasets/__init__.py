"""Getting data in: readers per export format, detection, normalisation, simulation."""

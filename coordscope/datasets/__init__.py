"""Getting data in: readers per export format, detection, normalisation, simulation.

One reader module per export format (``sniff`` and ``read``), registered in
:mod:`.formats`; :mod:`.writers` writes each format (what ``coordscope simulate`` uses);
:mod:`.scenarios` and :mod:`.simulate` make synthetic data with its truth.
"""

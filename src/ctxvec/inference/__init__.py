"""The study's forward pass: batches, one forward each, context-vector metrics on the device.

:mod:`~ctxvec.inference.forward` runs the pass (:class:`~ctxvec.inference.forward.PassSettings`
says how), :mod:`~ctxvec.inference.measured` which metrics and layers, and
:mod:`~ctxvec.inference.batching`, :mod:`~ctxvec.inference.streams` and
:mod:`~ctxvec.inference.kernels` make it fast on CPU and GPU;
:mod:`~ctxvec.inference.representations` captures attention outputs and
:mod:`~ctxvec.inference.summaries` turns per-feature results into per-example and subset metrics.
"""

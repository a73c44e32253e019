"""The offline benchmark: synthetic data, a zoo of encoders trained on it, and the demo.

:mod:`~ctxvec.offline.synth` generates the data, :mod:`~ctxvec.offline.families` builds each
family's tokenizer and config, :mod:`~ctxvec.offline.training` and :mod:`~ctxvec.offline.zoo`
train and save the panel, and :mod:`~ctxvec.offline.demo` runs the whole study on it.
"""

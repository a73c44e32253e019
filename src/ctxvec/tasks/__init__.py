"""The two tasks: tokenise, run the forward pass, and turn its logits into predictions and rows.

:mod:`~ctxvec.tasks.qa` (SQuAD-style extractive QA, over :mod:`~ctxvec.tasks.windows`) and
:mod:`~ctxvec.tasks.classify` (sequence classification, with label matching).
"""

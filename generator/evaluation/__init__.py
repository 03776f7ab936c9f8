"""Evaluation beyond NLL: how generated music compares with real music.

Modules: ``features`` (per-piece musical features), ``overlap`` (set-against-set overlap areas
and the half-against-half ceiling), ``copying`` (verbatim runs shared with training files),
``quality`` (the whole report behind ``python -m generator evaluate quality``), ``ngram`` (the
n-gram floor baseline over the same event tokens) and ``harmony`` (voice-leading metrics of
harmonized pieces).
"""

"""Named-entity recognition on CoNLL-2003: the window tagger of Collobert et al. (2011).

Modules: :mod:`.conll` (reading/writing column files), :mod:`.tags` (IOB1/IOB2/BIOES),
:mod:`.features` and :mod:`.data` (vocabularies, token features, windows, batches),
:mod:`.model` (the window network, model folders), :mod:`.crf` (sentence-level likelihood
and Viterbi), :mod:`.train` (training loop), :mod:`.tagger` (raw-text tagging) and
:mod:`.metrics` (conlleval scoring). The command line is ``chainrule ner``; see
``docs/ner.md``.
"""

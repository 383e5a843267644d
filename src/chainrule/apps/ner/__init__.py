"""Named-entity recognition on CoNLL-2003: data reading, tag schemes, features and metrics."""

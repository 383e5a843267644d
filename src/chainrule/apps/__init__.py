"""Applications built on chainrule (end-to-end demos such as named-entity recognition)."""

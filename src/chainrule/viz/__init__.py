"""Visualisation and explanation helpers for chainrule computation graphs."""

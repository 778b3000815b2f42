"""Quizhub."""

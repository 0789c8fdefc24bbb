"""Typed render functions: take ragtune domain objects and draw them. No I/O, no model calls."""

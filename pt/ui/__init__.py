"""Renderers: Rich tables and trees for people, one JSON object for programs."""

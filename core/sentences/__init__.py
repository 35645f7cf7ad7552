"""Sentence adapters: students that read a cheap model's tokens and answer for whole sentences; their export."""

"""Embedding Distillation Lab: the engine (no UI).

Train a cheap *student* word-embedding model to mimic an expensive *teacher* when the teacher
is queried on only a fraction p of the vocabulary (Sahoo & Alberdi, "In the pursuit of cheap
and robust word embeddings", 2023). Usable from a notebook, the CLI (`python -m core`) and
the Streamlit pages alike; nothing here imports streamlit or prints.
"""

__version__ = "0.1.0"

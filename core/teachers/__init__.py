"""The teachers: local sentence-transformers models and the API teacher, with their on-disk vector cache."""

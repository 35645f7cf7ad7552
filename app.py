"""Embedding Distillation Lab: the Streamlit entry point (page setup and navigation only)."""

import streamlit as st

st.set_page_config(page_title="Embedding Distillation Lab", page_icon="🧪", layout="wide")
st.title("Embedding Distillation Lab")
st.write("The dashboard is being built; the engine is ready: `python -m core train --help`.")

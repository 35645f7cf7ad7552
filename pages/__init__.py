"""The dashboard's pages: one script per page (start.py, story.py, …) run by app.py's st.navigation, and the
modules they share (the files starting with `_`). A package, so that `lint-imports` can check its imports
(.importlinter)."""

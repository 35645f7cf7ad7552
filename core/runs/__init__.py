"""One training run (experiment), a grid of runs (sweep), the run store and its journal, take-away files, class hosting settings."""

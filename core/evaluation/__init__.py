"""How good a student is: held-out scores, analogies and similarity benchmarks, neighbours, 2-D projections."""

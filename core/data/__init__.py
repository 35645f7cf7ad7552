"""Word lists, sentences, lemmatization and the datasets a student trains on (splits, poisoned answers)."""

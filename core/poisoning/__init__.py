"""The poisoning lab: detecting poisoned answers, the defences, and the paper's claim re-tested."""

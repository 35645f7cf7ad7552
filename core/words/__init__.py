"""Word students (the paper's lookup tables and the students that generalise), what they are and how they learn."""

"""The teacher fights back: can an embeddings API's owner prove that a student learned from its answers?

- `marks`: the watermarks, wrappers on the teacher's answers with a secret key and a strength (EmbMarker's trigger
  words; a region moved along a secret direction), and what they cost an honest user;
- `verify`: the owner's verifier, which sees only a suspect's embed function, calibrated against control students;
- `grid`: power and false alarms over p x student kind x watermark x strength x seeds;
- `removal`: the imitator's counter-moves (project out the directions its answers differ from its cheap model's;
  WARDEN's CSE: cluster, select the pairs the API calls too alike, eliminate their main directions);
- `chart`: the Watermark page's chart (a pure Polars -> Altair builder);
- `cli`: `python -m core watermark`.
"""

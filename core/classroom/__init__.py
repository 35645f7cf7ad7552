"""A class on one host: who is who (`people`: signed-in subjects or link tokens, nicknames, who is here now), who
teaches (`settings`: the [classroom] table of lab.toml), and the teacher's class board (`board`: each person's runs,
the queue, the gallery, the CSV export, classes archived and started)."""

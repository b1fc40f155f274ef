"""Records: the run record (JSON, its schema), reading and writing user files safely, opening big records in a
child."""

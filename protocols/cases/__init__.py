"""The bundled protocols' own test cases (TOML, run by `needle protocols test` with no file)."""

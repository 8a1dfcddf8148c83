"""Values and formats every layer uses: errors, findings, ids (subjects, names), units, YAML and JSON,
the one field diff, caches, the collector pause and the local-process supervisor."""

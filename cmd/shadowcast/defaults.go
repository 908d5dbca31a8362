package main

import _ "embed"

// defaultConfig is served when no --config.file is given: the bundled NASA
// Kennedy Space Center HTTP trace (requests per minute, July–August 1995),
// replayed at 600x so that shadows for 5m, 15m and 30m appear within a minute.
//
//go:embed default.yml
var defaultConfig []byte

package main

import (
	"github.com/alecthomas/kingpin/v2"
)

func serveCommand(app *kingpin.Application) command {
	c := app.Command("run", "Collect, forecast and serve shadows (the default).")
	return command{clause: c, run: func() int { return 0 }}
}

func checkCommand(app *kingpin.Application) command {
	c := app.Command("check", "Validate the configuration file and print every problem.")
	return command{clause: c, run: func() int { return 0 }}
}

package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
)

func simulateCommand(app *kingpin.Application) command {
	c := app.Command("simulate", "Not built yet.")
	return command{clause: c, run: func() int {
		fmt.Fprintln(os.Stderr, "shadowcast simulate: not built yet")
		return 1
	}}
}

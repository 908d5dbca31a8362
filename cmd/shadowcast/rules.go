package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
)

func rulesCommand(app *kingpin.Application) command {
	c := app.Command("rules", "Not built yet.")
	return command{clause: c, run: func() int {
		fmt.Fprintln(os.Stderr, "shadowcast rules: not built yet")
		return 1
	}}
}

package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
)

func backtestCommand(app *kingpin.Application) command {
	c := app.Command("backtest", "Not built yet.")
	return command{clause: c, run: func() int {
		fmt.Fprintln(os.Stderr, "shadowcast backtest: not built yet")
		return 1
	}}
}

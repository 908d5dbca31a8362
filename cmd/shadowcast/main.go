// Command shadowcast is a Prometheus sidecar that forecasts activity series
// and exposes the forecasts ("shadows") with calibrated bounds as metrics.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// command is a subcommand: registered on the app, run after parsing.
type command struct {
	clause *kingpin.CmdClause
	run    func() int
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	app := kingpin.New("shadowcast", "Forecasts activity series and exposes the forecasts (shadows) as Prometheus metrics.")
	app.Version(version.Print("shadowcast"))
	app.HelpFlag.Short('h')

	cmds := []command{
		serveCommand(app),
		checkCommand(app),
		backtestCommand(app),
		simulateCommand(app),
		rulesCommand(app),
	}
	// `shadowcast` with no subcommand serves.
	cmds[0].clause.Default()

	name, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shadowcast: %v\n", err)
		return 2
	}
	for _, c := range cmds {
		if c.clause.FullCommand() == name {
			return c.run()
		}
	}
	fmt.Fprintf(os.Stderr, "shadowcast: unknown command %q\n", name)
	return 2
}

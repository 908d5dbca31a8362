package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/events"
	"github.com/shadowcast/shadowcast/kpi"
	"github.com/shadowcast/shadowcast/shadow"
	"github.com/shadowcast/shadowcast/web"
)

// DefaultListenAddress is where shadowcast serves HTTP by default: loopback
// only, so running it with no flags exposes nothing to the network.
const DefaultListenAddress = "127.0.0.1:9799"

type serveFlags struct {
	configFile    string
	listen        []string
	webConfig     string
	storagePath   string
	retention     time.Duration
	shardIndex    int
	shardTotal    int
	trainWorkers  int
	shutdownGrace time.Duration
	log           *promslog.Config
	scaler        *scalerFlags
}

func serveCommand(app *kingpin.Application) command {
	c := app.Command("run", "Collect, forecast and serve shadows (the default command).")
	f := &serveFlags{log: &promslog.Config{}}
	c.Flag("config.file", "Configuration file. Empty: the embedded default (a bundled NASA HTTP trace replayed fast).").
		StringVar(&f.configFile)
	c.Flag("web.listen-address", "Address to serve HTTP on (repeatable).").
		Default(DefaultListenAddress).StringsVar(&f.listen)
	c.Flag("web.config.file", "exporter-toolkit web configuration file enabling TLS and basic auth.").
		StringVar(&f.webConfig)
	c.Flag("storage.path", "Directory of the on-disk history store.").
		Default("data/").StringVar(&f.storagePath)
	c.Flag("storage.retention", "How long raw history is kept. 0: the longest shadow history plus one day.").
		Default("0s").DurationVar(&f.retention)
	c.Flag("shard.index", "Index of this replica among --shard.total (instances split by a stable hash).").
		Default("0").IntVar(&f.shardIndex)
	c.Flag("shard.total", "Number of replicas sharing the shadows; 1 disables sharding.").
		Default("1").IntVar(&f.shardTotal)
	c.Flag("forecast.train-workers", "Concurrent model trainings. 0: GOMAXPROCS.").
		Default("0").IntVar(&f.trainWorkers)
	c.Flag("web.shutdown-timeout", "How long in-flight HTTP requests may take at shutdown.").
		Default("10s").DurationVar(&f.shutdownGrace)
	promslogflag.AddFlags(app, f.log)
	f.scaler = addScalerFlags(c)
	return command{clause: c, run: func() int { return f.run() }}
}

func checkCommand(app *kingpin.Application) command {
	c := app.Command("check", "Validate the configuration file and print every problem at once.")
	var file string
	c.Flag("config.file", "Configuration file to check.").Required().StringVar(&file)
	return command{clause: c, run: func() int {
		cfg, err := config.LoadFile(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
			return 1
		}
		if err := checkEventFiles(cfg, cfg.EventSources); err != nil {
			fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
			return 1
		}
		fmt.Printf("SUCCESS: %s is valid (%d shadows, %d resources)\n", file, len(cfg.Shadows), len(cfg.Resources))
		return 0
	}}
}

// loadConfig reads the configuration file, or the embedded default.
func (f *serveFlags) loadConfig() (*config.Config, error) {
	if f.configFile == "" {
		return config.Load(defaultConfig, "")
	}
	return config.LoadFile(f.configFile)
}

func (f *serveFlags) run() int {
	logger := promslog.New(f.log)
	if f.shardTotal < 1 || f.shardIndex < 0 || f.shardIndex >= f.shardTotal {
		logger.Error("Invalid sharding flags", "shard_index", f.shardIndex, "shard_total", f.shardTotal)
		return 2
	}
	cfg, err := f.loadConfig()
	if err != nil {
		logger.Error("Loading the configuration failed", "err", err)
		return 1
	}
	if f.configFile == "" {
		logger.Info("No --config.file given: serving the embedded default (NASA HTTP requests per minute, replayed fast)")
	}
	logger.Info("Starting shadowcast", "version", version.Info(), "build_context", version.BuildContext())

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("shadowcast"),
	)
	reloadOK := promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Name: "shadowcast_config_last_reload_successful",
		Help: "Whether the last configuration reload attempt was successful.",
	})
	reloadTime := promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Name: "shadowcast_config_last_reload_success_timestamp_seconds",
		Help: "Timestamp of the last successful configuration reload.",
	})

	var store *collector.Store
	if needsStore(cfg) {
		store, err = collector.OpenStore(collector.StoreOptions{
			Dir:              f.storagePath,
			Retention:        f.retentionFor(cfg),
			OutOfOrderWindow: longestHistory(cfg) + time.Hour,
		}, reg, logger.With("component", "store"))
		if err != nil {
			logger.Error("Opening the history store failed", "path", f.storagePath, "err", err)
			return 1
		}
		defer func() {
			if err := store.Close(); err != nil {
				logger.Error("Closing the history store failed", "err", err)
			}
		}()
	}

	sources := newSourceBuilder(reg, logger.With("component", "collector"))
	shadows, err := sources.shadowOptions(cfg)
	if err != nil {
		logger.Error("Building the sources failed", "err", err)
		return 1
	}
	evReg, evAPI, err := newEvents(cfg, cfg.EventSources, f.storagePath, reg, logger.With("component", "events"))
	if err != nil {
		logger.Error("Building the event sources failed", "err", err)
		return 1
	}
	opts := shadow.Options{
		Shadows:      shadows,
		Models:       models{},
		Events:       configEvents(cfg),
		EventSource:  evReg,
		TrainWorkers: f.trainWorkers,
		ShardIndex:   f.shardIndex,
		ShardTotal:   f.shardTotal,
		StateDir:     f.storagePath,
	}
	if store != nil {
		opts.Store = store
	}
	engine, err := shadow.New(opts, reg, logger.With("component", "engine"))
	if err != nil {
		logger.Error("Building the engine failed", "err", err)
		return 1
	}
	exposition := shadow.NewCollector(engine, cfg.Global.ExternalLabels)
	runRemoteWrite, err := newRemoteWriters(cfg, exposition, reg, logger.With("component", "remote_write"))
	if err != nil {
		logger.Error("Building remote write failed", "err", err)
		return 1
	}
	kpis, err := newKPICollector(cfg.KPIs, cfg.Prometheus, reg, logger.With("component", "kpi"))
	if err != nil {
		logger.Error("Building the KPI collector failed", "err", err)
		return 1
	}
	thresholds := newThresholdCollector(cfg)
	reg.MustRegister(thresholds)

	scaling, err := newScaling(cfg, engine, reg, logger.With("component", "webhook"))
	if err != nil {
		logger.Error("Building the scaling path failed", "err", err)
		return 1
	}
	// Learned policies with SLOs score their epochs on the KPIs.
	scaling.SetKPIs(kpis)

	var reloadMu sync.Mutex
	reload := func() error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		err := f.reload(engine, sources, scaling, thresholds, kpis, evReg, evAPI, logger.With("component", "events"))
		if err != nil {
			reloadOK.Set(0)
			logger.Error("Reloading the configuration failed; the previous one stays in effect", "err", err)
			return err
		}
		reloadOK.Set(1)
		reloadTime.SetToCurrentTime()
		logger.Info("Configuration reloaded", "file", f.configFile)
		return nil
	}
	reloadOK.Set(1)
	reloadTime.SetToCurrentTime()

	handler := web.New(web.Options{
		Engine:   engine,
		Gatherer: reg,
		Reload:   reload,
		Version:  version.Info(),
		Extra:    []web.TextWriter{exposition},
		KPIs:     kpiRows(kpis),
	}, reg, logger.With("component", "web"))
	scaling.Routes(handler.Router())
	evAPI.Routes(handler.Router())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); engine.Run(ctx) }()
	go func() { defer wg.Done(); scaling.Run(ctx) }()
	go func() { defer wg.Done(); evReg.Run(ctx) }()
	go func() { defer wg.Done(); runRemoteWrite(ctx) }()
	go func() { defer wg.Done(); kpis.Run(ctx) }()

	if store != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			compactAfterBackfill(ctx, engine, store, logger)
		}()
	}

	stopScaler, err := f.scaler.start(ctx, engine, reg, logger.With("component", "scaler"))
	if err != nil {
		logger.Error("Starting the KEDA scaler failed", "err", err)
		stop()
		wg.Wait()
		return 1
	}
	defer stopScaler()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = reload()
			}
		}
	}()

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	flags := &toolkitweb.FlagConfig{WebListenAddresses: &f.listen, WebSystemdSocket: new(bool), WebConfigFile: &f.webConfig}
	srvErr := make(chan error, 1)
	go func() { srvErr <- toolkitweb.ListenAndServe(srv, flags, logger.With("component", "web")) }()

	code := 0
	select {
	case <-ctx.Done():
		logger.Info("Shutting down")
	case err := <-srvErr:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP server failed", "err", err)
			code = 1
		}
		stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("HTTP shutdown incomplete", "err", err)
	}
	wg.Wait()
	return code
}

// reload re-reads the configuration and applies it everywhere, or nowhere.
func (f *serveFlags) reload(engine *shadow.Engine, sources *sourceBuilder, scaling *scaling, th *thresholdCollector, kpis *kpi.Collector,
	evReg *events.Registry, evAPI *events.API, evLogger *slog.Logger) error {
	cfg, err := f.loadConfig()
	if err != nil {
		return err
	}
	applyEvents, err := prepareEventsReload(cfg, cfg.EventSources, evReg, evAPI, evLogger)
	if err != nil {
		return err
	}
	shadows, err := sources.shadowOptions(cfg)
	if err != nil {
		return err
	}
	// Every component validates and builds its part first; only when all
	// of them accepted it does anything change.
	applyScaling, err := scaling.Prepare(cfg)
	if err != nil {
		return err
	}
	applyKPIs, err := kpis.Prepare(kpiDefinitions(cfg.KPIs))
	if err != nil {
		return err
	}
	applyShadows, err := engine.Prepare(shadows)
	if err != nil {
		return err
	}
	applyScaling()
	applyKPIs()
	applyShadows()
	applyEvents()
	th.set(cfg)
	return nil
}

// compactAfterBackfill compacts the store once every shadow has been served
// after start-up: the backfill wrote old samples out of order, which stay
// in memory (and slow to read) until compacted into blocks.
func compactAfterBackfill(ctx context.Context, engine *shadow.Engine, store *collector.Store, logger *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if ok, _ := engine.Ready(); ok {
			break
		}
	}
	if err := store.Compact(ctx); err != nil {
		logger.Warn("Compacting the history store after backfill failed", "err", err)
	}
}

func needsStore(cfg *config.Config) bool {
	for _, s := range cfg.Shadows {
		if s.Source.File == nil {
			return true
		}
	}
	return false
}

func longestHistory(cfg *config.Config) time.Duration {
	var d time.Duration
	for _, s := range cfg.Shadows {
		d = max(d, time.Duration(s.History))
	}
	return d
}

func (f *serveFlags) retentionFor(cfg *config.Config) time.Duration {
	if f.retention > 0 {
		return f.retention
	}
	return longestHistory(cfg) + 24*time.Hour
}

// logAttrs is a helper for tests that need a discard logger.
var discardLogger = slog.New(slog.DiscardHandler)

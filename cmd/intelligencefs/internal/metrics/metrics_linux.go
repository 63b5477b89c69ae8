//go:build linux

// Package metrics reports a mount's Counters (the plaintext cache and the
// Twilio client): the periodic "stats" log line and its SIGUSR1 loop, and
// the Prometheus registry and /metrics server of --metrics-addr.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Counters is one snapshot of what the periodic log line and the metrics
// report: the plaintext cache and the Twilio client.
type Counters struct {
	CacheHits, CacheMisses uint64
	CacheBytes             int64
	CacheEntries           int
	CacheEvictions         uint64
	APIRequests            int64
	ObjectDownloads        int64
	Retries                int64
	Errors                 int64
	BytesDownloaded        int64
	Throttled              int64 // 429 answers
	APILimit, ObjectLimit  int   // the adaptive concurrency limits now
	APIInFlight            int64
	ObjectsInFlight        int64
	DecryptFailures        int64
}

// LogCounters writes the periodic info line.
func LogCounters(log *slog.Logger, c Counters) {
	log.Info("stats",
		"cache_hits", c.CacheHits, "cache_misses", c.CacheMisses,
		"cache_bytes", c.CacheBytes, "cache_entries", c.CacheEntries,
		"cache_evictions", c.CacheEvictions,
		"fetches", c.APIRequests+c.ObjectDownloads,
		"api_requests", c.APIRequests, "object_downloads", c.ObjectDownloads,
		"retries", c.Retries, "errors", c.Errors, "decrypt_failures", c.DecryptFailures,
		"bytes_downloaded", c.BytesDownloaded,
		"throttled", c.Throttled, "api_limit", c.APILimit, "object_limit", c.ObjectLimit)
}

// StatsLoop logs Counters every interval (0: never) and whenever usr1
// delivers (SIGUSR1), until ctx ends.
func StatsLoop(ctx context.Context, log *slog.Logger, interval time.Duration, usr1 <-chan os.Signal, snap func() Counters) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-usr1:
		}
		LogCounters(log, snap())
	}
}

// NewFetchLatency is the histogram of HTTP attempt durations, labelled by
// kind (api, object), that fetch.Config.ObserveAttempt feeds.
func NewFetchLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "intelligencefs", Name: "fetch_request_duration_seconds",
		Help: "Duration of HTTP attempts, from a concurrency slot to the whole body read: kind=api (Twilio REST API) or kind=object (downloads from presigned locations).",
		// 5 ms to ~41 s.
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"kind"})
}

// ObserveLatency is the fetch.Config.ObserveAttempt hook of h.
func ObserveLatency(h *prometheus.HistogramVec) func(kind string, d time.Duration) {
	return func(kind string, d time.Duration) { h.WithLabelValues(kind).Observe(d.Seconds()) }
}

// NewRegistry exposes the Counters as Prometheus metrics, the
// request latency histograms, and the Go runtime's and the process's own.
func NewRegistry(snap func() Counters, latency *prometheus.HistogramVec) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, f func(c Counters) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "intelligencefs", Name: name, Help: help,
		}, func() float64 { return f(snap()) }))
	}
	gauge := func(name, help string, f func(c Counters) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "intelligencefs", Name: name, Help: help,
		}, func() float64 { return f(snap()) }))
	}
	counter("cache_hits_total", "Plaintext cache lookups that found the content.", func(c Counters) float64 { return float64(c.CacheHits) })
	counter("cache_misses_total", "Plaintext cache lookups that had to fetch and decrypt.", func(c Counters) float64 { return float64(c.CacheMisses) })
	counter("cache_evictions_total", "Entries dropped (and zeroed) to respect --cache-size.", func(c Counters) float64 { return float64(c.CacheEvictions) })
	gauge("cache_bytes", "Bytes of plaintext held in the cache.", func(c Counters) float64 { return float64(c.CacheBytes) })
	gauge("cache_entries", "Files held in the plaintext cache.", func(c Counters) float64 { return float64(c.CacheEntries) })
	counter("fetch_api_requests_total", "HTTP attempts to the Twilio REST API, retries included.", func(c Counters) float64 { return float64(c.APIRequests) })
	counter("fetch_object_downloads_total", "HTTP attempts to the object store, retries included.", func(c Counters) float64 { return float64(c.ObjectDownloads) })
	counter("fetch_retries_total", "HTTP attempts that were retries.", func(c Counters) float64 { return float64(c.Retries) })
	counter("fetch_errors_total", "Twilio operations that failed after retries (a 404 is an answer, not an error).", func(c Counters) float64 { return float64(c.Errors) })
	counter("fetch_throttled_total", "HTTP attempts answered 429 (Twilio 20429: the account's concurrency limit), retries included.", func(c Counters) float64 { return float64(c.Throttled) })
	gauge("fetch_api_concurrency_limit", "The adaptive limit of Twilio API requests in flight now.", func(c Counters) float64 { return float64(c.APILimit) })
	gauge("fetch_object_concurrency_limit", "The adaptive limit of object downloads in flight now.", func(c Counters) float64 { return float64(c.ObjectLimit) })
	counter("fetch_downloaded_bytes_total", "Encrypted object bytes downloaded.", func(c Counters) float64 { return float64(c.BytesDownloaded) })
	counter("decrypt_failures_total", "Envelopes that did not open: no key unwrapped the content key (EACCES), or the content failed authentication or was malformed (EIO).", func(c Counters) float64 { return float64(c.DecryptFailures) })
	gauge("fetch_api_in_flight", "Twilio REST API requests in flight now.", func(c Counters) float64 { return float64(c.APIInFlight) })
	gauge("fetch_object_downloads_in_flight", "Object downloads in flight now.", func(c Counters) float64 { return float64(c.ObjectsInFlight) })
	reg.MustRegister(latency)
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves /metrics on addr. The listener is opened first
// (Listen, while preparing the mount), so a busy or bad address
// fails before anything is mounted; serve starts answering once the mount,
// whose Counters it reports, is there.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen listens on addr.
func Listen(addr string, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && !ip.IsLoopback()) {
			log.Warn("metrics are served beyond loopback; they hold Counters only, no content", "addr", ln.Addr().String())
		}
	}
	return &Server{srv: &http.Server{ReadHeaderTimeout: 10 * time.Second}, ln: ln}, nil
}

// Serve answers /metrics from reg in the background.
func (s *Server) Serve(reg *prometheus.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.srv.Handler = mux
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+s.ln.Addr().String()+"/metrics")
}

// Close stops the server (and the listener, served or not).
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.ln.Close()
}

package node

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one replica's Prometheus collectors, in a registry of its own
// so that the replicas of an in-process cluster do not collide.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	propose       prometheus.Histogram
	commit        prometheus.Histogram
	batch         prometheus.Histogram
	leaderChanges prometheus.Counter
	stepDowns     *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	roleRestarts  *prometheus.CounterVec
	configChanges prometheus.Counter
	changesWaited *prometheus.CounterVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_http_requests_total", Help: "HTTP requests served, by method and status code.",
	}, []string{"method", "code"})
	m.propose = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rsml_propose_seconds",
		Help:    "Time from a proposal on this replica until it was applied and answered.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
	})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rsml_commit_seconds",
		Help:    "Time from the leader proposing a slot until it knew the slot chosen.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
	})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rsml_batch_commands", Help: "Commands per slot proposed by this replica as leader.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rsml_leader_changes_total", Help: "Times this replica saw the leader (or its ballot) change.",
	})
	m.stepDowns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_leader_step_downs_total",
		Help: "Times this replica stopped leading, by reason: quorum (no quorum answered heartbeats for an election timeout), ballot (a higher ballot was promised or leads), chosen (another leader's slots were chosen), handover.",
	}, []string{"reason"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_leader_transfers_total",
		Help: "Leadership handovers this replica began as leader, by outcome: started, handed_over, abandoned (the target did not take over in time, or the handover was called off).",
	}, []string{"outcome"})
	m.roleRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_role_restarts_total", Help: "Restarts of a role after it panicked, by role.",
	}, []string{"role"})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_dropped_messages_total", Help: "Messages dropped on receipt, by reason.",
	}, []string{"reason"})
	m.configChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rsml_config_changes_total", Help: "New configurations (membership changes) this replica learned of.",
	})
	m.changesWaited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rsml_membership_change_retries_total",
		Help: "Membership changes asked through this replica again, by reason: no_leader and busy (another change under way) were turned away before they were proposed; no_answer got no answer within an election timeout.",
	}, []string{"reason"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(m.requests, m.propose, m.commit, m.batch, m.leaderChanges, m.stepDowns, m.transfers, m.dropped, m.roleRestarts,
		m.configChanges, m.changesWaited,
		gauge("rsml_config", "Number of the latest configuration this replica knows.", func() float64 {
			return float64(n.members.Load().Latest().Num)
		}),
		gauge("rsml_ballot_round", "Round of the ballot of the leader this replica follows.", func() float64 {
			return float64(n.Status().Ballot.Round)
		}),
		gauge("rsml_is_leader", "1 if this replica leads.", func() float64 {
			if n.Status().IsLeader {
				return 1
			}
			return 0
		}),
		gauge("rsml_commit_seq", "Slots this replica knows chosen.", func() float64 { return float64(n.commit.Load()) }),
		gauge("rsml_applied_seq", "Slots this replica has applied.", func() float64 { return float64(n.applied.Load()) }),
		gauge("rsml_rev", "Rev of the last applied command.", func() float64 { return float64(n.rev.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rsml_snapshot_installs_total",
			Help: "Peers' snapshots this replica installed because it was behind their truncated logs."},
			func() float64 { return float64(n.installs.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rsml_witness_floors_total",
			Help:        "Witness floors this replica's learner delivered; on a witness, those its acceptor may truncate to.",
			ConstLabels: prometheus.Labels{"outcome": "taken"}},
			func() float64 { return float64(n.floorsTaken.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rsml_witness_floors_total",
			Help:        "Witness floors this replica's learner delivered; on a witness, those its acceptor may truncate to.",
			ConstLabels: prometheus.Labels{"outcome": "void"}},
			func() float64 { return float64(n.floorsRefused.Load()) }),
		gauge("rsml_chosen_log_base", "Highest slot dropped from this replica's chosen log (covered by a snapshot).",
			func() float64 { return float64(n.store.Chosen().Base()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rsml_peer_tls_refused_total",
			Help: "Connections to the consensus port refused at the TLS handshake (no or an untrusted certificate)."},
			func() float64 {
				if n.cfg.PeerTLS == nil {
					return 0
				}
				return float64(n.cfg.PeerTLS.Refused())
			}),
		gauge("rsml_acceptor_truncated", "Highest slot dropped from this replica's acceptor log (a witness's stays behind every full replica's snapshots).",
			func() float64 { return float64(n.acceptorTruncated.Load()) }),
		gauge("rsml_proposals_waiting", "Proposals on this replica waiting for their outcome.", func() float64 { return float64(n.inflight.Load()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observeRequest(method string, code int) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		// Any string is a method to net/http: one label per made-up
		// method would let anyone grow the series without end.
		method = "other"
	}
	m.requests.WithLabelValues(method, strconv.Itoa(code)).Inc()
}

func (m *metrics) observePropose(d time.Duration) { m.propose.Observe(d.Seconds()) }

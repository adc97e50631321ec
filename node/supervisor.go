package node

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

// roleSpec is how the supervisor (re)creates one role. A role with a
// standIn runs only while the replica's configuration gives it the role
// (wantRole); otherwise the stand-in holds its name, so that what is sent
// to the role (a tick, a stale leader's message) is dropped and counted
// rather than becoming a dead letter.
type roleSpec struct {
	role    msg.Role
	props   *actor.Props
	standIn *actor.Props
	run     bool // at start: the role runs (else its stand-in)
}

// wantRole asks the supervisor to run role (on) or its stand-in (off).
type wantRole struct {
	role msg.Role
	on   bool
}

// gate is the state of one role with a stand-in.
type gate struct {
	want, running bool
	switching     bool // the child is stopping; the next one starts on Terminated
	pid           *actor.PID
	spec          roleSpec
}

// supervisor is the replica's parent actor: it spawns the roles under their
// well-known names, and drives every role's clock with one ticker. Its
// strategy (restarts) restarts a panicking role in place, and past its limit
// takes the replica down.
type supervisor struct {
	specs    []roleSpec
	tick     time.Duration
	onSpawn  func(msg.Role, *actor.PID)
	onSwitch func(msg.Role, bool) // a gated role started (true) or stopped
	children map[string]*actor.PID
	gates    map[msg.Role]*gate
	stopping bool
	stopTick chan struct{}
	ticking  sync.WaitGroup
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.children = map[string]*actor.PID{}
		s.gates = map[msg.Role]*gate{}
		for _, sp := range s.specs {
			if sp.standIn == nil {
				s.spawn(ctx, sp.role, sp.props)
				continue
			}
			g := &gate{want: sp.run, running: sp.run, spec: sp}
			s.gates[sp.role] = g
			g.pid = s.spawn(ctx, sp.role, g.props())
		}
		s.startTicker(ctx.ActorSystem())
	case *actor.Stopping:
		s.stopping = true
		s.stopTicker()
	case wantRole:
		g := s.gates[m.role]
		if g == nil {
			return
		}
		g.want = m.on
		if !g.switching && g.running != g.want && g.pid != nil {
			g.switching = true
			ctx.Stop(g.pid)
		}
	case *actor.Terminated:
		for r, g := range s.gates {
			if g.pid == nil || !g.pid.Equal(m.Who) {
				continue
			}
			g.switching, g.pid = false, nil
			if s.stopping {
				return
			}
			g.running = g.want
			g.pid = s.spawn(ctx, r, g.props())
			if s.onSwitch != nil {
				s.onSwitch(r, g.running)
			}
		}
	}
}

// props is what the gate's role runs as now: the role or its stand-in.
func (g *gate) props() *actor.Props {
	if g.running {
		return g.spec.props
	}
	return g.spec.standIn
}

func (s *supervisor) spawn(ctx actor.Context, r msg.Role, props *actor.Props) *actor.PID {
	pid, err := ctx.SpawnNamed(props, r.String())
	if err != nil {
		ctx.Logger().Error("cannot spawn role", "role", r.String(), "err", err)
		return nil
	}
	s.children[r.String()] = pid
	if s.onSpawn != nil {
		s.onSpawn(r, pid)
	}
	return pid
}

func (s *supervisor) startTicker(sys *actor.ActorSystem) {
	s.stopTick = make(chan struct{})
	pids := make([]*actor.PID, 0, len(s.specs))
	for _, sp := range s.specs {
		// Fresh PIDs by name: they resolve to whichever instance is current
		// (a restarted role's, a stand-in's).
		pids = append(pids, actor.NewPID(sys.Address(), s.children[sp.role.String()].Id))
	}
	stop := s.stopTick
	s.ticking.Add(1)
	go func() {
		defer s.ticking.Done()
		t := time.NewTicker(s.tick)
		defer t.Stop()
		tick := &msg.Tick{}
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, pid := range pids {
					sys.Root.Send(pid, tick)
				}
			}
		}
	}()
}

func (s *supervisor) stopTicker() {
	if s.stopTick != nil {
		close(s.stopTick)
		s.stopTick = nil
		s.ticking.Wait()
	}
}

// standIn holds the name of a role this replica does not run: it drops what
// arrives, ticks silently, anything else counted (dropped: the role is not
// one the configuration gives this replica).
type standIn struct {
	role    msg.Role
	dropped func(msg.Role, any)
}

func (a *standIn) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *msg.Tick, actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		a.dropped(a.role, m)
	}
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Status is a replica's GET /v1/status answer, field for field.
type Status struct {
	ID         string            `json:"id"`
	Leader     string            `json:"leader"` // "" while no leader is known
	IsLeader   bool              `json:"is_leader"`
	Ballot     string            `json:"ballot"`
	CommitSeq  uint64            `json:"commit_seq"`
	AppliedSeq uint64            `json:"applied_seq"`
	Peers      map[string]string `json:"peers"` // replica id -> consensus address (not HTTP)
}

// EndpointStatus is one endpoint's answer to StatusAll.
type EndpointStatus struct {
	Endpoint string
	Status   Status // zero when Err is set
	Err      error
}

// Status asks one endpoint for its status, once, without retries. endpoint
// need not be one of the client's.
func (c *Client) Status(ctx context.Context, endpoint string) (Status, error) {
	ep, err := normalizeEndpoint(endpoint)
	if err != nil {
		return Status{}, fmt.Errorf("client: %w", err)
	}
	st, err := c.status(ctx, ep)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", ep, err)
	}
	return st, nil
}

// StatusAll asks every endpoint for its status at once and returns one
// answer per endpoint, in the client's order. The error is non-nil only when
// no endpoint answered.
func (c *Client) StatusAll(ctx context.Context) ([]EndpointStatus, error) {
	out := make([]EndpointStatus, len(c.endpoints))
	var wg sync.WaitGroup
	for i, ep := range c.endpoints {
		wg.Go(func() {
			st, err := c.status(ctx, ep)
			out[i] = EndpointStatus{Endpoint: ep, Status: st, Err: err}
		})
	}
	wg.Wait()
	var errs []error
	for i, s := range out {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Endpoint, s.Err))
			continue
		}
		c.prefer(i, s.Status)
	}
	if len(errs) == len(out) {
		return out, fmt.Errorf("no endpoint answered: %w", errors.Join(errs...))
	}
	return out, nil
}

// status is one GET /v1/status to ep, a normalized endpoint.
func (c *Client) status(ctx context.Context, ep string) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.set.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/v1/status", nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Status{}, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, apiError(reply{status: resp.StatusCode, body: body})
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("bad status answer: %w", err)
	}
	return st, nil
}

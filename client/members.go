package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Member is one replica of the cluster's configuration.
type Member struct {
	ID      string   `json:"id"`
	Address string   `json:"address"` // HOST:PORT of its consensus transport
	HTTP    string   `json:"http,omitempty"`
	Roles   []string `json:"roles,omitempty"` // proposer, acceptor, learner; none: all three
}

// Members returns the latest configuration's number and members (GET
// /v1/members) as the replica asked knows them.
func (c *Client) Members(ctx context.Context) (config uint64, members []Member, err error) {
	m, err := c.Membership(ctx)
	return m.Config, m.Members, err
}

// Membership is GET /v1/members whole: the latest configuration, and the
// cluster's first one with α, which a joining replica needs.
type Membership struct {
	Config  uint64   `json:"config"`
	Members []Member `json:"members"`
	First   []Member `json:"first"`
	Alpha   uint64   `json:"alpha"`
}

// Membership returns what GET /v1/members answers.
func (c *Client) Membership(ctx context.Context) (Membership, error) {
	rep, err := c.do(ctx, &call{op: "member list", method: http.MethodGet, path: "/v1/members"})
	if err != nil {
		return Membership{}, err
	}
	var out Membership
	if err := json.Unmarshal(rep.body, &out); err != nil || out.Config == 0 {
		return Membership{}, fmt.Errorf("member list: malformed answer %q", rep.body)
	}
	return out, nil
}

// AddMember adds m to the configuration (POST /v1/members) and returns the
// new configuration's number once it is in force. An id or address in use,
// a removed id, or a configuration left without an acceptor or a proposer
// is ErrConflict. Asking again after an error is safe: an add that went
// through succeeds again.
func (c *Client) AddMember(ctx context.Context, m Member) (uint64, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("member add: %w", err)
	}
	return c.memberCall(ctx, &call{op: "member add", method: http.MethodPost, path: "/v1/members",
		header: http.Header{"Content-Type": {"application/json"}}, body: body})
}

// RemoveMember removes replica id from the configuration (DELETE
// /v1/members/{id}) and returns the new configuration's number once it is in
// force. The id can never be used again. An unknown id is ErrConflict;
// asking again after an error is safe.
func (c *Client) RemoveMember(ctx context.Context, id string) (uint64, error) {
	return c.memberCall(ctx, &call{op: "member remove", method: http.MethodDelete, path: "/v1/members/" + url.PathEscape(id)})
}

func (c *Client) memberCall(ctx context.Context, cl *call) (uint64, error) {
	rep, err := c.do(ctx, cl)
	if err != nil {
		return 0, err
	}
	var out struct {
		Config uint64 `json:"config"`
	}
	if err := json.Unmarshal(rep.body, &out); err != nil || out.Config == 0 {
		return 0, fmt.Errorf("%s: malformed answer %q", cl.op, rep.body)
	}
	return out.Config, nil
}

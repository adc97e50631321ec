package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Leader is the answer of TransferLeader: the replica that leads now, and
// its ballot.
type Leader struct {
	ID     string `json:"leader"`
	Ballot string `json:"ballot"`
}

// TransferLeader moves leadership to replica id ("" for any replica other
// than the current leader) and returns once it leads (POST /v1/leader). No
// write fails for it. A replica that is not a member is ErrConflict; a
// target that did not take over in time (it is down, or cut off) is
// ErrTimeout, and the old leader leads on. Asking again is safe.
func (c *Client) TransferLeader(ctx context.Context, id string) (Leader, error) {
	body := []byte(`{}`)
	if id != "" {
		body, _ = json.Marshal(map[string]string{"id": id})
	}
	rep, err := c.do(ctx, &call{op: "leader transfer", method: http.MethodPost, path: "/v1/leader",
		header: http.Header{"Content-Type": {"application/json"}}, body: body})
	if err != nil {
		return Leader{}, err
	}
	var l Leader
	if err := json.Unmarshal(rep.body, &l); err != nil || l.ID == "" {
		return Leader{}, fmt.Errorf("leader transfer: malformed answer %q", rep.body)
	}
	return l, nil
}

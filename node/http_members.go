package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

// membersPrefix is the path of one member: DELETE /v1/members/{id}.
const membersPrefix = "/v1/members/"

// memberJSON is a member as the HTTP API shows and takes it.
type memberJSON struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	HTTP    string   `json:"http,omitempty"`
	Roles   []string `json:"roles,omitempty"`
}

func toMemberJSON(m membership.Member) memberJSON {
	return memberJSON{ID: m.ID.String(), Address: m.Addr, HTTP: m.HTTP, Roles: m.Roles.Names()}
}

// members serves GET and POST /v1/members.
func (h *httpAPI) members(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if r.Method != http.MethodPost {
		num, ms := h.n.Members()
		out := make([]memberJSON, len(ms))
		for i, m := range ms {
			out[i] = toMemberJSON(m)
		}
		alpha, first := h.n.FirstMembers()
		firstOut := make([]memberJSON, len(first))
		for i, m := range first {
			firstOut[i] = toMemberJSON(m)
		}
		// first and alpha: what a replica that joins needs to follow the
		// configurations from the start (rsml-node run --join).
		writeJSON(w, http.StatusOK, map[string]any{"config": num, "members": out, "first": firstOut, "alpha": alpha})
		return
	}
	body, ok := readBody(w, r, "member", 4096)
	if !ok {
		return
	}
	var req memberJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed member: "+err.Error())
		return
	}
	id, err := parseID(req.ID)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if req.Address == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "a member needs an address (HOST:PORT of its consensus transport)")
		return
	}
	m := membership.Member{ID: id, Addr: req.Address, HTTP: req.HTTP, Roles: membership.All}
	if len(req.Roles) > 0 {
		if m.Roles, err = membership.ParseRoles(req.Roles); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "roles: "+err.Error())
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	num, err := h.n.AddMember(ctx, m)
	h.memberResult(w, num, err)
}

// member serves DELETE /v1/members/{id}.
func (h *httpAPI) member(w http.ResponseWriter, r *http.Request, rest string) {
	if !allow(w, r, http.MethodDelete) {
		return
	}
	id, err := parseID(rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	num, err := h.n.RemoveMember(ctx, id)
	h.memberResult(w, num, err)
}

func (h *httpAPI) memberResult(w http.ResponseWriter, num uint64, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]uint64{"config": num})
	case errors.Is(err, ErrMemberConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrNotCaughtUp):
		// Certainly not promoted: a 503 as for a write never proposed.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_caught_up", err.Error())
	default:
		h.fail(w, err, true)
	}
}

func parseID(s string) (msg.NodeID, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("id %q is not a replica id (a positive integer)", s)
	}
	return msg.NodeID(id), nil
}

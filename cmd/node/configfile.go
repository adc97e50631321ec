package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rsml-go/rsml/msg"
)

// fileConfig is the config file of DESIGN.md §4.1: today's shape and the
// RSML integration plan's, in TOML or (by the extension .json) JSON. The
// fields are pointers so that a setting the file leaves out can be told from
// one it sets to "" or 0: an explicit empty value is checked, not ignored.
type fileConfig struct {
	Consensus fileConsensus `toml:"consensus" json:"consensus"`
	Log       struct {
		Format *string `toml:"format" json:"format"`
		Level  *string `toml:"level" json:"level"`
	} `toml:"log" json:"log"`
}

type fileConsensus struct {
	Engine    *string `toml:"engine" json:"engine"`
	ReplicaID *string `toml:"replica_id" json:"replica_id"`
	ClusterID *string `toml:"cluster_id" json:"cluster_id"`
	Storage   struct {
		Type    *string `toml:"type" json:"type"`
		Dir     *string `toml:"dir" json:"dir"`
		WALPath *string `toml:"wal_path" json:"wal_path"`
	} `toml:"storage" json:"storage"`
	Transport struct {
		Type *string `toml:"type" json:"type"`
		Bind *string `toml:"bind" json:"bind"`
	} `toml:"transport" json:"transport"`
	HTTP              *string `toml:"http" json:"http"`
	ElectionTimeout   *string `toml:"election_timeout" json:"election_timeout"`
	HeartbeatInterval *string `toml:"heartbeat_interval" json:"heartbeat_interval"`
	MaxKeyBytes       *int    `toml:"max_key_bytes" json:"max_key_bytes"`
	MaxValueBytes     *int    `toml:"max_value_bytes" json:"max_value_bytes"`
	SnapshotEvery     *uint64 `toml:"snapshot_every" json:"snapshot_every"`
	SnapshotBytes     *uint64 `toml:"snapshot_bytes" json:"snapshot_bytes"`
	TLS               struct {
		PeerCert   *string `toml:"peer_cert" json:"peer_cert"`
		PeerKey    *string `toml:"peer_key" json:"peer_key"`
		PeerCA     *string `toml:"peer_ca" json:"peer_ca"`
		ClientCert *string `toml:"client_cert" json:"client_cert"`
		ClientKey  *string `toml:"client_key" json:"client_key"`
		ClientCA   *string `toml:"client_ca" json:"client_ca"`
		AuthTokens *string `toml:"auth_tokens" json:"auth_tokens"`
	} `toml:"tls" json:"tls"`
	Cluster struct {
		Acceptors []string      `toml:"acceptors" json:"acceptors"`
		Proposers []string      `toml:"proposers" json:"proposers"`
		Learners  []string      `toml:"learners" json:"learners"`
		Endpoints endpointTable `toml:"endpoints" json:"endpoints"`
	} `toml:"cluster" json:"cluster"`
}

// endpointTable holds [consensus.cluster.endpoints] as decoded, before its
// entries are checked: an entry is a string or a table, which neither
// decoder can put in one Go type, and checking them in one place, for both
// formats, lets every error name the entry's full key.
type endpointTable map[string]any

// UnmarshalTOML keeps the table for parseEndpoints. Returning nil marks the
// keys below it as decoded, so parseEndpoints must refuse unknown ones.
func (t *endpointTable) UnmarshalTOML(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("consensus.cluster.endpoints: want a table of replica id = address, got %s", show(v))
	}
	*t = m
	return nil
}

// UnmarshalJSON keeps the object for parseEndpoints, with numbers as
// json.Number so that a port of 7001.5 is refused rather than rounded.
func (t *endpointTable) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return fmt.Errorf("consensus.cluster.endpoints: want an object of replica id: address, got %s", show(v))
	}
	*t = m
	return nil
}

// endpoint is one replica's entry in consensus.cluster.endpoints.
type endpoint struct {
	consensus string // HOST:PORT its peers reach it at
	client    string // HOST:PORT of its HTTP API; "" when the entry gives none
}

const endpointsKey = "consensus.cluster.endpoints"

// parseEndpoints checks every entry: "HOST:PORT", or a table with host,
// consensus_port and optionally client_port, and nothing else.
func parseEndpoints(t endpointTable) (map[msg.NodeID]endpoint, error) {
	if t == nil {
		return nil, nil
	}
	out := map[msg.NodeID]endpoint{}
	for _, k := range sortedKeys(t) {
		path := endpointsKey + "." + k
		id, err := parseID(k)
		if err != nil {
			return nil, fmt.Errorf("%s: replica id %w", path, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%s: replica %d listed twice", path, id)
		}
		ep, err := parseEndpoint(path, t[k])
		if err != nil {
			return nil, err
		}
		out[id] = ep
	}
	return out, nil
}

func parseEndpoint(path string, v any) (endpoint, error) {
	switch v := v.(type) {
	case string:
		if err := checkHostPort(v); err != nil {
			return endpoint{}, fmt.Errorf("%s: %w", path, err)
		}
		return endpoint{consensus: v}, nil
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if k != "host" && k != "consensus_port" && k != "client_port" {
				return endpoint{}, fmt.Errorf("%s.%s: unknown setting (an endpoint has host, consensus_port and client_port)", path, k)
			}
		}
		hv, ok := v["host"]
		if !ok {
			return endpoint{}, fmt.Errorf("%s.host: required", path)
		}
		host, ok := hv.(string)
		if !ok || host == "" || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
			return endpoint{}, fmt.Errorf("%s.host %s: want a host name or IP address, without a port", path, show(hv))
		}
		if _, ok := v["consensus_port"]; !ok {
			return endpoint{}, fmt.Errorf("%s.consensus_port: required", path)
		}
		cp, err := portOf(path+".consensus_port", v["consensus_port"])
		if err != nil {
			return endpoint{}, err
		}
		ep := endpoint{consensus: net.JoinHostPort(host, cp)}
		if raw, ok := v["client_port"]; ok {
			p, err := portOf(path+".client_port", raw)
			if err != nil {
				return endpoint{}, err
			}
			ep.client = net.JoinHostPort(host, p)
		}
		return ep, nil
	default:
		return endpoint{}, fmt.Errorf("%s %s: want \"HOST:PORT\" or { host = \"H\", consensus_port = N, client_port = M }", path, show(v))
	}
}

// portOf accepts a TOML integer or a JSON number that is a whole port.
func portOf(path string, v any) (string, error) {
	var n int64
	ok := false
	switch x := v.(type) {
	case int64:
		n, ok = x, true
	case json.Number:
		i, err := x.Int64()
		n, ok = i, err == nil
	}
	if !ok || n < 1 || n > 65535 {
		return "", fmt.Errorf("%s %s: want a port number, 1 to 65535", path, show(v))
	}
	return fmt.Sprint(n), nil
}

// show prints a decoded value as the file would have written it.
func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "(a table)"
	case []any:
		return "(a list)"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configFile is a config file after decoding and the checks that need no
// other source: the checks that compare settings with each other run on
// the merged settings, so that a flag can fill in what the file leaves out.
type configFile struct {
	path string
	fc   fileConfig
	// storageType is consensus.storage.type, or "wal" when the file gives
	// only wal_path; nil when it gives neither.
	storageType *string
	// dataDir is consensus.storage.dir or .wal_path; dataDirKey says which.
	dataDir           *string
	dataDirKey        string
	electionTimeout   *time.Duration
	heartbeatInterval *time.Duration
	endpoints         map[msg.NodeID]endpoint
	roles             []roleList
}

// roleList is one of the role lists of [consensus.cluster].
type roleList struct {
	key string // consensus.cluster.acceptors, ...
	ids []string
}

// readConfig decodes the file at path, refusing unknown settings, and
// checks what can be checked within the file alone. Errors start with
// "config PATH:" and name the setting and its bad value.
func readConfig(path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s: no such file", path)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cf := &configFile{path: path}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		err = decodeJSON(data, &cf.fc)
	} else {
		err = decodeTOML(data, &cf.fc)
	}
	if err == nil {
		err = cf.check()
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cf, nil
}

func decodeTOML(data []byte, fc *fileConfig) error {
	md, err := toml.Decode(string(data), fc)
	if err != nil {
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("unknown settings: %s", strings.Join(keys, ", "))
	}
	return nil
}

// decodeJSON decodes one JSON object. encoding/json names only the last key
// of an unknown field and keeps the last of duplicate keys, so a first pass
// over the tokens names unknown settings by their full key, as TOML does,
// and refuses a key given twice, which TOML refuses too.
func decodeJSON(data []byte, fc *fileConfig) error {
	var unknown []string
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := walkJSON(dec, "", reflect.TypeOf(fc).Elem(), &unknown); err != nil {
		return jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more data after the JSON object")
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown settings: %s", strings.Join(unknown, ", "))
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return jsonError(data, dec.Decode(fc))
}

// walkJSON reads one value from dec. t is the Go type it decodes into when
// it is a struct (whose json tags are the known keys); nil means any key
// goes (maps, and values the endpoint parser checks itself).
func walkJSON(dec *json.Decoder, path string, t reflect.Type, unknown *[]string) error {
	tok, err := dec.Token()
	if err == io.EOF {
		if path == "" {
			return errors.New("empty file: want a JSON object")
		}
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		if path == "" {
			return errors.New("want a JSON object")
		}
		return nil
	}
	if path == "" && d != '{' {
		return errors.New("want a JSON object")
	}
	if d == '[' {
		for dec.More() {
			if err := walkJSON(dec, path, nil, unknown); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != io.EOF {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		k, _ := kt.(string)
		key := k
		if path != "" {
			key = path + "." + k
		}
		if seen[k] {
			return fmt.Errorf("%s: set twice", key)
		}
		seen[k] = true
		var ft reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			f, ok := jsonField(t, k)
			if !ok {
				*unknown = append(*unknown, key)
			} else {
				ft = f
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() != reflect.Struct {
					ft = nil
				}
			}
		}
		if err := walkJSON(dec, key, ft, unknown); err != nil {
			return err
		}
	}
	if _, err = dec.Token(); err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// jsonError names the line of a syntax error and the setting of a type
// error, which encoding/json gives only as a byte offset and a Go type.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: %v", 1+bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n")), err)
	case errors.As(err, &typ):
		want := typ.Type.String()
		switch typ.Type.Kind() {
		case reflect.Int, reflect.Uint64:
			want = "an integer"
		case reflect.String:
			want = "a string"
		case reflect.Slice:
			want = "a list"
		case reflect.Struct, reflect.Map:
			want = "an object"
		}
		return fmt.Errorf("%s: got %s, want %s", typ.Field, typ.Value, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends before the object does")
	}
	return err
}

// check runs the checks that need only the file: the engine, the storage
// table's own consistency, durations and the endpoint entries.
func (cf *configFile) check() error {
	c := &cf.fc.Consensus
	if c.Engine != nil && *c.Engine != "rsml" {
		return fmt.Errorf("consensus.engine %q: rsml-node runs engine \"rsml\"", *c.Engine)
	}
	if err := cf.checkStorage(); err != nil {
		return err
	}
	if t := c.Transport.Type; t != nil && *t != "tcp" && *t != "memory" {
		return fmt.Errorf("consensus.transport.type %q: want tcp or memory", *t)
	}
	var err error
	if cf.electionTimeout, err = parseDur("consensus.election_timeout", c.ElectionTimeout); err != nil {
		return err
	}
	if cf.heartbeatInterval, err = parseDur("consensus.heartbeat_interval", c.HeartbeatInterval); err != nil {
		return err
	}
	if cf.endpoints, err = parseEndpoints(c.Cluster.Endpoints); err != nil {
		return err
	}
	for _, r := range []roleList{{"consensus.cluster.acceptors", c.Cluster.Acceptors},
		{"consensus.cluster.proposers", c.Cluster.Proposers}, {"consensus.cluster.learners", c.Cluster.Learners}} {
		if r.ids != nil {
			cf.roles = append(cf.roles, r)
		}
	}
	return nil
}

// checkStorage refuses a storage table that contradicts itself: wal_path
// belongs to type "wal" and dir to type "nutsdb" (the plan's name and
// ours for the same thing), and memory has no directory at all. A table
// with only wal_path is type "wal".
func (cf *configFile) checkStorage() error {
	st := cf.fc.Consensus.Storage
	typ := st.Type
	if typ != nil {
		switch *typ {
		case "nutsdb", "wal", "memory":
		default:
			return fmt.Errorf("consensus.storage.type %q: want nutsdb, wal (nutsdb in wal_path) or memory", *typ)
		}
	}
	switch {
	case st.Dir != nil && st.WALPath != nil:
		return fmt.Errorf("consensus.storage: dir %q and wal_path %q: give one (dir with type \"nutsdb\", wal_path with type \"wal\")", *st.Dir, *st.WALPath)
	case typ != nil && *typ == "memory" && (st.Dir != nil || st.WALPath != nil):
		key, v := "dir", st.Dir
		if v == nil {
			key, v = "wal_path", st.WALPath
		}
		return fmt.Errorf("consensus.storage.%s %q: type \"memory\" keeps nothing on disk", key, *v)
	case typ != nil && *typ == "nutsdb" && st.WALPath != nil:
		return fmt.Errorf("consensus.storage.wal_path %q: type \"nutsdb\" takes dir (wal_path goes with type \"wal\")", *st.WALPath)
	case typ != nil && *typ == "wal" && st.Dir != nil:
		return fmt.Errorf("consensus.storage.dir %q: type \"wal\" takes wal_path (dir goes with type \"nutsdb\")", *st.Dir)
	}
	cf.storageType = typ
	if st.WALPath != nil {
		if typ == nil {
			cf.storageType = ptr("wal")
		}
		cf.dataDir, cf.dataDirKey = st.WALPath, "consensus.storage.wal_path"
	} else if st.Dir != nil {
		cf.dataDir, cf.dataDirKey = st.Dir, "consensus.storage.dir"
	}
	if cf.dataDir != nil && *cf.dataDir == "" {
		return fmt.Errorf("%s \"\": want a directory", cf.dataDirKey)
	}
	return nil
}

func parseDur(key string, v *string) (*time.Duration, error) {
	if v == nil {
		return nil, nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want a duration such as \"300ms\"", key, *v)
	}
	return &d, nil
}

func ptr[T any](v T) *T { return &v }

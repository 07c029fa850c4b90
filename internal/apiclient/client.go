package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/wirejson"
)

// Client speaks the /v1 protocol to one server.
type Client struct {
	base    atomic.Value // string
	http    *http.Client
	token   atomic.Value // string
	offline atomic.Bool
	// gzipOK is whether the server said, in the Accept-Encoding of an
	// answer, that it takes gzip request bodies.
	gzipOK atomic.Bool
}

// NewClient returns a client for the server at baseURL, which may be empty
// until the user types one. A nil hc uses a client with timeouts suited to
// a weak mobile link.
func New(baseURL string, hc *http.Client) (*Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	c := &Client{http: hc}
	c.token.Store("")
	c.base.Store("")
	if baseURL != "" {
		if err := c.SetBaseURL(baseURL); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CheckURL checks a server address a person typed.
func CheckURL(baseURL string) (string, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(baseURL), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server address %q: want http://host:port or https://host", baseURL)
	}
	return u.String(), nil
}

// SetBaseURL points the client at another server.
func (c *Client) SetBaseURL(baseURL string) error {
	u, err := CheckURL(baseURL)
	if err != nil {
		return err
	}
	if old := c.base.Swap(u); old != u {
		c.gzipOK.Store(false) // another server: it says again what it takes
	}
	return nil
}

// BaseURL is the server's address.
func (c *Client) BaseURL() string { return c.base.Load().(string) }

// SetToken sets the bearer token sent with every request.
func (c *Client) SetToken(t string) { c.token.Store(t) }

// SetOffline makes every request fail at once as if there were no signal,
// for testers.
func (c *Client) SetOffline(off bool) { c.offline.Store(off) }

// Offline reports whether no signal is being simulated.
func (c *Client) Offline() bool { return c.offline.Load() }

// Error is a failed request: the server's plain answer, or a network
// failure, with whether and when to try again.
type Error struct {
	Status     int // 0 when no answer arrived
	Detail     contract.ErrorDetail
	RetryAfter time.Duration // from the server's Retry-After, if any
	Err        error         // the network failure, if any

	takesGzip bool // the answer said Accept-Encoding: gzip
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "no connection to the server: " + e.Err.Error()
	}
	return e.Detail.Message
}

// Unwrap gives the network failure, if any, and the failure as the
// protocol's *contract.Error, so callers that know only the contract still
// read its code and kind: errors.As(err, new(*contract.Error)).
func (e *Error) Unwrap() []error {
	errs := []error{e.Contract()}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Contract says the failure in the protocol's terms. With no answer, it is
// unavailable and transient; an answer without a code is invalid, or
// unavailable when the server failed; the kind is transient whenever trying
// again may help.
func (e *Error) Contract() *contract.Error {
	if e.Status == 0 {
		return &contract.Error{Kind: contract.Transient, Code: contract.CodeUnavailable, Message: e.Error()}
	}
	code, kind := e.Detail.Code, e.Detail.Kind
	if code == "" {
		code = contract.CodeInvalid
		if e.Status >= http.StatusInternalServerError {
			code = contract.CodeUnavailable
		}
	}
	if kind == "" {
		kind = contract.KindOf(code)
	}
	if e.Transient() {
		kind = contract.Transient
	}
	return &contract.Error{Kind: kind, Code: code, Message: e.Error()}
}

// Transient reports whether trying again later may help.
func (e *Error) Transient() bool {
	return e.Status == 0 || e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Detail.Retry ||
		e.Detail.Kind == contract.Transient
}

// ErrNoSignal is the failure of a request made while no signal is simulated.
var ErrNoSignal = errors.New("no signal")

// IsTransient reports whether err may go away by trying again.
func IsTransient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Transient()
	}
	return !errors.Is(err, context.Canceled)
}

// ErrorCode returns the code of the server's answer in err, or "" when no
// answer arrived.
func ErrorCode(err error) contract.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail.Code
	}
	return ""
}

// RetryAfter returns the wait the server asked for, or zero.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsUnauthorized reports whether the sign-in is no longer valid.
func IsUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

// do sends a request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var (
		resp *http.Response
		err  error
	)
	if in != nil {
		b, merr := json.Marshal(in)
		if merr != nil {
			return merr
		}
		resp, err = c.sendJSON(ctx, method, path, b)
	} else {
		resp, err = c.send(ctx, method, path, nil, "", "")
	}
	if err != nil {
		return err
	}
	return decode(resp, method, path, out)
}

// decode reads a whole answer, to its end, and decodes it into out; a nil
// out discards it.
func decode(resp *http.Response, method, path string, out any) error {
	defer resp.Body.Close()
	b, err := readBody(resp)
	if err == nil && out != nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		return &Error{Err: fmt.Errorf("reading the answer to %s %s: %w", method, path, err)}
	}
	return nil
}

// sendJSON sends a JSON body, compressed with gzip when it is large enough
// and the server said it takes gzip.
func (c *Client) sendJSON(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	if len(body) >= compressMin && c.gzipOK.Load() {
		resp, err := c.send(ctx, method, path, bytes.NewReader(compress(body)), "application/json", "gzip")
		var e *Error
		if !errors.As(err, &e) || (e.Status != http.StatusBadRequest && e.Status != http.StatusUnsupportedMediaType) || e.takesGzip {
			return resp, err
		}
		// A refusal that does not say the server takes gzip comes from a
		// server that could not read the body (an older one now at this
		// address), and that applied nothing: send it as it is, and
		// compress no more until a server says it takes gzip.
		c.gzipOK.Store(false)
	}
	return c.send(ctx, method, path, bytes.NewReader(body), "application/json", "")
}

// send sends a request and returns a 2xx answer, whose body reads
// decompressed; anything else is an *Error. Every answer's body is read to
// its end, or nearly, before it is closed, so that its connection carries
// the next request.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType, encoding string) (*http.Response, error) {
	if c.offline.Load() {
		return nil, &Error{Err: ErrNoSignal}
	}
	base := c.BaseURL()
	if base == "" {
		return nil, errors.New("no server address: set one in Settings")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	// Named here, not left to the transport, so that the answer reads the
	// same over any transport and whoever wraps it sees the bytes that
	// crossed the network.
	req.Header.Set("Accept-Encoding", "gzip")
	if t := c.token.Load().(string); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Err: err}
	}
	if takesGzip(resp.Header) {
		c.gzipOK.Store(true)
	}
	if err := openBody(resp); err != nil {
		resp.Body.Close()
		return nil, &Error{Err: fmt.Errorf("reading the answer to %s %s: %w", method, path, err)}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &Error{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After")), takesGzip: takesGzip(resp.Header)}
	var eb contract.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
		e.Detail = eb.Error
	} else {
		e.Detail = contract.ErrorDetail{Code: contract.CodeUnavailable, Message: fmt.Sprintf("the server answered %s", resp.Status)}
	}
	return nil, e
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// Login signs in and keeps the token for later requests.
func (c *Client) Login(ctx context.Context, user, password, deviceID string) (contract.LoginResponse, error) {
	var out contract.LoginResponse
	err := c.do(ctx, "POST", "/v1/login", contract.LoginRequest{Username: user, Password: password, DeviceID: deviceID}, &out)
	if err == nil {
		c.SetToken(out.Token)
	}
	return out, err
}

// Logout revokes the token on the server.
func (c *Client) Logout(ctx context.Context) error { return c.do(ctx, "POST", "/v1/logout", nil, nil) }

// Health asks whether the server is there.
func (c *Client) Health(ctx context.Context) error { return c.do(ctx, "GET", "/healthz", nil, nil) }

// Rules fetches the rules in force.
func (c *Client) Rules(ctx context.Context) (*rulebook.Rules, error) {
	var out contract.RulesResponse
	if err := c.do(ctx, "GET", "/v1/rules", nil, &out); err != nil {
		return nil, err
	}
	if len(out.Rules) == 0 || string(out.Rules) == "null" {
		return nil, &Error{Err: errors.New("the server sent no rules")}
	}
	rules := new(rulebook.Rules)
	if err := json.Unmarshal(out.Rules, rules); err != nil {
		return nil, fmt.Errorf("the server's rules: %w", err)
	}
	if err := rules.Compile(); err != nil {
		return nil, fmt.Errorf("the server's rules: %w", err)
	}
	return rules, nil
}

// Users fetches the people the device may show.
func (c *Client) Users(ctx context.Context) ([]contract.User, error) {
	var out contract.UsersResponse
	return out.Users, c.do(ctx, "GET", "/v1/users", nil, &out)
}

// Push sends a batch of operations. The answer has one result per
// operation and the server's copies of the records they wrote.
func (c *Client) Push(ctx context.Context, ops []contract.Operation) (contract.PushResponse, error) {
	body, err := PushBody(ops)
	if err != nil {
		return contract.PushResponse{}, err
	}
	raw, err := c.SendPush(ctx, body, len(ops))
	if err != nil {
		return contract.PushResponse{}, err
	}
	return raw.Decode()
}

// PushBody encodes a batch of operations for SendPush.
func PushBody(ops []contract.Operation) ([]byte, error) {
	return json.Marshal(contract.PushRequest{Ops: ops})
}

// PushBodyOf makes the body of a push from operations already encoded.
func PushBodyOf(ops []json.RawMessage) []byte {
	n := 16
	for _, op := range ops {
		n += len(op) + 1
	}
	body := append(make([]byte, 0, n), `{"ops":[`...)
	for i, op := range ops {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, op...)
	}
	return append(body, "]}"...)
}

// RawAnswer is a push answer as it arrived: the server has applied the
// batch; the answer is not decoded yet.
type RawAnswer struct {
	body []byte
	ops  int
}

// SendPush sends a batch encoded by PushBody, of n operations, and returns
// its answer once the server has sent all of it. Decoding it is left to
// the caller, who may send the next batch first.
func (c *Client) SendPush(ctx context.Context, body []byte, n int) (*RawAnswer, error) {
	resp, err := c.sendJSON(ctx, "POST", "/v1/push", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("reading the answer to POST /v1/push: %w", err)}
	}
	return &RawAnswer{body: b, ops: n}, nil
}

// maxAnswer bounds the buffer made up front for an answer of a stated size.
const maxAnswer = 64 << 20

// readBody reads a whole answer, in one piece when the server said its size.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxAnswer {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(resp.Body)
}

// Decode reads the answer: one result per operation sent, and copies.
func (a *RawAnswer) Decode() (contract.PushResponse, error) {
	out, err := wirejson.DecodePushResponse(a.body)
	if err != nil {
		return contract.PushResponse{}, &Error{Err: fmt.Errorf("reading the answer to POST /v1/push: %w", err)}
	}
	if len(out.Results) != a.ops {
		return contract.PushResponse{}, &Error{Err: fmt.Errorf("the server answered %d results for %d operations", len(out.Results), a.ops)}
	}
	return out, nil
}

// Pull fetches one page of changes after cursor. With omitAnswered the
// server leaves out records whose current state a push answer already
// gave this device; ask only when every copy from those answers is kept.
func (c *Client) Pull(ctx context.Context, cursor string, limit int, omitAnswered bool) (contract.PullResponse, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if omitAnswered {
		q.Set(contract.PullAnswered, contract.PullAnsweredOmit)
	}
	var out contract.PullResponse
	return out, c.do(ctx, "GET", "/v1/pull?"+q.Encode(), nil, &out)
}

// Reviews fetches the review items the user may see.
func (c *Client) Reviews(ctx context.Context, all bool) ([]contract.Review, error) {
	path := "/v1/reviews"
	if all {
		path += "?status=all"
	}
	var out contract.ReviewsResponse
	return out.Reviews, c.do(ctx, "GET", path, nil, &out)
}

// History fetches a record's change log.
func (c *Client) History(ctx context.Context, typ, id string) ([]contract.Change, error) {
	var out contract.HistoryResponse
	return out.Changes, c.do(ctx, "GET", "/v1/records/"+url.PathEscape(typ)+"/"+url.PathEscape(id)+"/history", nil, &out)
}

// Matches asks for open jobs a new one may repeat.
func (c *Client) Matches(ctx context.Context, fields map[string]string, day time.Time) ([]contract.Match, error) {
	q := url.Values{}
	for k, v := range fields {
		q.Set(k, v)
	}
	q.Set("date", day.Format(time.DateOnly))
	var out contract.MatchesResponse
	return out.Matches, c.do(ctx, "GET", "/v1/jobs/matches?"+q.Encode(), nil, &out)
}

// UploadStatus asks how much of a photo's content the server has.
func (c *Client) UploadStatus(ctx context.Context, photoID string) (contract.UploadStatus, error) {
	var out contract.UploadStatus
	return out, c.do(ctx, "GET", "/v1/photos/"+url.PathEscape(photoID)+"/upload", nil, &out)
}

// UploadChunk sends bytes of a photo starting at offset.
func (c *Client) UploadChunk(ctx context.Context, photoID string, offset int64, chunk io.Reader) (contract.UploadStatus, error) {
	path := "/v1/photos/" + url.PathEscape(photoID) + "/content?offset=" + strconv.FormatInt(offset, 10)
	resp, err := c.send(ctx, "PUT", path, chunk, "application/octet-stream", "")
	if err != nil {
		return contract.UploadStatus{}, err
	}
	var out contract.UploadStatus
	return out, decode(resp, "PUT", path, &out)
}

// Download fetches a photo's content.
func (c *Client) Download(ctx context.Context, photoID string, w io.Writer) error {
	resp, err := c.send(ctx, "GET", "/v1/photos/"+url.PathEscape(photoID)+"/content", nil, "", "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

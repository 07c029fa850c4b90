package mobile

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"fieldsync/app"
)

// listener records the states it hears.
type listener struct {
	mu     sync.Mutex
	states [][]byte
}

func (l *listener) OnState(b []byte) {
	l.mu.Lock()
	l.states = append(l.states, b)
	l.mu.Unlock()
}

// callEvery calls each exported method of a client made by newClient, as
// native code could, with plain arguments, and returns each method's
// error. A panic that escaped a method fails the test: across gobind it
// would end the app.
func callEvery(t *testing.T, newClient func() *Client) map[string]error {
	t.Helper()
	out := map[string]error{}
	typ := reflect.TypeFor[*Client]()
	errType := reflect.TypeFor[error]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		ft := m.Type
		if ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != errType {
			t.Errorf("%s returns no error: native code cannot hear that it failed", m.Name)
			continue
		}
		args := []reflect.Value{reflect.ValueOf(newClient())}
		for j := 1; j < ft.NumIn(); j++ {
			switch in := ft.In(j); in {
			case reflect.TypeFor[string]():
				args = append(args, reflect.ValueOf("J-1001"))
			case reflect.TypeFor[Listener]():
				args = append(args, reflect.ValueOf(&listener{}))
			default:
				args = append(args, reflect.Zero(in))
			}
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s panicked: %v", m.Name, p)
				}
			}()
			res := m.Func.Call(args)
			err, _ := res[len(res)-1].Interface().(error)
			out[m.Name] = err
		}()
	}
	return out
}

func TestEveryMethodOfAClientNotOpenSaysSo(t *testing.T) {
	closed, err := Open(t.TempDir(), "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Subscribe(&listener{}); err != nil {
		t.Fatalf("Subscribe on an open client: %v", err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	var never *Client
	for _, tt := range []struct {
		name string
		c    *Client
	}{
		{"a client made with new Client()", new(Client)},
		{"a closed client", closed},
		{"a null client", never},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for name, err := range callEvery(t, func() *Client { return tt.c }) {
				if err == nil || !strings.Contains(err.Error(), "the client is not open: call Open first") {
					t.Errorf("%s: %v, want the client to say it is not open", name, err)
				}
			}
		})
	}
}

func TestAPanicInACallComesBackAsAnError(t *testing.T) {
	// Clients whose core was never set up: a call into one panics inside
	// the method, as a bug would. callEvery fails the test if a panic
	// escapes any method; these are the ones that reach the core.
	errs := callEvery(t, func() *Client { return &Client{core: &app.App{}} })
	for _, name := range []string{"Close", "Subscribe", "JobsJSON", "JobJSON", "AddNote", "Move", "AddPart", "AddPhoto", "Logout", "SetOffline"} {
		if err := errs[name]; err == nil || !strings.Contains(err.Error(), "fieldsync: internal error") {
			t.Errorf("%s: %v, want the panic returned as an error", name, err)
		}
	}
}

func TestSubscribeHearsTheStateAndAPanickingListenerIsSurvived(t *testing.T) {
	c, err := Open(t.TempDir(), "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(nil); err == nil {
		t.Error("Subscribe(nil) was taken")
	}
	if err := c.Subscribe(panicking{}); err != nil {
		t.Fatalf("Subscribe with a listener that panics: %v", err)
	}
	l := &listener{}
	if err := c.Subscribe(l); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.states) == 0 || !strings.Contains(string(l.states[0]), `"line"`) {
		t.Errorf("the listener heard %q, want the state as JSON at once", l.states)
	}
}

type panicking struct{}

func (panicking) OnState([]byte) { panic("the native side failed") }

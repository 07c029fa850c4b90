package sim

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgLink is one instance's way to the database: a relay on loopback. When
// the instance crashes, the relay cuts its connections at once, as the
// death of a process does: the database sees them go and rolls back what
// had not committed, and the instance's own pool can do nothing more.
type pgLink struct {
	dsn     string // the database's DSN, with the relay's address
	network string // the database's address
	addr    string
	ln      net.Listener
	wg      sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

// newPGLink starts a relay to the database dsn names.
func newPGLink(dsn string) (*pgLink, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database relay: %w", err)
	}
	l := &pgLink{network: "tcp", addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]bool{}}
	if strings.HasPrefix(cfg.Host, "/") {
		l.network, l.addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	l.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("database relay: %w", err)
	}
	host, port, _ := net.SplitHostPort(l.ln.Addr().String())
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			l.ln.Close()
			return nil, fmt.Errorf("database relay: %w", err)
		}
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.Host, u.RawQuery = l.ln.Addr().String(), q.Encode()
		l.dsn = u.String()
	} else {
		// In a keyword/value DSN the last setting of a keyword wins.
		l.dsn = dsn + " host=" + host + " port=" + port
	}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *pgLink) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go l.relay(c)
	}
}

// relay carries one connection of the instance to the database and back.
func (l *pgLink) relay(c net.Conn) {
	defer l.wg.Done()
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	if down {
		c.Close()
		return
	}
	db, err := net.Dial(l.network, l.addr)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		c.Close()
		db.Close()
		return
	}
	l.conns[c], l.conns[db] = true, true
	l.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(db, c)
	go pipe(c, db)
	<-done
	c.Close()
	db.Close()
	<-done
	l.mu.Lock()
	delete(l.conns, c)
	delete(l.conns, db)
	l.mu.Unlock()
}

// cut closes every connection through the relay and refuses new ones
// until restore.
func (l *pgLink) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.Close()
	}
}

// restore lets connections through again.
func (l *pgLink) restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// close stops the relay, cutting what goes through it.
func (l *pgLink) close() {
	l.ln.Close()
	l.cut()
	l.wg.Wait()
}

package localstore_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

// crashDirEnv, when set, makes TestSavedEditsSurviveAKill the child: it
// saves edits into the store in that directory until it is killed.
const crashDirEnv = "FIELDSYNC_CRASH_CHILD_DIR"

// crashChild saves edits one after another and prints each operation's id
// as soon as Save has returned: what the user was told is saved.
func crashChild(dir string) {
	st, err := localstore.Open(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	job := uuid.NewString()
	for i := 0; ; i++ {
		var op contract.Operation
		if i%3 == 0 {
			op = newOp("job", job, contract.ActionUpdate, map[string]string{"title": fmt.Sprintf("edit %d", i)})
		} else {
			op = newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": job, "text": fmt.Sprintf("note %d", i)})
		}
		if _, err := st.Save(op, nil); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		// One write(2) per line: nothing sits in a buffer when the kill comes.
		os.Stdout.WriteString("saved " + op.ID + "\n")
	}
}

func TestSavedEditsSurviveAKill(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	tests := []struct {
		name  string
		after int // lines read before the kill
	}{
		{"killed right after the first save", 1},
		{"killed after 40 saves", 40},
		{"killed after 400 saves", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSavedEditsSurviveAKill$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var printed []string
			sc := bufio.NewScanner(out)
			killed := false
			deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "error") {
					t.Fatalf("child: %s", line)
				}
				id, ok := strings.CutPrefix(line, "saved ")
				if !ok {
					continue
				}
				printed = append(printed, id)
				if len(printed) == tt.after && !killed {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			}
			err = cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not by SIGKILL", err)
			}
			if len(printed) < tt.after {
				t.Fatalf("child printed %d ids before dying, want at least %d", len(printed), tt.after)
			}

			st := openStoreIn(t, dir)
			outbox, err := st.Outbox()
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, p := range outbox {
				have[p.Op.ID] = true
				if p.State != localstore.Queued {
					t.Errorf("operation %s is %s after the crash, want queued", p.Op.ID, p.State)
				}
			}
			for i, id := range printed {
				if !have[id] {
					t.Errorf("edit %d (%s) was reported saved but is not in the outbox after the kill", i, id)
				}
			}
			if len(outbox) > len(printed)+1 {
				t.Errorf("%d operations in the outbox but only %d were saved (at most one more may have committed unreported)", len(outbox), len(printed))
			}
			// Every saved note has its view too: op and view committed together.
			for _, p := range outbox {
				if e, err := st.Record(p.Op.RecordID); err != nil || e == nil {
					t.Errorf("operation %s has no record view after the kill (%v)", p.Op.ID, err)
				}
			}
			t.Logf("%d edits reported saved, %d in the outbox after SIGKILL", len(printed), len(outbox))
		})
	}
}

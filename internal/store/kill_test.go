//go:build linux

package store

import (
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-iot/outpost/internal/testutil"
)

// killChildEnv switches the test binary into the child of TestKill9_A1.
const killChildEnv = "OUTPOST_STORE_KILL_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir) // never returns: it appends until killed
	}
	os.Exit(m.Run())
}

// killChild appends from several goroutines (Append in small groups and
// AppendAsync) with small segments, trims now and then, and prints each
// acknowledged record as "ack seq len crc" and each trim, before it
// starts, as "trim seq". One Write per line: a line on stdout is a
// promise already made when the parent kills us.
func killChild(dir string) {
	l, err := Open(dir, Options{SegmentBytes: 32 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex // serializes stdout lines
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format+"\n", args...)
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(3)
		}
	}
	ack := func(seq uint64, d []byte) { say("ack %d %d %d", seq, len(d), crc32.ChecksumIEEE(d)) }
	for g := range 4 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for i := 0; ; i++ {
				d := payload(rng, uint64(g)<<32|uint64(i), rng.IntN(400))
				if g%2 == 1 {
					_ = l.AppendAsync(d, func(seq uint64, err error) {
						if err == nil {
							ack(seq, d)
						}
					})
					continue
				}
				group := [][]byte{d, payload(rng, 1, rng.IntN(100))}
				if seq, err := l.Append(context.Background(), group...); err == nil {
					ack(seq, group[0])
					ack(seq+1, group[1])
				}
			}
		}()
	}
	for {
		time.Sleep(20 * time.Millisecond)
		if last := l.Last(); last > 20000 {
			say("trim %d", last-20000)
			_, _ = l.TrimThrough(last - 20000)
		}
	}
}

// TestKill9_A1 runs the child, SIGKILLs it after about 200 ms of appending,
// reopens and checks every record the child acknowledged (printed) is
// present and intact, unless a trim it announced may have removed it. Three
// rounds on the same directory, so recovery also starts from killed state.
func TestKill9_A1(t *testing.T) {
	t.Parallel() // mostly waits for a child: overlap it with the disk-full child
	dir := t.TempDir()
	type acked struct {
		size int
		crc  uint32
	}
	want := map[uint64]acked{}
	var trimmed uint64
	for round := range 3 {
		out := runAndKill(t, dir, 200*time.Millisecond)
		n := 0
		for _, line := range completeLines(out) {
			var a acked
			var seq uint64
			switch {
			case strings.HasPrefix(line, "ack "):
				if _, err := fmt.Sscanf(line, "ack %d %d %d", &seq, &a.size, &a.crc); err != nil {
					t.Fatalf("child printed %q", line)
				}
				if old, ok := want[seq]; ok && old != a {
					t.Fatalf("round %d: seq %d acknowledged twice with different data", round, seq)
				}
				want[seq] = a
				n++
			case strings.HasPrefix(line, "trim "):
				if _, err := fmt.Sscanf(line, "trim %d", &seq); err != nil {
					t.Fatalf("child printed %q", line)
				}
				trimmed = max(trimmed, seq)
			default:
				t.Fatalf("child printed %q", line)
			}
		}
		if n == 0 {
			t.Fatalf("round %d: the child acknowledged nothing in 200 ms", round)
		}
		l := mustOpen(t, dir, Options{})
		recs := readAll(t, l)
		st := l.Stats()
		mustClose(t, l)
		got := map[uint64]acked{}
		for i, r := range recs {
			if i > 0 && r.Seq != recs[i-1].Seq+1 {
				t.Fatalf("round %d: seq %d follows %d", round, r.Seq, recs[i-1].Seq)
			}
			if !payloadOK(r.Data) {
				t.Fatalf("round %d: seq %d garbled", round, r.Seq)
			}
			got[r.Seq] = acked{len(r.Data), crc32.ChecksumIEEE(r.Data)}
		}
		for seq, a := range want {
			if seq <= trimmed {
				continue
			}
			if g, ok := got[seq]; !ok || g != a {
				t.Fatalf("round %d: acknowledged seq %d: stored %v (present %v), acknowledged %v; stats %+v", round, seq, g, ok, a, st)
			}
		}
		t.Logf("round %d: %d acknowledged records this round, log %+v", round, n, st)
	}
}

// runAndKill starts the child on dir, SIGKILLs it after d and returns what
// it printed (testutil logs its output if the test fails).
func runAndKill(t *testing.T, dir string, d time.Duration) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	p := testutil.StartCmd(t, cmd)
	time.Sleep(d) // the child's run time, not a wait for a condition
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\nstderr:\n%s", p.ExitErr(), p.Stderr())
	}
	return p.Stdout()
}

// completeLines drops a line the kill cut short: the text after the last
// newline.
func completeLines(out string) []string {
	lines := strings.Split(out, "\n")
	return lines[:len(lines)-1]
}

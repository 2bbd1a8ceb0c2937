package message

import (
	"bytes"
	"testing"
)

func TestSize(t *testing.T) {
	cases := []struct {
		name string
		m    *Message
		want int
	}{
		{"empty", New(nil), 0},
		{"body", New([]byte("hello")), 5},
		{"all", &Message{Body: []byte("ab"), System: map[string]string{MessageID: "1"}, Properties: map[string]string{"k": "vv"}}, 2 + 9 + 1 + 1 + 2},
		{"nil maps", &Message{Body: []byte("x")}, 1},
	}
	for _, c := range cases {
		if got := c.m.Size(); got != c.want {
			t.Errorf("%s: Size() = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestClone(t *testing.T) {
	m := New([]byte("body"))
	m.System[MessageID] = "1"
	m.Properties["a"] = "b"
	c := m.Clone()
	c.Body[0] = 'X'
	c.System[MessageID] = "2"
	c.Properties["a"] = "z"
	if !bytes.Equal(m.Body, []byte("body")) || m.System[MessageID] != "1" || m.Properties["a"] != "b" {
		t.Fatalf("clone shares state with original: %+v", m)
	}
	z := (&Message{}).Clone()
	if z.System == nil || z.Properties == nil || z.Body != nil {
		t.Fatalf("clone of zero message: %+v", z)
	}
}

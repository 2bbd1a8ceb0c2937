package packet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

// normalize turns empty slices into nil so decoded packets compare with fixtures.
func normalize(p Packet) Packet {
	switch v := p.(type) {
	case *Publish:
		c := *v
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
		return &c
	case *Connect:
		c := *v
		if len(c.Password) == 0 {
			c.Password = nil
		}
		if c.Will != nil && len(c.Will.Message) == 0 {
			w := *c.Will
			w.Message = nil
			c.Will = &w
		}
		return &c
	}
	return p
}

func TestDecode_E1toE7_Fixtures(t *testing.T) {
	for group, fixtures := range allFixtures() {
		for _, f := range fixtures {
			t.Run(group+"/"+f.name, func(t *testing.T) {
				p, n, err := Decode(f.raw, testMax)
				if f.err != nil {
					if !errors.Is(err, f.err) {
						t.Fatalf("err = %v, want %v", err, f.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if n != len(f.raw) {
					t.Errorf("consumed %d of %d bytes", n, len(f.raw))
				}
				if !reflect.DeepEqual(normalize(p), normalize(f.pkt)) {
					t.Errorf("decoded %#v, want %#v", p, f.pkt)
				}
			})
		}
	}
}

func TestEncode_Fixtures(t *testing.T) {
	for group, fixtures := range allFixtures() {
		for _, f := range fixtures {
			if f.pkt == nil {
				continue
			}
			t.Run(group+"/"+f.name, func(t *testing.T) {
				got, err := Encode(f.pkt)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, f.raw) {
					t.Errorf("encoded % x, want % x", got, f.raw)
				}
			})
		}
	}
}

// TestReader_Fixtures reads every fixture through the stream reader, which must
// agree with Decode.
func TestReader_Fixtures(t *testing.T) {
	for group, fixtures := range allFixtures() {
		for _, f := range fixtures {
			t.Run(group+"/"+f.name, func(t *testing.T) {
				p, err := NewReader(bytes.NewReader(f.raw), testMax).ReadPacket()
				switch {
				case f.err != nil && errors.Is(f.err, ErrMalformed) && errors.Is(err, io.ErrUnexpectedEOF):
					// truncated input: a stream reader waits for more bytes, then sees EOF
				case f.err != nil && !errors.Is(err, f.err):
					t.Fatalf("err = %v, want %v", err, f.err)
				case f.err == nil && err != nil:
					t.Fatalf("read: %v", err)
				case f.err == nil && !reflect.DeepEqual(normalize(p), normalize(f.pkt)):
					t.Errorf("read %#v, want %#v", p, f.pkt)
				}
			})
		}
	}
}

func TestReader_Sequence(t *testing.T) {
	var stream []byte
	var want []Packet
	for _, f := range publishFixtures {
		if f.pkt != nil {
			stream = append(stream, f.raw...)
			want = append(want, f.pkt)
		}
	}
	r := NewReader(bytes.NewReader(stream), testMax)
	for i, w := range want {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(p), normalize(w)) {
			t.Fatalf("packet %d: %#v, want %#v", i, p, w)
		}
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("after last packet: %v, want io.EOF", err)
	}
}

// TestReader_D6_NoAllocationBeforeCap declares the largest remaining length and
// sends nothing more: the reader must refuse without allocating the body.
func TestReader_D6_NoAllocationBeforeCap(t *testing.T) {
	in := []byte{0x30, 0xff, 0xff, 0xff, 0x7f}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(in), 256<<10).ReadPacket()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("allocated %d bytes", d)
	}
}

// TestReader_D7_DeclaredLongerThanSent: the body grows with bytes received, not with the declared length.
func TestReader_D7_DeclaredLongerThanSent(t *testing.T) {
	in := []byte{0x30, 0xff, 0xff, 0x0f, 0, 1, 'a'} // declares ~256 KiB, sends 3 bytes
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(in), 256<<10).ReadPacket()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("allocated %d bytes for a 3-byte body", d)
	}
}

func TestReader_LargeBody(t *testing.T) {
	p := &Publish{Topic: "t", Payload: bytes.Repeat([]byte{7}, 200<<10)}
	enc, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(bytes.NewReader(enc), 256<<10).ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.(*Publish).Payload, p.Payload) {
		t.Fatal("payload mismatch")
	}
}

func TestEncode_Limits(t *testing.T) {
	long := string(bytes.Repeat([]byte{'a'}, 0x10000))
	for _, p := range []Packet{
		&Publish{Topic: long},
		&Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: long},
		&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: long}}},
		&Unsubscribe{PacketID: 1, Filters: []string{long}},
		&Publish{Topic: "t", Payload: make([]byte, MaxRemainingLength)},
	} {
		if _, err := Encode(p); err == nil {
			t.Errorf("%v: encoded an oversized field", p.Type())
		}
	}
}

func TestReason(t *testing.T) {
	cases := map[string]error{
		"malformed": malformed(PUBLISH, "x"), "protocol": violation(PUBLISH, "x"),
		"too_large": &Error{Kind: ErrTooLarge}, "protocol_level": &ProtocolLevelError{Level: 3},
		"other": io.EOF,
	}
	for want, err := range cases {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestFromClient_E5(t *testing.T) {
	for ty := Type(0); ty < 16; ty++ {
		want := ty >= CONNECT && ty <= DISCONNECT && ty != CONNACK && ty != SUBACK && ty != UNSUBACK && ty != PINGRESP
		if ty.FromClient() != want {
			t.Errorf("%v.FromClient() = %v", ty, !want)
		}
	}
}

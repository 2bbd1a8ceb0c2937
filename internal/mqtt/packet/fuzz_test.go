package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecode (RELIABILITY.md E8): the decoder never panics, never accepts a
// remaining length over the cap, and encode(decode(x)) is canonical and stable.
// The stream reader, fed the input in two halves, must agree with Decode.
func FuzzDecode(f *testing.F) {
	for _, fixtures := range allFixtures() {
		for _, fx := range fixtures {
			f.Add(fx.raw)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, n, err := Decode(in, testMax)
		checkReaderAgrees(t, in, p, err)
		if err != nil {
			return
		}
		if n > len(in) || n-5 > testMax {
			t.Fatalf("consumed %d bytes of %d with cap %d", n, len(in), testMax)
		}
		enc, err := Encode(p)
		if err != nil {
			t.Fatalf("encode decoded %v: %v", p.Type(), err)
		}
		p2, n2, err := Decode(enc, 0)
		if err != nil || n2 != len(enc) {
			t.Fatalf("decode(encode(decode(x))): %v (%d of %d bytes)", err, n2, len(enc))
		}
		enc2, err := Encode(p2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x vs % x (%v)", enc, enc2, err)
		}
	})
}

// checkReaderAgrees reads in through a Reader delivering it in two halves.
func checkReaderAgrees(t *testing.T, in []byte, want Packet, wantErr error) {
	half := len(in) / 2
	r := NewReader(io.MultiReader(bytes.NewReader(in[:half]), bytes.NewReader(in[half:])), testMax)
	p, err := r.ReadPacket()
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("Decode accepted, Reader refused: %v", err)
	case wantErr != nil && err == nil:
		t.Fatalf("Decode refused (%v), Reader accepted %v", wantErr, p.Type())
	case wantErr == nil:
		a, _ := Encode(want)
		b, _ := Encode(p)
		if !bytes.Equal(a, b) {
			t.Fatalf("Reader and Decode disagree")
		}
	case errors.Is(err, ErrTooLarge) != errors.Is(wantErr, ErrTooLarge):
		t.Fatalf("Reader err %v, Decode err %v", err, wantErr)
	}
}

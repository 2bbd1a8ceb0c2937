package tool

import "testing"

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("mosquitto, outpost-tls,mosquitto-tcp")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "mosquitto-tcp" || got[1] != (Target{"outpost-tls", "outpost", "tls"}) {
		t.Errorf("ParseTargets = %+v", got)
	}
	if _, err := ParseTargets("rabbitmq"); err == nil {
		t.Error("ParseTargets(rabbitmq) did not fail")
	}
}

func TestFmtRatio(t *testing.T) {
	v := 1.234
	if got := FmtRatio(&v); got != "1.23x" {
		t.Errorf("FmtRatio(1.234) = %q", got)
	}
	if got := FmtRatio(nil); got != "n/a" {
		t.Errorf("FmtRatio(nil) = %q", got)
	}
}

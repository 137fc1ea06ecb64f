package cgo

import "testing"

// Every setting's String is the config value that its parser reads back, and unknown values are
// refused with the accepted ones named.
func TestOptionValuesRoundTrip(t *testing.T) {
	for _, f := range []Fusion{FusionDefault, FusionOn, FusionOff, FusionNorm} {
		got, err := ParseFusion(f.String())
		if err != nil || got != f {
			t.Errorf("fusion %d: String %q parses to %d, %v", f, f.String(), got, err)
		}
	}
	for _, a := range []Attention{AttentionDefault, AttentionFlash, AttentionCuDNN} {
		got, err := ParseAttention(a.String())
		if err != nil || got != a {
			t.Errorf("attention %d: String %q parses to %d, %v", a, a.String(), got, err)
		}
	}
	if _, err := ParseFusion("fast"); err == nil || err.Error() != `"fast": want auto, on, off or norm` {
		t.Errorf("ParseFusion(fast): %v", err)
	}
	if _, err := ParseAttention("sdpa"); err == nil || err.Error() != `"sdpa": want auto, flash or cudnn` {
		t.Errorf("ParseAttention(sdpa): %v", err)
	}
}

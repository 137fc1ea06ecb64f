package llmpolicy

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		env, in, want string
	}{
		// game24
		{"game24", "13 - 9 = 4 (left: 4 4 10)", "13 - 9 = 4 (left: 4 4 10)"},
		{"game24", "Step 1: 13-9=4 (left:4  4 10)", "13 - 9 = 4 (left: 4 4 10)"},
		{"game24", "```\n8 / 3 = 8/3 (left: 3 8 8/3)\n```", "8 / 3 = 8/3 (left: 3 8 8/3)"},
		{"game24", "Thought: 13 - 9 = 4 is good\nAction: 10 - 4 = 6 (left: 4 6)", "10 - 4 = 6 (left: 4 6)"},
		{"game24", "4 × 6 = 24 (left: 24)", "4 * 6 = 24 (left: 24)"},
		{"game24", "6 − 2 = 4", "6 - 2 = 4"},
		{"game24", "Answer: (13 - 9) * (10 - 4) = 24", "Answer: (13 - 9) * (10 - 4) = 24"},
		{"game24", "**Final Answer:** `(13 - 9) * (10 - 4) = 24`.", "Answer: (13 - 9) * (10 - 4) = 24"},
		{"game24", "> answer: (1+2+3)*4 = 24", "Answer: (1+2+3)*4 = 24"},
		{"game24", "Let me think about it.\nI am not sure.", ""},
		{"game24", "", ""},
		// shop
		{"shop", "search[red running shoes size 9]", "search[red running shoes size 9]"},
		{"shop", "Action: Click[ Buy Now ]", "click[Buy Now]"},
		{"shop", "Thought: the second one fits.\nI will click[B0C4X1] now", "click[B0C4X1]"},
		{"shop", "> `search[lavender candle]`", "search[lavender candle]"},
		{"shop", "click buy now.", "click[buy now]"},
		{"shop", "I would buy it.", ""},
		// household
		{"household", "> go to cabinet 1", "go to cabinet 1"},
		{"household", "think: the apple may be in the fridge.\n> OK.\nopen fridge 1", "open fridge 1"},
		{"household", "Action: Take Apple 1 from CounterTop 2.", "take apple 1 from countertop 2"},
		{"household", "\"put apple 1 in/on fridge 1\"", "put apple 1 in/on fridge 1"},
		{"household", "1. heat egg 1 with microwave 1", "heat egg 1 with microwave 1"},
		{"household", "I should now use the desklamp 1.", "use the desklamp 1"},
		{"household", "Thought: I need to cool it.\n```\ncool potato 2 with fridge 1\n```", "cool potato 2 with fridge 1"},
		{"household", "Nothing to do here", ""},
		// generic (http)
		{"http", "Thought: hmm\nAction: press red button", "press red button"},
		{"http", "  \n> 'north'\n", "north"},

		// Reasoning blocks are not the answer.
		{"game24", "<think>\nLet me try 1 + 2 = 3 (left: 3 3 4). Hmm no.\nMaybe 4 * 6 = 24.\n</think>\n8 - 2 = 6 (left: 3 4 6)", "8 - 2 = 6 (left: 3 4 6)"},
		{"game24", "<THINK>1 + 2 = 3</THINK> <think>2 * 2 = 4</think>\nAnswer: (1 + 2 + 3) * 4 = 24", "Answer: (1 + 2 + 3) * 4 = 24"},
		{"shop", "<think>\nI could click[b0c4x1] but it's over budget\n</think>\nclick[b09lv8]", "click[b09lv8]"},
		{"household", "<think>\ngo to fridge 1 first? no, the mug is elsewhere.\n</think>\ngo to countertop 1", "go to countertop 1"},
		{"household", "<thinking>open drawer 1</thinking>\n> examine desk 1", "examine desk 1"},
		{"household", "<reasoning>take mug 1 from desk 1</reasoning>\ngo to desk 1", "go to desk 1"},
		{"alfworld", "<think>\nhmm\n</think>\ngo to desk 1", "go to desk 1"},
		// The chat template opened the block; the model only closes it.
		{"household", "go to fridge 1 maybe.\nNo, the desk.\n</think>\n\ngo to desk 1", "go to desk 1"},
		// A block quoted inside a block does not end it early.
		{"shop", "<think>the tag <think> appears; click[a1]</think>\n</think>\nsearch[b]", "search[b]"},

		// An explicit Action: line (or the prompt's "> " marker) wins over earlier prose.
		{"game24", "Okay so 4 * 6 = 24 would be nice.\nAction: 8 - 2 = 6 (left: 3 4 6)", "8 - 2 = 6 (left: 3 4 6)"},
		{"game24", "Let me try:\n1 + 2 = 3 (left: 3 3 4)\nNo good.\n> 8 - 2 = 6 (left: 3 4 6)", "8 - 2 = 6 (left: 3 4 6)"},
		{"game24", "Maybe 4 * 6 = 24 at the end.\nAnswer: (1 + 2 + 3) * 4 = 24", "Answer: (1 + 2 + 3) * 4 = 24"},
		{"game24", "13 - 9 = 4 (left: 4 4 10)\nAnswer: (13 - 9) * (10 - 4) = 24", "13 - 9 = 4 (left: 4 4 10)"},
		{"shop", "Maybe click[b0c4x1]? It is too dear.\nAction: click[b09lv8]", "click[b09lv8]"},
		{"household", "Look, the mug must be in a cabinet, so go to cabinet 1 later.\nAction: go to countertop 1", "go to countertop 1"},
		{"household", "Thought: the mug is dirty. Action: clean mug 1 with sinkbasin 1", "clean mug 1 with sinkbasin 1"},
		{"household", "<answer>take mug 1 from desk 1</answer>", "take mug 1 from desk 1"},

		// A fenced block wins over the prose around it.
		{"http", "Sure! Looking at the situation, I think the best move is this.\n\n```text\nlook\n```\nThis should help.", "look"},
		{"shop", "Sure! Here's my action:\n```\nclick[Buy Now]\n```", "click[Buy Now]"},
		{"household", "I will take the apple 1 first, here it is:\n```\ngo to fridge 1\n```", "go to fridge 1"},
		{"alfworld", "Thought: I need the mug.\nAction: go to desk 1", "go to desk 1"},
		{"alfworld", "I think I should go to the desk.\n\ngo to desk 1", "go to desk 1"},
		{"alfworld", "Here is my next action:\nopen the red door", "open the red door"},
		{"http", "north", "north"},

		// A sentence that starts with a verb is not a command when a whole command follows.
		{"household", "Look at the options first.\ngo to desk 1", "go to desk 1"},
		{"household", "Use the lamp later.\ngo to desk 1", "go to desk 1"},
		{"household", "look\nmaybe later", "look"},
		{"household", "inventory", "inventory"},
		// An "Action:" after the end of a sentence marks the rest of the line.
		{"http", "Here is my reasoning. Action: north", "north"},
		{"shop", "The first result fits! Action: click[b0c4x1]", "click[b0c4x1]"},
		{"household", "The mug is here. Action: take mug 1 from desk 1", "take mug 1 from desk 1"},

		// Over-long lines are never actions; a real one after them still is.
		{"http", strings.Repeat("x", MaxActionChars+1) + "\nsouth", "south"},
		{"household", strings.Repeat("I am thinking very hard about this. ", 3000) + "\ngo to desk 1", "go to desk 1"},
		{"http", strings.Repeat("y", MaxActionChars), strings.Repeat("y", MaxActionChars)},
	} {
		got, err := ParseAction(tc.env, tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%s %q:\n got %q (%v)\nwant %q", tc.env, clipText(tc.in, 300), got, err, tc.want)
		}
	}
}

// When nothing parses, the error says why.
func TestParseActionErrors(t *testing.T) {
	for _, tc := range []struct{ env, in, want string }{
		{"game24", "<think>\n1 + 2 = 3 (left: 3 3 4)\n</think>\n", "all reasoning: nothing outside its <think> block"},
		{"http", "<think>go north", "<think> block is never closed"},
		{"shop", "<reasoning>click[x]</reasoning>  ", "nothing outside its <reasoning> block"},
		{"http", "", "empty"},
		{"http", strings.Repeat("long action ", 100000), "over the 500-byte limit"},
		{"shop", "search[" + strings.Repeat("shoe ", MaxActionChars) + "]", "over the 500-byte limit"},
		{"game24", "I am not sure.", "no line looks like a Game of 24 step"},
		{"shop", "I would buy it.", "no line looks like a shop action"},
		{"household", "Nothing to do here", "no line looks like a household command"},
	} {
		got, err := ParseAction(tc.env, tc.in)
		if got != "" || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: got %q, error %v; want an error with %q", tc.env, clipText(tc.in, 100), got, err, tc.want)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("%s: error of %d bytes; it must stay short", tc.env, len(err.Error()))
		}
	}
}

func TestSnap(t *testing.T) {
	household := []string{"go to cabinet 1", "go to cabinet 10", "go to fridge 1", "take apple 1 from countertop 2",
		"take bread 1 from countertop 2", "put mug 1 in/on coffeemachine 1", "examine countertop 2", "inventory", "look"}
	shop := []string{"search[...]", "click[back to search]", "click[buy now]", "click[< prev]", "click[b0c4x1]"}
	for _, tc := range []struct {
		name, action string
		adm          []string
		want         string
		ok           bool
	}{
		{"exact", "go to fridge 1", household, "go to fridge 1", true},
		{"case and period", "Go To Fridge 1.", household, "go to fridge 1", true},
		{"in vs in/on", "put mug 1 in coffeemachine 1", household, "put mug 1 in/on coffeemachine 1", true},
		{"article", "go to the fridge 1", household, "go to fridge 1", true},
		{"number kept apart", "go to cabinet 10", household, "go to cabinet 10", true},
		{"nearest object", "take apple 2 from countertop 2", household, "take apple 1 from countertop 2", true},
		{"unrelated stays", "dance with the robot", household, "dance with the robot", false},
		{"template keeps query", "search[red shoes size 9]", shop, "search[red shoes size 9]", true},
		{"click case", "click[Buy Now]", shop, "click[buy now]", true},
		{"click near miss", "click[b0c4x]", shop, "click[b0c4x1]", true},
		{"bare search entry", "search[candle]", []string{"search", "click[buy now]"}, "search[candle]", true},
		{"no admissible", "anything", nil, "anything", false},
	} {
		got, ok := Snap(tc.action, tc.adm, DefaultMinSimilarity)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Snap(%q) = %q, %v; want %q, %v", tc.name, tc.action, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSimilarity(t *testing.T) {
	pairs := [][2]string{{"go to cabinet 1", "go to cabinet 2"}, {"", "abc"}, {"put a in b", "put b in a"}, {"x", "x"}, {"", ""}}
	for _, p := range pairs {
		s, r := Similarity(p[0], p[1]), Similarity(p[1], p[0])
		if s < 0 || s > 1 || math.Abs(s-r) > 1e-12 {
			t.Errorf("Similarity(%q, %q) = %v, reversed %v", p[0], p[1], s, r)
		}
		if p[0] == p[1] && s != 1 {
			t.Errorf("Similarity of equal strings %q = %v", p[0], s)
		}
	}
	// Word order matters less than a different object.
	if a, b := Similarity("put mug 1 in sink", "put mug 1 in/on sink"), Similarity("put mug 1 in sink", "put cup 7 in sink"); a <= b {
		t.Errorf("in vs in/on %v should beat another object %v", a, b)
	}
	if d := levenshtein([]rune("kitten"), []rune("sitting")); d != 3 {
		t.Errorf("levenshtein(kitten, sitting) = %d, want 3", d)
	}
}

func TestClassifyGame24Answer(t *testing.T) {
	in := []int64{4, 9, 10, 13}
	for _, tc := range []struct{ answer, want string }{
		{"Answer: (13 - 9) * (10 - 4) = 24", kindCorrect},
		{"answer: (10 - 4) * (13 - 9) = 24.0", kindCorrect},
		{"Answer: (13 - 9) * (10 - 4) = 24 = 24", KindFormat},
		{"(13 - 9) * (10 - 4) = 24", KindFormat},
		{"Answer: (13 - 9) * (10 - 4)", KindFormat},
		{"Answer: (13 - 9) * (10 - 4 = 24", KindFormat},
		{"Answer: (13 - 9) * (10 - 4) = 25", KindFormat},
		{"Answer: thirteen minus nine = 24", KindFormat},
		{"Answer: (13 - 9) * (10 - 4) + 0 = 24", KindHallucinated},
		{"Answer: (13 - 7) * (10 - 4) = 24", KindHallucinated},
		{"Answer: (13 - 9) * (13 - 4) = 24", KindHallucinated}, // 13 twice, 10 unused
		{"Answer: 2.5 * (13 - 9) * 10 / 4 = 24", KindHallucinated},
		{"Answer: 13 / (9 - 9) + 10 + 4 = 24", KindHallucinated},
		{"Answer: (13 - 9) * 6 = 24", KindHallucinated},
		{"Answer: (13 - 9) * 10 = 24", KindMissing},
		{"Answer: 13 + 10 = 24", KindMissing},
		{"Answer: (13 - 9) * 10 - 4 = 24", KindArithmetic},
		{"Answer: 4 * 10 - 13 - 9 = 24", KindArithmetic},
		{"Answer: (13 + 9 + 10) / 4 = 24", KindArithmetic},
		{"Answer: -4 + 10 + 9 + 13 = 24", KindArithmetic},
		{"Answer: 10 / (13 - 9 - 4) = 24", KindArithmetic}, // divides by zero
	} {
		if got := ClassifyGame24Answer(in, tc.answer); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.answer, got, tc.want)
		}
	}
	// A division by zero with the right literals is wrong arithmetic, not a format error.
	if got := ClassifyGame24Answer([]int64{1, 1, 4, 6}, "Answer: 4 * 6 / (1 - 1) = 24"); got != KindArithmetic {
		t.Errorf("division by zero: %s", got)
	}
}

// The pruned search in Snap must pick what a plain argmax of Similarity picks (first on ties).
func TestSnapMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	vocab := []string{"go to", "take", "put", "apple", "mug", "1", "2", "10", "from", "in/on", "cabinet", "countertop", "fridge", "the"}
	phrase := func() string {
		n := 1 + r.IntN(6)
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[r.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	for range 300 {
		adm := make([]string, 1+r.IntN(20))
		for i := range adm {
			adm[i] = phrase()
		}
		action := phrase()
		want, best := action, -1.0
		if slices.Contains(adm, action) {
			want, best = action, 2
		}
		for _, a := range adm {
			if best == 2 {
				break
			}
			if normalizeForMatch(a) == normalizeForMatch(action) {
				want, best = a, 2
			}
		}
		if best < 2 {
			for _, a := range adm {
				if s := Similarity(normalizeForMatch(action), normalizeForMatch(a)); s > best {
					want, best = a, s
				}
			}
			if best < 0.3 {
				want = action
			}
		}
		if got, _ := Snap(action, adm, 0.3); got != want {
			t.Fatalf("Snap(%q, %q) = %q, brute force %q", action, adm, got, want)
		}
	}
}

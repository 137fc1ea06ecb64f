package llmpolicy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/llm"
)

var shopTraj = dataset.Trajectory{
	Env: "shop", TaskID: "shop/17",
	Instruction: "i want a blue wool scarf under 30.00 dollars",
	Steps: []dataset.Step{
		{Action: "search[wool scarf]", Observation: "[Back to Search] Page 1 [B01] Cozy Knit Scarf, Grey $22.00"},
		{Action: "click[b01]", Observation: "color [grey] [green] Cozy Knit Scarf Price: $22.00 [Buy Now]"},
		{Action: "click[green]", Observation: "You have clicked green."},
		{Action: "click[buy now]", Observation: "Thank you for shopping with us!"},
	},
}

func TestRefineInstruction(t *testing.T) {
	for _, tc := range []struct {
		name, env, reply, want string
		traj                   dataset.Trajectory
	}{
		{"plain", "shop", "i need a green knit scarf, and price lower than 25.00 dollars", "i need a green knit scarf, and price lower than 25.00 dollars", shopTraj},
		{"label and quotes", "shop", "Instruction: \"i need a green knit scarf, and price lower than 25.00 dollars\"\n\nThis matches the purchase.",
			"i need a green knit scarf, and price lower than 25.00 dollars", shopTraj},
		{"fenced household", "household", "```\nYour task is to: put a clean mug in coffeemachine.\n```", "put a clean mug in coffeemachine.",
			dataset.Trajectory{Env: "household", Steps: []dataset.Step{{Action: "clean mug 1 with sinkbasin 1", Observation: "You clean the mug 1."}}}},
		{"game24 keeps the puzzle", "game24", "**Task:** Use the numbers to reach 24.\nInput: 1 1 1 1",
			"Use the numbers to reach 24.\nInput: 4 9 10 13",
			dataset.Trajectory{Env: "game24", Instruction: "Obtain 24.\nInput: 4 9 10 13", Steps: []dataset.Step{{Action: "13 - 9 = 4 (left: 4 4 10)", Observation: "left: 4 4 10"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFakeLLM(t, canned(tc.reply))
			got, err := RefineInstruction(context.Background(), c, tc.env, tc.traj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			u := f.requests()[0].user()
			for _, s := range tc.traj.Steps {
				if !strings.Contains(u, "> "+s.Action) {
					t.Errorf("prompt lacks step %q:\n%s", s.Action, u)
				}
			}
			if ex := instructionExamples[tc.env]; len(ex) > 0 && !strings.Contains(u, ex[0]) {
				t.Errorf("prompt lacks the %s style example:\n%s", tc.env, u)
			}
		})
	}
	t.Run("empty reply", func(t *testing.T) {
		_, c := newFakeLLM(t, canned("```\n```"))
		if _, err := RefineInstruction(context.Background(), c, "shop", shopTraj); err == nil || !strings.Contains(err.Error(), "shop/17") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("game24 reply with only the numbers", func(t *testing.T) {
		_, c := newFakeLLM(t, canned("Input: 4 9 10 13"))
		tr := dataset.Trajectory{Env: "game24", Instruction: "Obtain 24.\nInput: 4 9 10 13", Steps: []dataset.Step{{Action: "13 - 9 = 4", Observation: "left: 4 4 10"}}}
		if got, err := RefineInstruction(context.Background(), c, "game24", tr); err == nil {
			t.Fatalf("got %q, want an error", got)
		}
	})
	t.Run("no steps", func(t *testing.T) {
		_, c := newFakeLLM(t, canned("x"))
		if _, err := RefineInstruction(context.Background(), c, "shop", dataset.Trajectory{}); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestGame24WrongAnswers(t *testing.T) {
	first := strings.Join([]string{
		"Here are the answers:",
		"1. hallucinated_number: Answer: (13 - 7) * (10 - 6) = 24",
		"2. [missing_number]: Answer: (13 - 9) * 10 = 24", // really 40, but it is the missing 4 that labels it
		"3. format_error: `(13 - 9) * (10 - 4) = 24`",
		"4. wrong_arithmetic: Answer: (13 - 9) * (10 - 4) = 24", // correct: dropped
		"5. wrong arithmetic: Answer: 4 * 10 - 13 - 9 = 24",
		"6. Missing-Number: Answer: 13 + 10 = 24",
		"7. hallucinated_number: Answer: (13 - 7) * (10 - 6) = 24", // duplicate
	}, "\n")
	second := "wrong_arithmetic: Answer: (13 + 9 + 10) / 4 = 24\nformat_error: Answer: (13 - 9) * (10 - 4)\nhallucinated_number: Answer: 12 * 2 = 24"
	f, c := newFakeLLM(t, func(r fakeReq, i int) []string {
		if i == 0 {
			return []string{first}
		}
		return []string{second}
	})
	got, err := Game24WrongAnswersByKind(context.Background(), c, "Use the numbers...\nInput: 4 9 10 13", nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := []WrongAnswer{
		{KindHallucinated, "Answer: (13 - 7) * (10 - 6) = 24"},
		{KindMissing, "Answer: (13 - 9) * 10 = 24"},
		{KindFormat, "(13 - 9) * (10 - 4) = 24"},
		{KindArithmetic, "Answer: 4 * 10 - 13 - 9 = 24"},
		{KindMissing, "Answer: 13 + 10 = 24"},
		{KindArithmetic, "Answer: (13 + 9 + 10) / 4 = 24"},
		{KindFormat, "Answer: (13 - 9) * (10 - 4)"},
		{KindHallucinated, "Answer: 12 * 2 = 24"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	rs := f.requests()
	if len(rs) != 2 {
		t.Fatalf("%d requests, want a second round for the 2 missing", len(rs))
	}
	if u := rs[0].user(); !strings.Contains(u, "Input: 4 9 10 13") || !strings.Contains(u, "missing_number: leaves out") {
		t.Errorf("prompt:\n%s", u)
	}

	// Only some kinds; the string form; quota balances kinds.
	_, c2 := newFakeLLM(t, canned(first))
	answers, err := Game24WrongAnswers(context.Background(), c2, "4 9 10 13", []string{KindMissing, KindArithmetic}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Answer: (13 - 9) * 10 = 24", "Answer: 4 * 10 - 13 - 9 = 24"}; !reflect.DeepEqual(answers, want) {
		t.Fatalf("got %q, want %q", answers, want)
	}
}

func TestGame24WrongAnswersErrors(t *testing.T) {
	_, c := newFakeLLM(t, canned("Answer: (13 - 9) * (10 - 4) = 24")) // only ever correct
	if _, err := Game24WrongAnswers(context.Background(), c, "4 9 10 13", nil, 3); err == nil || !strings.Contains(err.Error(), "no usable wrong answer") {
		t.Fatalf("err %v", err)
	}
	if _, err := Game24WrongAnswers(context.Background(), c, "4 9 10 13", []string{"typo"}, 3); err == nil || !strings.Contains(err.Error(), `unknown kind "typo"`) {
		t.Fatalf("err %v", err)
	}
	if _, err := Game24WrongAnswers(context.Background(), c, "no numbers here", nil, 3); err == nil {
		t.Fatal("want an error for a puzzle without numbers")
	}
	if got, err := Game24WrongAnswers(context.Background(), c, "4 9 10 13", nil, 0); err != nil || len(got) != 0 {
		t.Fatalf("n=0: %q %v", got, err)
	}
	// A client failure is reported with the puzzle.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"message":"model not loaded"}}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.APIKeyEnv, cfg.Timeout = srv.URL+"/v1", "m", "", time.Second
	bad, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Game24WrongAnswers(context.Background(), bad, "4 9 10 13", nil, 3); err == nil ||
		!strings.Contains(err.Error(), "model not loaded") || !strings.Contains(err.Error(), "[4 9 10 13]") {
		t.Fatalf("err %v", err)
	}
}

func TestReflect(t *testing.T) {
	f, c := newFakeLLM(t, canned("**Reflection:** I went to the coffeemachine with a dirty mug.\nNext time I will clean mug 1 with sinkbasin 1 first."))
	st := householdState()
	traj := dataset.Trajectory{Env: "household", TaskID: "household/3", Instruction: st.Instruction, Steps: []dataset.Step{
		{Action: "go to countertop 1", Observation: "On the countertop 1, you see a mug 1."},
		{Action: "take mug 1 from countertop 1", Observation: "You pick up the mug 1."},
		{Action: "go to coffeemachine 1", Observation: "On the coffeemachine 1, you see nothing."},
		{Action: "put mug 1 in/on coffeemachine 1", Observation: "You put the mug 1 in/on the coffeemachine 1."},
	}}
	ref, err := Reflect(context.Background(), c, st, traj, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Reflection{Text: "I went to the coffeemachine with a dirty mug. Next time I will clean mug 1 with sinkbasin 1 first.", Step: 2, Action: "go to coffeemachine 1"}
	if ref != want {
		t.Fatalf("got %+v, want %+v", ref, want)
	}
	r := f.requests()[0]
	u := r.user()
	for _, s := range []string{"step 3 (`go to coffeemachine 1`) the weakest", "4. > put mug 1 in/on coffeemachine 1", st.Instruction, "Attempt 1: I put the mug"} {
		if !strings.Contains(u, s) {
			t.Errorf("prompt lacks %q:\n%s", s, u)
		}
	}
	if *r.Temperature != 0 {
		t.Errorf("reflection sampled at temperature %v, want greedy", *r.Temperature)
	}

	// Unknown worst step, no state: the trajectory supplies env and instruction.
	ref, err = Reflect(context.Background(), c, nil, traj, -1)
	if err != nil || ref.Step != -1 || ref.Action != "" || ref.Text == "" {
		t.Fatalf("got %+v, %v", ref, err)
	}
	if u := f.requests()[1].user(); strings.Contains(u, "weakest") || !strings.Contains(u, "household text world") {
		t.Errorf("prompt:\n%s", u)
	}

	// The reflection reaches the next attempt's prompt.
	next := &agent.State{EnvName: "household", Instruction: st.Instruction, Observation: "You are in the middle of a room.", Reflections: []agent.Reflection{ref}}
	if m := New(c, Config{}).Messages(next); !strings.Contains(m[1].Content, "Attempt 1: I went to the coffeemachine with a dirty mug.") {
		t.Errorf("next prompt lacks the reflection:\n%s", m[1].Content)
	}
}

func TestCleanReflectionCapsLength(t *testing.T) {
	long := strings.Repeat("Go to the sinkbasin before the coffeemachine. ", 40)
	got := cleanReflection(long)
	if len(got) > maxReflectionChars || !strings.HasSuffix(got, ".") {
		t.Fatalf("len %d, ends %q", len(got), got[len(got)-10:])
	}
	if cleanReflection("```\n```") != "" {
		t.Fatal("fence-only reply should clean to empty")
	}
}

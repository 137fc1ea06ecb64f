package llmpolicy

import (
	"fmt"
	"strings"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/llm"
)

// style is how one environment is prompted.
type style struct {
	about    string // one line on what the environment is, reused by the synthesis prompts
	system   string
	examples []string // few-shot transcripts in the same "> action / observation" form as the task
	reply    string   // the closing request
	// useAdmissible: show the admissible list and snap actions onto it. Off for game24, whose env
	// lists every valid arithmetic step: snapping would repair the model's arithmetic slips, which
	// are exactly the mistakes the reward model has to learn to catch, and the list would turn
	// the puzzle into a multiple-choice question.
	useAdmissible bool
}

var styles = map[string]style{
	"game24": {
		about: "the Game of 24: combine four numbers with + - * / into 24, two numbers per step",
		system: "You solve the Game of 24. Each step picks two of the numbers left, combines them with " +
			"+, -, * or /, and lists the numbers left after it, written `a op b = c (left: ...)` with the " +
			"numbers left in ascending order. Fractions are written n/d, for example 8/3. When only 24 is " +
			"left, give the whole computation over the input numbers as `Answer: <expression> = 24`, " +
			"using every input number exactly once. Reply with one step or the answer, nothing else.",
		examples: []string{
			"Input: 1 2 3 4\nleft: 1 2 3 4\n> 1 + 2 = 3 (left: 3 3 4)\nleft: 3 3 4\n> 3 + 3 = 6 (left: 4 6)\n" +
				"left: 4 6\n> 4 * 6 = 24 (left: 24)\nleft: 24\n> Answer: (1 + 2 + 3) * 4 = 24\nAnswer recorded. The episode is over.",
			"Input: 5 5 9 11\nleft: 5 5 9 11\n> 11 - 5 = 6 (left: 5 6 9)\nleft: 5 6 9\n> 9 - 5 = 4 (left: 4 6)\n" +
				"left: 4 6\n> 4 * 6 = 24 (left: 24)\nleft: 24\n> Answer: (11 - 5) * (9 - 5) = 24\nAnswer recorded. The episode is over.",
		},
		reply: "Reply with the next step or the answer only.",
	},
	"shop": {
		about: "a web shop: the agent searches the catalog, opens products, picks options and buys",
		system: "You are shopping in a web store for the item the instruction describes. The actions are " +
			"search[query] on the search page and click[button] for any button shown in brackets: a " +
			"product id in the results, an option value such as a size or colour, buy now, next >, < prev, " +
			"back to search. Choose the options the instruction asks for before clicking buy now, and keep " +
			"to its price limit. Reply with exactly one action.",
		examples: []string{
			"Instruction: i need a pair of red running shoes for men in size 9, and price lower than 60.00 dollars\n" +
				"[Search]\n> search[red running shoes men size 9]\n" +
				"[Back to Search] Page 1 (Total results: 50) [Next >] [B0C4X1] Strider Men's Running Shoe $45.99 " +
				"[B0A2Z7] Trail Racer Running Shoe $72.00\n> click[b0c4x1]\n" +
				"[Back to Search] [< Prev] size [8] [9] [10] color [black] [red] Strider Men's Running Shoe Price: $45.99 [Buy Now]\n" +
				"> click[9]\nYou have clicked 9.\n> click[red]\nYou have clicked red.\n> click[buy now]\nThank you for shopping with us!",
			"Instruction: i want a lavender scented soy candle under 20.00 dollars\n" +
				"[Search]\n> search[lavender soy candle]\n" +
				"[Back to Search] Page 1 (Total results: 12) [Next >] [B07QK2] Citrus Beeswax Candle $14.50 " +
				"[B09LV8] Lavender Soy Wax Candle, 8 oz $17.99\n> click[b09lv8]\n" +
				"[Back to Search] [< Prev] size [8 oz] [16 oz] Lavender Soy Wax Candle Price: $17.99 [Buy Now]\n" +
				"> click[8 oz]\nYou have clicked 8 oz.\n> click[buy now]\nThank you for shopping with us!",
		},
		reply:         "Reply with the next action only, as search[...] or click[...].",
		useAdmissible: true,
	},
	"household": {
		about: "a household text world: the agent moves between receptacles and handles objects (ALFWorld)",
		system: "You are a household robot in a text world. Commands: go to RECEPTACLE, open R, close R, " +
			"take OBJECT from R, put OBJECT in/on R, clean O with sinkbasin, heat O with microwave, " +
			"cool O with fridge, use desklamp, examine X, look, inventory. Objects and receptacles are " +
			"named with their number, as in `apple 1` or `cabinet 3`. You can hold one object at a time. " +
			"Reply with exactly one command.",
		examples: []string{
			"Your task is to: put a clean mug in coffeemachine.\n" +
				"You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a coffeemachine 1, a countertop 1, and a sinkbasin 1.\n" +
				"> go to countertop 1\nOn the countertop 1, you see a knife 1, and a mug 1.\n" +
				"> take mug 1 from countertop 1\nYou pick up the mug 1 from the countertop 1.\n" +
				"> go to sinkbasin 1\nOn the sinkbasin 1, you see nothing.\n" +
				"> clean mug 1 with sinkbasin 1\nYou clean the mug 1 using the sinkbasin 1.\n" +
				"> go to coffeemachine 1\nOn the coffeemachine 1, you see nothing.\n" +
				"> put mug 1 in/on coffeemachine 1\nYou put the mug 1 in/on the coffeemachine 1.",
			"Your task is to: look at book under the desklamp.\n" +
				"You are in the middle of a room. Looking quickly around you, you see a bed 1, a desk 1, and a drawer 1.\n" +
				"> go to bed 1\nOn the bed 1, you see a book 1, and a pillow 1.\n" +
				"> take book 1 from bed 1\nYou pick up the book 1 from the bed 1.\n" +
				"> go to desk 1\nOn the desk 1, you see a desklamp 1, and a pen 1.\n" +
				"> use desklamp 1\nYou turn on the desklamp 1.",
		},
		reply:         "Reply with the next command only.",
		useAdmissible: true,
	},
}

// genericStyle serves envs without a prompt of their own (http adapters to WebShop, ALFWorld,
// ScienceWorld servers, ...): no examples, the admissible list when the server sends one.
var genericStyle = style{
	about: "a text environment: the agent acts by short text commands and reads observations",
	system: "You are an agent acting in a text environment to complete the task in the instruction. " +
		"Each turn you see the history of your actions (lines starting with >) and what the " +
		"environment answered. Reply with exactly one action, in the form the environment expects.",
	reply:         "Reply with the next action only.",
	useAdmissible: true,
}

func styleFor(env string) style {
	if s, ok := styles[env]; ok {
		return s
	}
	return genericStyle
}

// buildMessages is the whole prompt for one decision: a system message with the rules, and a
// user message with the examples, lessons from earlier attempts, the task so far, the admissible
// actions and the request. One user message rather than a replayed chat keeps the few-shot
// transcripts and the live one in the same form, which small served models follow best.
func (p *Policy) buildMessages(st *agent.State) []llm.Message {
	sty := styleFor(st.EnvName)
	var b strings.Builder
	if len(sty.examples) > 0 {
		b.WriteString("Examples of solved tasks:\n\n")
		for i, ex := range sty.examples {
			fmt.Fprintf(&b, "Example %d:\n%s\n\n", i+1, ex)
		}
	}
	writeReflections(&b, st.Reflections)
	b.WriteString("Now your task.\n")
	b.WriteString(strings.TrimSpace(st.Instruction))
	b.WriteString("\n")
	steps := st.Steps
	if len(steps) == 0 {
		b.WriteString(p.clip(st.Observation))
		b.WriteString("\n")
	} else {
		if k := len(steps) - p.cfg.MaxHistory; p.cfg.MaxHistory > 0 && k > 0 {
			fmt.Fprintf(&b, "(%d earlier steps not shown)\n", k)
			steps = steps[k:]
		}
		for _, s := range steps {
			fmt.Fprintf(&b, "> %s\n%s\n", s.Action, p.clip(s.Observation))
		}
		if last := st.Steps[len(st.Steps)-1].Observation; st.Observation != "" && st.Observation != last {
			fmt.Fprintf(&b, "Current observation: %s\n", p.clip(st.Observation))
		}
	}
	if sty.useAdmissible && len(st.Admissible) > 0 {
		b.WriteString("\nAdmissible actions now:\n")
		adm := st.Admissible
		if p.cfg.MaxAdmissible > 0 && len(adm) > p.cfg.MaxAdmissible {
			adm = adm[:p.cfg.MaxAdmissible]
		}
		for _, a := range adm {
			fmt.Fprintf(&b, "- %s\n", a)
		}
		if len(adm) < len(st.Admissible) {
			fmt.Fprintf(&b, "(and %d more)\n", len(st.Admissible)-len(adm))
		}
	}
	b.WriteString("\n")
	b.WriteString(sty.reply)
	return []llm.Message{llm.System(sty.system), llm.User(b.String())}
}

func writeReflections(b *strings.Builder, refl []agent.Reflection) {
	var lines []string
	for _, r := range refl {
		switch {
		case strings.TrimSpace(r.Text) != "":
			lines = append(lines, strings.TrimSpace(r.Text))
		case r.Action != "":
			lines = append(lines, fmt.Sprintf("At step %d the action %q led to a failed attempt; try something else there.", r.Step+1, r.Action))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("Lessons from your earlier failed attempts at this task (use them):\n")
	for i, l := range lines {
		fmt.Fprintf(b, "- Attempt %d: %s\n", i+1, l)
	}
	b.WriteString("\n")
}

// clip bounds an observation: WebShop result pages run to thousands of characters, and the
// prompt must fit a small model's context with the whole history.
func (p *Policy) clip(s string) string {
	return clipText(strings.TrimSpace(s), p.cfg.MaxObservationChars)
}

func clipText(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + " ...[truncated]"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// transcript writes a trajectory as numbered "> action / observation" lines for the synthesis and
// reflection prompts.
func transcript(steps []dataset.Step, maxObs int) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%d. > %s\n   %s\n", i+1, s.Action, clipText(strings.TrimSpace(s.Observation), maxObs))
	}
	return b.String()
}

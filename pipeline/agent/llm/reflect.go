package llmpolicy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/llm"
)

// maxReflectionChars keeps a reflection short: it is repeated in every later prompt of the task.
const maxReflectionChars = 600

var reflectionPrefixRE = regexp.MustCompile(`(?i)^(?:\*\*)?(?:reflection|lesson|plan)(?:\*\*)?\s*:\s*(?:\*\*)?`)

// Reflect asks the model for a short lesson from a failed attempt (Reflexion). st gives the env,
// the instruction and the lessons of earlier attempts; traj is the failed attempt; worstStep is
// the 0-based step the reward model scored worst (-1 when unknown), which the prompt points at.
// The returned Reflection carries the text and, when worstStep is a step of traj, that step and
// its action, so that scripted policies can use the same value.
func Reflect(ctx context.Context, client Chatter, st *agent.State, traj dataset.Trajectory, worstStep int) (agent.Reflection, error) {
	envName, instr := traj.Env, traj.Instruction
	var earlier []agent.Reflection
	if st != nil {
		if st.EnvName != "" {
			envName = st.EnvName
		}
		if st.Instruction != "" {
			instr = st.Instruction
		}
		earlier = st.Reflections
	}
	if len(traj.Steps) == 0 {
		return agent.Reflection{}, errors.New("reflect: the attempt has no steps")
	}
	sty := styleFor(envName)
	var b strings.Builder
	fmt.Fprintf(&b, "You acted in %s and did not complete the task.\n\nTask: %s\n\nYour attempt:\n%s",
		sty.about, strings.TrimSpace(instr), transcript(traj.Steps, synthesisObsChars))
	ref := agent.Reflection{Step: -1}
	if worstStep >= 0 && worstStep < len(traj.Steps) {
		ref.Step, ref.Action = worstStep, traj.Steps[worstStep].Action
		fmt.Fprintf(&b, "\nA grader judged step %d (`%s`) the weakest.\n", worstStep+1, ref.Action)
	}
	writeReflections(&b, earlier)
	b.WriteString("\nIn two or three sentences, say what went wrong and what to do differently in the next " +
		"attempt. Be concrete: name the actions to avoid or to take. Reply with the reflection only.")
	msgs := []llm.Message{
		llm.System("You review failed attempts of an agent and write short, concrete lessons for its next attempt."),
		llm.User(b.String()),
	}
	// Greedy: the same failure should give the same lesson, so Reflexion runs repeat.
	outs, _, err := client.Chat(ctx, msgs, llm.Options{N: 1, Greedy: true, MaxTokens: 200})
	if err != nil {
		return agent.Reflection{}, fmt.Errorf("reflect (%s, task %s): %w", envName, traj.TaskID, err)
	}
	text := cleanReflection(outs[0])
	if text == "" {
		return agent.Reflection{}, fmt.Errorf("reflect (%s, task %s): empty reply %q", envName, traj.TaskID, clipText(outs[0], 200))
	}
	ref.Text = text
	return ref, nil
}

// cleanReflection drops fences, a "Reflection:" label and line breaks, and cuts an over-long
// reply at a sentence end.
func cleanReflection(s string) string {
	var parts []string
	for _, ln := range strings.Split(s, "\n") {
		t := strings.TrimSpace(ln)
		if t == "" || strings.HasPrefix(t, "```") {
			continue
		}
		parts = append(parts, t)
	}
	text := strings.TrimSpace(reflectionPrefixRE.ReplaceAllString(strings.Join(parts, " "), ""))
	text = unquote(text)
	if len(text) <= maxReflectionChars {
		return text
	}
	cut := text[:maxReflectionChars]
	if i := strings.LastIndexAny(cut, ".!?"); i > maxReflectionChars/3 {
		return cut[:i+1]
	}
	return clipText(text, maxReflectionChars)
}

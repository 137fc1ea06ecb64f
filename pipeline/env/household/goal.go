package household

import (
	"fmt"
	"regexp"
	"strings"
)

// TaskType is one of ALFWorld's task families.
type TaskType int

const (
	PickAndPlace TaskType = iota
	PickCleanThenPlace
	PickHeatThenPlace
	PickCoolThenPlace
	LookAtObjInLight
	PickTwoObjAndPlace
	numTaskTypes
)

// AllTaskTypes lists the task families in the order task numbers cycle through them.
var AllTaskTypes = []TaskType{PickAndPlace, PickCleanThenPlace, PickHeatThenPlace, PickCoolThenPlace, LookAtObjInLight, PickTwoObjAndPlace}

var taskTypeNames = [...]string{
	PickAndPlace:       "pick_and_place_simple",
	PickCleanThenPlace: "pick_clean_then_place_in_recep",
	PickHeatThenPlace:  "pick_heat_then_place_in_recep",
	PickCoolThenPlace:  "pick_cool_then_place_in_recep",
	LookAtObjInLight:   "look_at_obj_in_light",
	PickTwoObjAndPlace: "pick_two_obj_and_place",
}

// String gives ALFWorld's name of the task family.
func (t TaskType) String() string {
	if t < 0 || t >= numTaskTypes {
		return fmt.Sprintf("TaskType(%d)", int(t))
	}
	return taskTypeNames[t]
}

var taskTypeAliases = map[string]TaskType{
	"pick_and_place":        PickAndPlace,
	"pick_clean_then_place": PickCleanThenPlace,
	"pick_heat_then_place":  PickHeatThenPlace,
	"pick_cool_then_place":  PickCoolThenPlace,
	"look_at_obj":           LookAtObjInLight,
	"pick_two_obj":          PickTwoObjAndPlace,
}

// ParseTaskType accepts ALFWorld's family names and the short forms of taskTypeAliases.
func ParseTaskType(s string) (TaskType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for t, n := range taskTypeNames {
		if s == n {
			return TaskType(t), nil
		}
	}
	if t, ok := taskTypeAliases[s]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("household: unknown task type %q", s)
}

// Goal is what a task asks for. Object and Target are classes ("apple", "diningtable"): any
// instance counts, as in ALFWorld.
type Goal struct {
	Type   TaskType
	Object string
	Target string // receptacle class; empty for LookAtObjInLight
	Count  int    // objects needed in one Target receptacle (2 for PickTwoObjAndPlace, else 1)
}

// Process is the treatment the object needs before placing: "clean", "heat", "cool" or "".
func (g Goal) Process() string {
	switch g.Type {
	case PickCleanThenPlace:
		return "clean"
	case PickHeatThenPlace:
		return "heat"
	case PickCoolThenPlace:
		return "cool"
	}
	return ""
}

// Appliance is the receptacle class that performs Process.
func (g Goal) Appliance() string {
	switch g.Type {
	case PickCleanThenPlace:
		return "sinkbasin"
	case PickHeatThenPlace:
		return "microwave"
	case PickCoolThenPlace:
		return "fridge"
	case LookAtObjInLight:
		return lampClass
	}
	return ""
}

// The two phrasings per family are ALFWorld's goal templates; {p} is "in" or "on" as suits the
// target.
var templates = [numTaskTypes][2]string{
	PickAndPlace:       {"put a {o} {p} {r}.", "put some {o} {p} {r}."},
	PickCleanThenPlace: {"put a clean {o} {p} {r}.", "clean some {o} and put it {p} {r}."},
	PickHeatThenPlace:  {"put a hot {o} {p} {r}.", "heat some {o} and put it {p} {r}."},
	PickCoolThenPlace:  {"put a cool {o} {p} {r}.", "cool some {o} and put it {p} {r}."},
	LookAtObjInLight:   {"look at {o} under the desklamp.", "examine the {o} with the desklamp."},
	PickTwoObjAndPlace: {"put two {o} {p} {r}.", "find two {o} and put them {p} {r}."},
}

// Instruction writes the goal with template variant v (0 or 1).
func (g Goal) Instruction(v int) string {
	t := templates[g.Type][v&1]
	p := "in"
	if k, ok := recepKinds[g.Target]; ok {
		p = k.prep
	}
	return strings.NewReplacer("{o}", g.Object, "{p}", p, "{r}", g.Target).Replace(t)
}

var goalPatterns = []struct {
	re *regexp.Regexp
	t  TaskType
}{
	{regexp.MustCompile(`^put a clean (\w+) (?:in|on) (\w+)$`), PickCleanThenPlace},
	{regexp.MustCompile(`^clean some (\w+) and put it (?:in|on) (\w+)$`), PickCleanThenPlace},
	{regexp.MustCompile(`^put a hot (\w+) (?:in|on) (\w+)$`), PickHeatThenPlace},
	{regexp.MustCompile(`^heat some (\w+) and put it (?:in|on) (\w+)$`), PickHeatThenPlace},
	{regexp.MustCompile(`^put a cool (\w+) (?:in|on) (\w+)$`), PickCoolThenPlace},
	{regexp.MustCompile(`^cool some (\w+) and put it (?:in|on) (\w+)$`), PickCoolThenPlace},
	{regexp.MustCompile(`^look at (\w+) under the desklamp$`), LookAtObjInLight},
	{regexp.MustCompile(`^examine the (\w+) with the desklamp$`), LookAtObjInLight},
	{regexp.MustCompile(`^put two (\w+) (?:in|on) (\w+)$`), PickTwoObjAndPlace},
	{regexp.MustCompile(`^find two (\w+) and put them (?:in|on) (\w+)$`), PickTwoObjAndPlace},
	{regexp.MustCompile(`^put (?:a|some) (\w+) (?:in|on) (\w+)$`), PickAndPlace},
}

// ParseGoal reads an instruction written by Instruction (optionally prefixed by ALFWorld's
// "Your task is to: "), so policies that see only text can recover the goal.
func ParseGoal(instruction string) (Goal, bool) {
	s := strings.ToLower(strings.TrimSpace(instruction))
	s = strings.TrimPrefix(s, "your task is to:")
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	for _, p := range goalPatterns {
		m := p.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		g := Goal{Type: p.t, Object: m[1], Count: 1}
		if len(m) > 2 {
			g.Target = m[2]
		}
		if p.t == PickTwoObjAndPlace {
			g.Count = 2
		}
		return g, true
	}
	return Goal{}, false
}

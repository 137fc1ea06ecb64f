package household

import "slices"

// The vocabulary below follows ALFWorld's (ALFRED's) object and receptacle classes, lower-cased
// and without spaces as ALFWorld writes them ("sinkbasin", "butterknife"). Which object turns up
// on which receptacle is a plausibility table written for this generator, not ALFRED's data.

// recepKind describes a receptacle class.
type recepKind struct {
	openable bool   // must be opened before its contents are seen, taken or added to
	prep     string // "in" for containers, "on" for surfaces: used in instructions
}

var recepKinds = map[string]recepKind{
	"armchair":          {prep: "on"},
	"bathtubbasin":      {prep: "in"},
	"bed":               {prep: "on"},
	"cabinet":           {openable: true, prep: "in"},
	"coffeemachine":     {prep: "on"},
	"coffeetable":       {prep: "on"},
	"countertop":        {prep: "on"},
	"desk":              {prep: "on"},
	"diningtable":       {prep: "on"},
	"drawer":            {openable: true, prep: "in"},
	"dresser":           {prep: "on"},
	"fridge":            {openable: true, prep: "in"},
	"garbagecan":        {prep: "in"},
	"handtowelholder":   {prep: "on"},
	"laundryhamper":     {prep: "in"},
	"microwave":         {openable: true, prep: "in"},
	"safe":              {openable: true, prep: "in"},
	"shelf":             {prep: "on"},
	"sidetable":         {prep: "on"},
	"sinkbasin":         {prep: "in"},
	"sofa":              {prep: "on"},
	"stoveburner":       {prep: "on"},
	"toaster":           {prep: "in"},
	"toilet":            {prep: "on"},
	"toiletpaperhanger": {prep: "on"},
	"towelholder":       {prep: "on"},
	"tvstand":           {prep: "on"},
}

// recepSpec is how many receptacles of a class a room gets (inclusive range).
type recepSpec struct {
	kind     string
	min, max int
}

// roomSpec is one scene template. Objects maps an object class to the receptacle classes it may
// start on; classes absent from the generated room are simply not used.
type roomSpec struct {
	name    string
	receps  []recepSpec
	objects map[string][]string
	// lampOn lists the receptacle classes a desk lamp may stand on; empty: the room has no lamp.
	lampOn []string
}

var (
	foodPlaces   = []string{"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"}
	dishPlaces   = []string{"countertop", "diningtable", "cabinet", "shelf", "sinkbasin", "microwave", "fridge"}
	cutlery      = []string{"countertop", "diningtable", "drawer", "sinkbasin"}
	potPlaces    = []string{"stoveburner", "countertop", "cabinet", "sinkbasin", "diningtable"}
	pantryPlaces = []string{"countertop", "diningtable", "cabinet", "shelf", "drawer"}
)

var rooms = []roomSpec{
	{
		name: "kitchen",
		receps: []recepSpec{
			{"cabinet", 2, 6}, {"coffeemachine", 1, 1}, {"countertop", 1, 3}, {"diningtable", 0, 1},
			{"drawer", 1, 4}, {"fridge", 1, 1}, {"garbagecan", 1, 1}, {"microwave", 1, 1},
			{"shelf", 0, 2}, {"sinkbasin", 1, 1}, {"stoveburner", 2, 4}, {"toaster", 1, 1},
		},
		objects: map[string][]string{
			"apple":        foodPlaces,
			"bread":        {"countertop", "diningtable", "fridge", "microwave", "toaster"},
			"egg":          foodPlaces,
			"lettuce":      {"countertop", "diningtable", "fridge", "sinkbasin", "garbagecan"},
			"potato":       foodPlaces,
			"tomato":       foodPlaces,
			"mug":          append([]string{"coffeemachine"}, dishPlaces...),
			"cup":          dishPlaces,
			"bowl":         dishPlaces,
			"plate":        dishPlaces,
			"butterknife":  cutlery,
			"fork":         cutlery,
			"knife":        cutlery,
			"spatula":      cutlery,
			"spoon":        cutlery,
			"ladle":        cutlery,
			"pan":          potPlaces,
			"pot":          potPlaces,
			"kettle":       potPlaces,
			"peppershaker": pantryPlaces,
			"saltshaker":   pantryPlaces,
			"soapbottle":   {"countertop", "cabinet", "shelf", "sinkbasin"},
			"dishsponge":   {"countertop", "sinkbasin", "cabinet", "drawer"},
			"winebottle":   {"countertop", "diningtable", "fridge", "cabinet", "shelf"},
		},
	},
	{
		name: "bathroom",
		receps: []recepSpec{
			{"bathtubbasin", 0, 1}, {"cabinet", 1, 4}, {"countertop", 1, 1}, {"drawer", 0, 4},
			{"garbagecan", 1, 1}, {"handtowelholder", 0, 1}, {"shelf", 0, 2}, {"sinkbasin", 1, 2},
			{"toilet", 1, 1}, {"toiletpaperhanger", 1, 1}, {"towelholder", 1, 1},
		},
		objects: map[string][]string{
			"cloth":       {"countertop", "cabinet", "drawer", "bathtubbasin", "sinkbasin", "toilet"},
			"soapbar":     {"countertop", "sinkbasin", "bathtubbasin", "toilet", "cabinet"},
			"soapbottle":  {"countertop", "cabinet", "toilet", "shelf"},
			"spraybottle": {"countertop", "cabinet", "toilet", "shelf", "garbagecan"},
			"toiletpaper": {"toiletpaperhanger", "countertop", "cabinet", "toilet", "drawer"},
			"candle":      {"countertop", "cabinet", "toilet", "shelf", "drawer"},
			"handtowel":   {"handtowelholder", "countertop"},
			"towel":       {"towelholder", "countertop"},
			"dishsponge":  {"countertop", "cabinet", "drawer", "toilet"},
			"tissuebox":   {"countertop", "toilet", "shelf"},
		},
	},
	{
		name: "bedroom",
		receps: []recepSpec{
			{"bed", 1, 1}, {"desk", 0, 1}, {"drawer", 2, 6}, {"dresser", 0, 1}, {"garbagecan", 1, 1},
			{"laundryhamper", 0, 1}, {"safe", 0, 1}, {"shelf", 0, 4}, {"sidetable", 1, 2},
		},
		objects: map[string][]string{
			"alarmclock": {"desk", "sidetable", "dresser", "shelf"},
			"book":       {"bed", "desk", "sidetable", "shelf", "drawer"},
			"cd":         {"desk", "drawer", "shelf", "sidetable", "safe", "garbagecan"},
			"cellphone":  {"bed", "desk", "sidetable", "dresser", "drawer"},
			"creditcard": {"desk", "dresser", "drawer", "shelf", "sidetable"},
			"keychain":   {"desk", "dresser", "drawer", "shelf", "safe", "sidetable"},
			"laptop":     {"bed", "desk"},
			"pen":        {"desk", "drawer", "shelf", "sidetable"},
			"pencil":     {"desk", "drawer", "shelf", "sidetable"},
			"pillow":     {"bed"},
			"mug":        {"desk", "shelf", "sidetable"},
			"bowl":       {"desk", "shelf", "dresser"},
			"cloth":      {"laundryhamper", "drawer", "bed"},
		},
		lampOn: []string{"desk", "sidetable", "dresser"},
	},
	{
		name: "livingroom",
		receps: []recepSpec{
			{"armchair", 0, 1}, {"cabinet", 0, 3}, {"coffeetable", 1, 1}, {"diningtable", 0, 1},
			{"drawer", 1, 3}, {"dresser", 0, 1}, {"garbagecan", 1, 1}, {"shelf", 0, 3},
			{"sidetable", 1, 2}, {"sofa", 1, 1}, {"tvstand", 0, 1},
		},
		objects: map[string][]string{
			"box":           {"coffeetable", "sofa", "sidetable", "diningtable", "tvstand", "dresser", "armchair"},
			"creditcard":    {"coffeetable", "sidetable", "dresser", "drawer", "sofa", "armchair"},
			"keychain":      {"coffeetable", "sidetable", "dresser", "drawer", "shelf"},
			"laptop":        {"sofa", "coffeetable", "diningtable", "armchair"},
			"newspaper":     {"sofa", "coffeetable", "sidetable", "armchair", "diningtable", "dresser"},
			"pillow":        {"sofa", "armchair"},
			"remotecontrol": {"sofa", "coffeetable", "sidetable", "tvstand", "armchair", "dresser"},
			"statue":        {"shelf", "coffeetable", "sidetable", "diningtable", "tvstand", "dresser", "cabinet"},
			"vase":          {"shelf", "coffeetable", "sidetable", "diningtable", "tvstand", "dresser", "cabinet"},
			"watch":         {"coffeetable", "sidetable", "dresser", "drawer", "shelf"},
			"tissuebox":     {"coffeetable", "sidetable", "dresser", "tvstand"},
		},
		lampOn: []string{"sidetable", "dresser"},
	},
}

// Object classes each task type may ask for (the processing must make sense for the object).
var (
	heatable  = set("apple", "bread", "egg", "potato", "tomato", "mug", "cup", "plate")
	coolable  = set("apple", "bread", "egg", "lettuce", "potato", "tomato", "mug", "cup", "pan", "pot", "plate", "bowl", "winebottle")
	cleanable = set("apple", "bowl", "butterknife", "cup", "egg", "fork", "knife", "ladle", "lettuce", "mug", "pan", "plate",
		"pot", "potato", "spatula", "spoon", "tomato", "dishsponge", "kettle", "cloth", "soapbar")
	lookable = set("alarmclock", "book", "cd", "cellphone", "creditcard", "keychain", "laptop", "pen", "pencil", "pillow",
		"mug", "bowl", "box", "newspaper", "remotecontrol", "statue", "vase", "watch", "tissuebox")
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// lampClass is the one light source type; ALFWorld also has floor lamps, which add nothing here.
const lampClass = "desklamp"

// CommonPlaces lists the receptacle classes where objects of class obj may start in some room, in
// a fixed order: the common-sense prior a searching agent has ("apples are in the fridge or on a
// countertop"). It is nil for an unknown class.
func CommonPlaces(obj string) []string {
	var out []string
	for _, rs := range rooms {
		for _, c := range rs.objects[obj] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	if obj == lampClass {
		for _, rs := range rooms {
			for _, c := range rs.lampOn {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}
